import { describe, expect, it, vi } from 'vitest';
import { keys } from '@/lib/query-keys';
import type { Paged } from '@/lib/cache-patch';
import type { EventList, HarnessEvent, LogLine, SessionLogs, Task, TaskPage } from '@/lib/types';
import { makeTask, page, testQueryClient } from '@/test/utils';
import { applyLiveMessages } from './live-cache';

const paged = (items: Task[]): Paged<TaskPage> => ({ pages: [page(items)], pageParams: [undefined] });
const ids = (d: Paged<TaskPage> | undefined) => d?.pages.flatMap((p) => p.items.map((t) => t.id));

describe('live cache patching', () => {
  it('a created task appears in the matching column only, and totals follow', () => {
    const qc = testQueryClient();
    qc.setQueryData(keys.taskList({ status: 'pending' }), paged([makeTask({ id: 1 })]));
    qc.setQueryData(keys.taskList({ status: 'failed' }), paged([]));
    applyLiveMessages(qc, [
      { type: 'task.created', seq: 5, data: makeTask({ id: 2, status: 'pending', priority: 'P0' }) },
      { type: 'task.created', seq: 6, data: makeTask({ id: 3, status: 'pending', priority: 'P4' }) },
    ]);
    const pending = qc.getQueryData<Paged<TaskPage>>(keys.taskList({ status: 'pending' }));
    expect(ids(pending)).toEqual([2, 1, 3]); // The server's order: priority first.
    expect(pending?.pages[0]?.total).toBe(3);
    expect(ids(qc.getQueryData(keys.taskList({ status: 'failed' })))).toEqual([]);
  });

  it('does not append past a page that is not loaded yet, but counts it', () => {
    const qc = testQueryClient();
    qc.setQueryData(keys.taskList({ status: 'pending' }), { pages: [page([makeTask({ id: 20, priority: 'P1' })], 50)], pageParams: [undefined] });
    applyLiveMessages(qc, [{ type: 'task.created', seq: 1, data: makeTask({ id: 21, priority: 'P3' }) }]);
    const d = qc.getQueryData<Paged<TaskPage>>(keys.taskList({ status: 'pending' }));
    expect(ids(d)).toEqual([20]);
    expect(d?.pages[0]?.total).toBe(51);
  });

  it('a status change moves the task between columns without a refetch', () => {
    const qc = testQueryClient();
    const fetchSpy = vi.fn();
    vi.stubGlobal('fetch', fetchSpy);
    const t = makeTask({ id: 3, status: 'pending' });
    qc.setQueryData(keys.taskList({ status: 'pending' }), paged([t]));
    qc.setQueryData(keys.taskList({ status: 'in_progress' }), paged([]));
    qc.setQueryData(keys.task(3), t);
    applyLiveMessages(qc, [{ type: 'task.updated', seq: 6, data: { ...t, status: 'in_progress', assigned_agent: 'build-1' } }]);
    expect(ids(qc.getQueryData(keys.taskList({ status: 'pending' })))).toEqual([]);
    expect(ids(qc.getQueryData(keys.taskList({ status: 'in_progress' })))).toEqual([3]);
    expect(qc.getQueryData<Task>(keys.task(3))?.assigned_agent).toBe('build-1');
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('respects search filters and removes deleted tasks', () => {
    const qc = testQueryClient();
    qc.setQueryData(keys.taskList({ status: 'pending', q: 'login' }), paged([]));
    applyLiveMessages(qc, [
      { type: 'task.created', seq: 1, data: makeTask({ id: 10, title: 'Fix login page' }) },
      { type: 'task.created', seq: 2, data: makeTask({ id: 11, title: 'Unrelated' }) },
    ]);
    expect(ids(qc.getQueryData(keys.taskList({ status: 'pending', q: 'login' })))).toEqual([10]);
    applyLiveMessages(qc, [{ type: 'task.deleted', seq: 3, data: { id: 10, display_id: 'T-10' } }]);
    expect(ids(qc.getQueryData(keys.taskList({ status: 'pending', q: 'login' })))).toEqual([]);
  });

  it('appends live log lines once, in order, only to a log being viewed', () => {
    const qc = testQueryClient();
    const line = (seq: number): LogLine => ({ session_id: 7, seq, at: '2026-11-27T18:00:00Z', kind: 'text', content: `line ${seq}` });
    qc.setQueryData<SessionLogs>(keys.sessionLogs(7), { items: [line(1), line(2)] });
    applyLiveMessages(qc, [
      { type: 'session.log', seq: 20, data: line(2) },
      { type: 'session.log', seq: 21, data: line(3) },
      { type: 'session.log', seq: 22, data: { ...line(1), session_id: 8 } },
    ]);
    expect(qc.getQueryData<SessionLogs>(keys.sessionLogs(7))?.items.map((l) => l.seq)).toEqual([1, 2, 3]);
    expect(qc.getQueryData(keys.sessionLogs(8))).toBeUndefined();
  });

  it('adds events to feeds whose type filter matches', () => {
    const qc = testQueryClient();
    qc.setQueryData<EventList>(keys.eventList({}), { items: [] });
    qc.setQueryData<EventList>(keys.eventList({ type: 'agent' }), { items: [] });
    const ev: HarnessEvent = { id: 1, type: 'task.created', severity: 'info', task_id: 1, agent_id: null, session_id: null, message: 'created', payload: {}, at: '2026-11-27T18:00:00Z' };
    applyLiveMessages(qc, [{ type: 'event.created', seq: 1, data: ev }]);
    expect(qc.getQueryData<EventList>(keys.eventList({}))?.items).toHaveLength(1);
    expect(qc.getQueryData<EventList>(keys.eventList({ type: 'agent' }))?.items).toHaveLength(0);
  });

  it('a proposal event refetches the proposals; an estimate event the task\'s estimate', () => {
    const qc = testQueryClient();
    qc.setQueryData(keys.proposals, { items: [] });
    qc.setQueryData(keys.taskEstimate(3), { estimate: null });
    qc.setQueryData(keys.taskEstimate(4), { estimate: null });
    const ev = (id: number, type: string, task_id: number | null): HarnessEvent => ({ id, type, severity: 'info', task_id, agent_id: null, session_id: null, message: type, payload: {}, at: '2026-11-27T18:00:00Z' });
    applyLiveMessages(qc, [
      { type: 'event.created', seq: 1, data: ev(1, 'proposal.created', null) },
      { type: 'event.created', seq: 2, data: ev(2, 'task.estimated', 3) },
    ]);
    expect(qc.getQueryState(keys.proposals)?.isInvalidated).toBe(true);
    expect(qc.getQueryState(keys.taskEstimate(3))?.isInvalidated).toBe(true);
    expect(qc.getQueryState(keys.taskEstimate(4))?.isInvalidated).toBe(false);
  });

  it('resync invalidates every query', () => {
    const qc = testQueryClient();
    qc.setQueryData(keys.budget, { x: 1 });
    applyLiveMessages(qc, [{ type: 'resync', seq: 99, data: { reason: 'gap too old' } }]);
    expect(qc.getQueryState(keys.budget)?.isInvalidated).toBe(true);
  });

  it('a comment made, edited or deleted elsewhere patches the open review\'s comments', () => {
    const qc = testQueryClient();
    const c = { id: 4, task_id: 9, path: 'a.rs', line: 2, end_line: null, side: 'new' as const, body: 'Fix this.', author: 'api', commit: 'abc', line_text: 'x', outdated: false, resolved: false, created_at: '2026-12-07T20:00:00Z', updated_at: '2026-12-07T20:00:00Z' };
    qc.setQueryData(keys.taskComments(9), { items: [] });
    applyLiveMessages(qc, [{ type: 'comment.changed', seq: 1, data: c }]);
    expect(qc.getQueryData(keys.taskComments(9))).toEqual({ items: [c] });
    applyLiveMessages(qc, [{ type: 'comment.changed', seq: 2, data: { ...c, resolved: true } }]);
    expect(qc.getQueryData(keys.taskComments(9))).toEqual({ items: [{ ...c, resolved: true }] });
    applyLiveMessages(qc, [{ type: 'comment.deleted', seq: 3, data: { id: 4, task_id: 9 } }]);
    expect(qc.getQueryData(keys.taskComments(9))).toEqual({ items: [] });
    // A review that is not open is left alone (fetched when opened).
    applyLiveMessages(qc, [{ type: 'comment.changed', seq: 4, data: { ...c, task_id: 10 } }]);
    expect(qc.getQueryData(keys.taskComments(10))).toBeUndefined();
  });

  it('a task whose status or outcome changes has its diff fetched again', () => {
    const qc = testQueryClient();
    qc.setQueryData(keys.task(9), makeTask({ id: 9, status: 'in_progress' }));
    qc.setQueryData(keys.taskDiff(9), { files: [] });
    applyLiveMessages(qc, [{ type: 'task.updated', seq: 1, data: makeTask({ id: 9, status: 'in_progress', title: 'renamed' }) }]);
    expect(qc.getQueryState(keys.taskDiff(9))?.isInvalidated).toBe(false);
    applyLiveMessages(qc, [{ type: 'task.updated', seq: 2, data: makeTask({ id: 9, status: 'completed', outcome: { kind: 'landed', commit: 'abc' } }) }]);
    expect(qc.getQueryState(keys.taskDiff(9))?.isInvalidated).toBe(true);
  });
});
