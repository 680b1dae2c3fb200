// The board: one column per status. A card can be dragged (mouse, touch or keyboard) to
// another column when a person may make that move (see task-moves.ts); the drop calls the
// same API as the task page's buttons. Any other drop is refused with the reason, and the
// card goes back where it was.
import { useState } from 'react';
import {
  DndContext,
  DragOverlay,
  KeyboardSensor,
  MouseSensor,
  pointerWithin,
  rectIntersection,
  TouchSensor,
  useSensor,
  useSensors,
  type Announcements,
  type CollisionDetection,
  type DragEndEvent,
  type DragOverEvent,
  type DragStartEvent,
  type KeyboardCoordinateGetter,
} from '@dnd-kit/core';
import { ConfirmDialog } from '@/components/ConfirmDialog';
import { ErrorMessage } from '@/components/ErrorMessage';
import { statusLabel } from '@/lib/format';
import type { TaskFilters } from '@/lib/query-keys';
import { TASK_STATUSES, type Task, type TaskStatus } from '@/lib/types';
import { useTaskAction, type TaskAction } from '../api/transition-task';
import { KanbanColumn } from './KanbanColumn';
import { TaskCard } from './TaskCard';
import { ACTION_LABEL, moveAction, refusalReason } from './task-moves';

/** The task a draggable card carries, and the status a column stands for. */
export interface CardData { task: Task }
export interface ColumnData { status: TaskStatus }

const taskOf = (data: unknown) => (data as CardData | undefined)?.task;
const statusOf = (data: unknown) => (data as ColumnData | undefined)?.status;

// The pointer's column when there is a pointer; the most-overlapped column for the keyboard.
const collision: CollisionDetection = (args) => {
  const hits = pointerWithin(args);
  return hits.length ? hits : rectIntersection(args);
};

/** Left and right arrows jump to the next column (centred on it); up and down do nothing. */
const columnCoordinates: KeyboardCoordinateGetter = (event, { currentCoordinates, context }) => {
  if (event.code !== 'ArrowRight' && event.code !== 'ArrowLeft') return undefined;
  const card = context.collisionRect ?? context.activeNode?.getBoundingClientRect();
  if (!card) return undefined;
  const centre = card.left + card.width / 2;
  // Read from the columns themselves: the measured rects may not exist yet right after pick-up.
  const columns = context.droppableContainers
    .getEnabled()
    .flatMap((c) => (c.node.current ? [c.node.current.getBoundingClientRect()] : []))
    .sort((a, b) => a.left - b.left);
  const next =
    event.code === 'ArrowRight'
      ? columns.find((c) => c.left + c.width / 2 > centre + 4)
      : columns.filter((c) => c.left + c.width / 2 < centre - 4).at(-1);
  if (!next) return undefined;
  event.preventDefault();
  return { x: currentCoordinates.x + (next.left + next.width / 2 - centre), y: currentCoordinates.y };
};

const instructions = {
  draggable:
    'To move this task to another column, press Space, choose the column with the left and right arrow keys, and press Space again to drop it, or Escape to leave it where it was. Enter opens the task.',
};

function verdict(task: Task, to: TaskStatus | undefined): string {
  if (!to || to === task.status) return `${task.display_id} stays in ${statusLabel(task.status)}.`;
  const action = moveAction(task.status, to);
  return action
    ? `${task.display_id} over ${statusLabel(to)}: dropping it here has it ${ACTION_LABEL[action]}.`
    : `${task.display_id} cannot move to ${statusLabel(to)}: ${refusalReason(task.status, to)}.`;
}

const announcements: Announcements = {
  onDragStart: ({ active }) => `Picked up ${taskOf(active.data.current)?.display_id ?? 'the task'}.`,
  onDragOver: ({ active, over }) => {
    const task = taskOf(active.data.current);
    return task ? verdict(task, statusOf(over?.data.current)) : undefined;
  },
  onDragEnd: ({ active, over }) => {
    const task = taskOf(active.data.current);
    return task ? `Dropped. ${verdict(task, statusOf(over?.data.current))}` : undefined;
  },
  onDragCancel: ({ active }) => `${taskOf(active.data.current)?.display_id ?? 'The task'} was not moved.`,
};

