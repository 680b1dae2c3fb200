// Which board moves a person may make, and which API call makes each one.
//
// PATCH /api/tasks/{id} takes no status: a person changes a task's status only through the
// action endpoints (orchestrator/src/api/tasks.rs), each checked by the server's status
// machine (orchestrator/domain/src/task.rs, TaskStatus::can_become):
//   failed    → pending    POST /api/tasks/{id}/retry
//   blocked   → pending    POST /api/tasks/{id}/unblock
//   cancelled → pending    POST /api/tasks/{id}/reopen
//   any status that is not final (completed, cancelled) → cancelled   POST /api/tasks/{id}/cancel
// A task in review moves on by the review on its page (POST /api/tasks/{id}/review:
// approve, request changes, reject), not by a drag.
// Every other move (starting, verifying, completing, failing or blocking a task) is the
// orchestrator's alone.
import { statusLabel } from '@/lib/format';
import type { TaskStatus } from '@/lib/types';
import type { TaskAction } from '../api/transition-task';

const FINAL: readonly TaskStatus[] = ['completed', 'cancelled'];

/** The API action that moves a task from `from` to `to`, or null when a person may not. */
export function moveAction(from: TaskStatus, to: TaskStatus): TaskAction | null {
  if (from === to) return null;
  if (to === 'cancelled') return FINAL.includes(from) ? null : 'cancel';
  if (to === 'pending' && from === 'failed') return 'retry';
  if (to === 'pending' && from === 'blocked') return 'unblock';
  if (to === 'pending' && from === 'cancelled') return 'reopen';
  return null;
}

/** Why a move is refused, in words for the person who tried it. */
export function refusalReason(from: TaskStatus, to: TaskStatus): string {
  if (from === 'completed') return 'a completed task goes on only when its agent is sent a message from its page';
  if (from === 'cancelled') return 'a cancelled task can only be reopened, back to pending';
  if (from === 'review') return 'a task in review moves on when it is approved, sent back with changes or rejected on its page';
  if (to === 'pending') return 'only a failed (retry), blocked (unblock) or cancelled (reopen) task goes back to pending';
  return `only the orchestrator moves a task to ${statusLabel(to)}`;
}

/** How each allowed move reads on a button or in a message. */
export const ACTION_LABEL: Record<TaskAction, string> = { retry: 'retried', unblock: 'unblocked', cancel: 'cancelled', reopen: 'reopened', land: 'landed' };
