import { describe, expect, it } from 'vitest';
import { TASK_STATUSES, type TaskStatus } from '@/lib/types';
import { moveAction, refusalReason } from './task-moves';

describe('allowed board moves', () => {
  it('allows exactly retry, unblock, reopen and cancel, as the API does', () => {
    const allowed: string[] = [];
    for (const from of TASK_STATUSES) {
      for (const to of TASK_STATUSES) {
        const action = moveAction(from, to);
        if (action) allowed.push(`${from}->${to}:${action}`);
      }
    }
    expect(allowed.sort()).toEqual(
      [
        'failed->pending:retry',
        'blocked->pending:unblock',
        'cancelled->pending:reopen',
        'pending->cancelled:cancel',
        'in_progress->cancelled:cancel',
        'verifying->cancelled:cancel',
        'review->cancelled:cancel',
        'failed->cancelled:cancel',
        'blocked->cancelled:cancel',
      ].sort(),
    );
  });

  it('refuses the orchestrator-only moves and moves out of a final state', () => {
    const refused: [TaskStatus, TaskStatus][] = [
      ['pending', 'in_progress'],
      ['pending', 'completed'],
      ['in_progress', 'verifying'],
      ['verifying', 'completed'],
      ['failed', 'blocked'],
      ['completed', 'pending'],
      ['cancelled', 'failed'],
      ['completed', 'cancelled'],
      ['review', 'pending'],
      ['review', 'completed'],
      ['verifying', 'review'],
      ['in_progress', 'pending'],
    ];
    for (const [from, to] of refused) expect(moveAction(from, to), `${from}->${to}`).toBeNull();
  });

  it('does nothing for a drop on the same column', () => {
    for (const s of TASK_STATUSES) expect(moveAction(s, s)).toBeNull();
  });

  it('explains a refusal', () => {
    expect(refusalReason('pending', 'completed')).toBe('only the orchestrator moves a task to completed');
    expect(refusalReason('completed', 'pending')).toBe('a completed task goes on only when its agent is sent a message from its page');
    expect(refusalReason('review', 'completed')).toMatch(/approved, sent back with changes or rejected on its page/);
    expect(refusalReason('cancelled', 'completed')).toBe('a cancelled task can only be reopened, back to pending');
    expect(refusalReason('in_progress', 'pending')).toMatch(/failed \(retry\), blocked \(unblock\) or cancelled \(reopen\)/);
  });
});