export function KanbanBoard({ filters }: { filters: TaskFilters }) {
  const [dragged, setDragged] = useState<Task | null>(null);
  const [overAllowed, setOverAllowed] = useState(false);
  const [refusal, setRefusal] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState<Task | null>(null);
  const [moved, setMoved] = useState<Task | null>(null);
  const move = useTaskAction();
  const sensors = useSensors(
    // A click (no movement) still opens the task.
    useSensor(MouseSensor, { activationConstraint: { distance: 6 } }),
    // On a touch screen a swipe scrolls; press and hold picks the card up.
    useSensor(TouchSensor, { activationConstraint: { delay: 250, tolerance: 8 } }),
    // Space picks up and drops; Enter keeps following the link.
    useSensor(KeyboardSensor, { keyboardCodes: { start: ['Space'], cancel: ['Escape'], end: ['Space', 'Enter'] }, coordinateGetter: columnCoordinates }),
  );

  const run = (task: Task, action: TaskAction) => {
    setMoved(task);
    move.mutate({ id: task.id, action });
  };

  const onDragStart = ({ active }: DragStartEvent) => {
    setDragged(taskOf(active.data.current) ?? null);
    setOverAllowed(false);
    setRefusal(null);
    move.reset();
  };
  const onDragOver = ({ active, over }: DragOverEvent) => {
    const task = taskOf(active.data.current);
    const to = statusOf(over?.data.current);
    setOverAllowed(!!task && !!to && moveAction(task.status, to) !== null);
  };
  const onDragEnd = ({ active, over }: DragEndEvent) => {
    setDragged(null);
    const task = taskOf(active.data.current);
    const to = statusOf(over?.data.current);
    if (!task || !to || to === task.status) return;
    const action = moveAction(task.status, to);
    if (!action) setRefusal(`${task.display_id} cannot move from ${statusLabel(task.status)} to ${statusLabel(to)}: ${refusalReason(task.status, to)}.`);
    else if (action === 'cancel') setCancelling(task);
    else run(task, action);
  };

  return (
    <DndContext
      sensors={sensors}
      collisionDetection={collision}
      accessibility={{ announcements, screenReaderInstructions: instructions }}
      onDragStart={onDragStart}
      onDragOver={onDragOver}
      onDragEnd={onDragEnd}
      onDragCancel={() => setDragged(null)}
    >
      {refusal ? (
        <div className="notice notice-refused" role="alert">
          <span>{refusal}</span>
          <button type="button" onClick={() => setRefusal(null)} aria-label="Dismiss">×</button>
        </div>
      ) : null}
      <ErrorMessage error={move.error} title={moved ? `Could not move ${moved.display_id}` : 'Could not move the task'} />
      <div className="kanban" role="region" aria-label="Task board">
        {TASK_STATUSES.map((s) => (
          <KanbanColumn key={s} status={s} filters={filters} dragFrom={dragged?.status ?? null} />
        ))}
      </div>
      {/* Allowed drops land where they go; refused ones animate back to where the card was. */}
      <DragOverlay dropAnimation={overAllowed ? null : undefined}>
        {dragged ? <TaskCard task={dragged} overlay /> : null}
      </DragOverlay>
      <ConfirmDialog
        open={cancelling !== null}
        onOpenChange={(open) => !open && setCancelling(null)}
        title={cancelling ? `Cancel ${cancelling.display_id}?` : 'Cancel the task?'}
        message={cancelling ? `“${cancelling.title}” stops: a running session is stopped, and the task does not run again unless it is reopened.` : ''}
        confirmLabel="Cancel task"
        onConfirm={() => cancelling && run(cancelling, 'cancel')}
      />
    </DndContext>
  );
}
