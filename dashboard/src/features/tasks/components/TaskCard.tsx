// One card on the board. Nothing on it is cut off: the title wraps to three lines (the
// whole title is on hover), and the facts below it wrap instead of being truncated.
import type { ReactNode, Ref } from 'react';
import type { DraggableSyntheticListeners } from '@dnd-kit/core';
import { Link } from 'react-router';
import { formatRelative } from '@/lib/format';
import type { Task } from '@/lib/types';
import { useNow } from '@/lib/use-now';
import { useTasksByIds } from '../api/get-task';

/** What the board hands a card to make it draggable (dnd-kit's useDraggable). */
export interface CardDrag {
  ref: Ref<HTMLAnchorElement>;
  listeners: DraggableSyntheticListeners;
  /** dnd-kit's hidden "how to drag with the keyboard" text. */
  describedBy: string;
  dragging: boolean;
}

/** Display ids of the dependencies that are not completed yet; unknown ones are left out until loaded. */
function useWaitingOn(task: Task): string[] {
  const deps = useTasksByIds(task.depends_on);
  return deps.flatMap((d) => (d.data && d.data.status !== 'completed' ? [d.data.display_id] : []));
}

/**
 * What a completed task did: the commit it landed (short, the full one on hover) or no
 * changes; while verifying, that its verified work waits to land (the reason on hover); in
 * review, that it waits for a person (the branch and commit on hover).
 */
function OutcomeFact({ outcome }: { outcome: Task['outcome'] }) {
  // Tasks completed before outcomes were recorded have none; they show nothing extra.
  if (!outcome) return null;
  switch (outcome.kind) {
    case 'no_changes':
      return <span className="task-card-outcome" data-outcome="no_changes">no changes</span>;
    case 'waiting_to_land':
      return <span className="task-card-flag" data-flag="waiting-to-land" title={outcome.reason}>waiting to land</span>;
    case 'in_review':
      return <span className="task-card-flag" data-flag="in-review" title={`${outcome.branch} at ${outcome.commit}`}>waiting for review</span>;
    case 'landed':
      return (
        <span className="task-card-outcome" data-outcome="landed" title={outcome.commit}>
          landed <span className="mono">{outcome.commit.slice(0, 7)}</span>
        </span>
      );
  }
}

/** `overlay`: the copy that follows the pointer while dragging; not a link, hidden from screen readers. */
export function TaskCard({ task, drag, overlay = false }: { task: Task; drag?: CardDrag; overlay?: boolean }) {
  const waitingOn = useWaitingOn(task);
  const backoff = task.status === 'pending' && task.retry_at ? task.retry_at : null;
  const now = useNow(1000, backoff !== null);
  const metaId = `task-card-meta-${task.id}`;
  const body: ReactNode = (
    <>
      <span className="task-card-top">
        <span className="mono muted">{task.display_id}</span>
        <span className="prio" data-priority={task.priority}>{task.priority}</span>
      </span>
      <span className="task-card-title" title={task.title}>{task.title}</span>
      <span className="task-card-meta muted" id={overlay ? undefined : metaId}>
        <span>{task.category}</span>
        {task.assigned_agent ? <span>{task.assigned_agent}</span> : null}
        {task.attempts > 0 ? <span>attempt {task.attempts}/{task.max_attempts}</span> : null}
        {waitingOn.length ? <span className="task-card-flag" data-flag="waiting">waiting on {waitingOn.join(', ')}</span> : null}
        {backoff ? (
          <span className="task-card-flag" data-flag="retry" title={new Date(backoff).toLocaleString()}>
            {Date.parse(backoff) > now ? `retries ${formatRelative(backoff, now)}` : 'retry due now'}
          </span>
        ) : null}
        {task.question && !task.answer ? <span className="task-card-flag" data-flag="question">needs answer</span> : null}
        <OutcomeFact outcome={task.outcome} />
      </span>
    </>
  );
  if (overlay) {
    return (
      <div className="task-card task-card-overlay" aria-hidden="true">
        {body}
      </div>
    );
  }
  return (
    <Link
      to={`/tasks/${task.id}`}
      className="task-card"
      aria-label={`${task.display_id} ${task.title}`}
      aria-describedby={drag ? `${metaId} ${drag.describedBy}` : metaId}
      data-dragging={drag?.dragging || undefined}
      // A link is natively draggable by the browser; dnd-kit moves the card instead.
      draggable={false}
      ref={drag?.ref}
      {...drag?.listeners}
    >
      {body}
    </Link>
  );
}
