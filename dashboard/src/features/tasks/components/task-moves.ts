// Which board moves a person may make, and which API call makes each one.
//
// PATCH /api/tasks/{id} takes no status: a person changes a task's status only through the
// three action endpoints (orchestrator/src/api/tasks.rs), each checked by the server's
// status machine (orchestrator/domain/src/task.rs, TaskStatus::can_become):
//   failed  → pending    POST /api/tasks/{id}/retry
//   blocked → pending    POST /api/tasks/{id}/unblock
//   any status that is not final (completed, cancelled) → cancelled   POST /api/tasks/{id}/cancel
// Every other move (starting, verifying, completing, failing or blocking a task) is the
// orchestrator's alone.
import { statusLabel } from '../../../lib/format';
import type { TaskStatus } from '../../../lib/types';
import type { TaskAction } from '../api/transition-task';

const FINAL: readonly TaskStatus[] = ['completed', 'cancelled'];

/** The API action that moves a task from `from` to `to`, or null when a person may not. */
export function moveAction(from: TaskStatus, to: TaskStatus): TaskAction | null {
  if (from === to) return null;
  if (to === 'cancelled') return FINAL.includes(from) ? null : 'cancel';
  if (to === 'pending' && from === 'failed') return 'retry';
  if (to === 'pending' && from === 'blocked') return 'unblock';
  return null;
}

/** Why a move is refused, in words for the person who tried it. */
export function refusalReason(from: TaskStatus, to: TaskStatus): string {
  if (FINAL.includes(from)) return `a ${statusLabel(from)} task never changes again`;
  if (to === 'pending') return `only a failed task (retry) or a blocked one (unblock) goes back to pending`;
  return `only the orchestrator moves a task to ${statusLabel(to)}`;
}

/** How each allowed move reads on a button or in a message. */
export const ACTION_LABEL: Record<TaskAction, string> = { retry: 'retried', unblock: 'unblocked', cancel: 'cancelled' };
