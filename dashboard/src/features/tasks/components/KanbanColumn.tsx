// One status column: its own paged query, rendered through a virtualiser so a column of
// thousands of tasks keeps only the visible cards in the DOM. Cards differ in height (a
// title wraps to three lines, facts wrap), so rows are measured after render.
import { useEffect, useRef } from 'react';
import { useDraggable, useDroppable } from '@dnd-kit/core';
import { useVirtualizer } from '@tanstack/react-virtual';
import { ErrorMessage } from '@/components/ErrorMessage';
import { statusLabel } from '@/lib/format';
import type { TaskFilters } from '@/lib/query-keys';
import type { Task, TaskStatus } from '@/lib/types';
import { useTasks } from '../api/get-tasks';
import { TaskCard } from './TaskCard';
import { moveAction } from './task-moves';

const CARD_ESTIMATE = 104;
const CARD_GAP = 8;

function DraggableCard({ task }: { task: Task }) {
  const { setNodeRef, listeners, attributes, isDragging } = useDraggable({ id: task.id, data: { task } });
  return <TaskCard task={task} drag={{ ref: setNodeRef, listeners, describedBy: attributes['aria-describedby'], dragging: isDragging }} />;
}

interface Props {
  status: TaskStatus;
  filters: TaskFilters;
  /** While a card is dragged: the status it comes from, to show whether it may land here. */
  dragFrom: TaskStatus | null;
}

export function KanbanColumn({ status, filters, dragFrom }: Props) {
  const query = useTasks({ ...filters, status });
  const tasks = query.data?.pages.flatMap((p) => p.items) ?? [];
  const total = query.data?.pages[0]?.total ?? 0;
  const scroller = useRef<HTMLDivElement>(null);
  const { setNodeRef: dropRef, isOver } = useDroppable({ id: `column-${status}`, data: { status } });
  // eslint-disable-next-line react-hooks/incompatible-library -- the virtualiser is meant to be used this way.
  const virtualizer = useVirtualizer({
    count: tasks.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => CARD_ESTIMATE,
    gap: CARD_GAP,
    overscan: 6,
    getItemKey: (i) => tasks[i]?.id ?? i,
    initialRect: { width: 280, height: 600 },
  });
  const items = virtualizer.getVirtualItems();
  const lastIndex = items.at(-1)?.index ?? -1;
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = query;

  useEffect(() => {
    if (hasNextPage && !isFetchingNextPage && lastIndex >= tasks.length - 10) void fetchNextPage();
  }, [lastIndex, tasks.length, hasNextPage, isFetchingNextPage, fetchNextPage]);

  const drop = dragFrom === null ? undefined : dragFrom === status ? 'origin' : moveAction(dragFrom, status) ? 'allowed' : 'refused';
  const headingId = `col-${status}`;
  return (
    <section ref={dropRef} className="kanban-column" aria-labelledby={headingId} data-status={status} data-drop={drop} data-over={isOver || undefined}>
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
              <li key={v.key} data-index={v.index} ref={virtualizer.measureElement} style={{ position: 'absolute', top: 0, left: 0, right: 0, transform: `translateY(${v.start}px)` }}>
                <DraggableCard task={task} />
              </li>
            );
          })}
        </ul>
        {query.isSuccess && tasks.length === 0 ? <p className="muted empty">No tasks</p> : null}
      </div>
    </section>
  );
}
