// One status column: its own paged query, rendered through a virtualiser so a column of
// thousands of tasks keeps only the visible cards in the DOM.
import { useEffect, useRef } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { ErrorMessage } from '../../../components/ErrorMessage';
import { statusLabel } from '../../../lib/format';
import type { TaskFilters } from '../../../lib/query-keys';
import type { TaskStatus } from '../../../lib/types';
import { useTasks } from '../api/get-tasks';
import { TaskCard } from './TaskCard';

const CARD_HEIGHT = 92;

export function KanbanColumn({ status, filters }: { status: TaskStatus; filters: TaskFilters }) {
  const query = useTasks({ ...filters, status });
  const tasks = query.data?.pages.flatMap((p) => p.items) ?? [];
  const total = query.data?.pages[0]?.total ?? 0;
  const scroller = useRef<HTMLDivElement>(null);
  // eslint-disable-next-line react-hooks/incompatible-library -- the virtualiser is meant to be used this way.
  const virtualizer = useVirtualizer({
    count: tasks.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => CARD_HEIGHT,
    overscan: 6,
    initialRect: { width: 280, height: 600 },
  });
  const items = virtualizer.getVirtualItems();
  const lastIndex = items.at(-1)?.index ?? -1;
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = query;

  useEffect(() => {
    if (hasNextPage && !isFetchingNextPage && lastIndex >= tasks.length - 10) void fetchNextPage();
  }, [lastIndex, tasks.length, hasNextPage, isFetchingNextPage, fetchNextPage]);

  const headingId = `col-${status}`;
  return (
    <section className="kanban-column" aria-labelledby={headingId} data-status={status}>
      <h2 id={headingId}>
        {statusLabel(status)} <span className="count">{query.isSuccess ? total : '…'}</span>
      </h2>
      <ErrorMessage error={query.error} />
      <div ref={scroller} className="kanban-scroll" tabIndex={-1}>
        <ul role="list" aria-label={`${statusLabel(status)} tasks`} style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {items.map((v) => {
            const task = tasks[v.index];
            if (!task) return null;
            return (
              <li key={task.id} style={{ position: 'absolute', top: 0, left: 0, right: 0, transform: `translateY(${v.start}px)`, height: CARD_HEIGHT }}>
                <TaskCard task={task} />
              </li>
            );
          })}
        </ul>
        {query.isSuccess && tasks.length === 0 ? <p className="muted empty">No tasks</p> : null}
      </div>
    </section>
  );
}
