import { describe, expect, it } from 'vitest';
import { applyLiveMessages } from '@/app/live-cache';
import { keys } from './query-keys';
import type { Paged } from './cache-patch';
import type { Task, TaskPage } from './types';
import { makeTask, page, testQueryClient } from '@/test/utils';
import { writeTask } from './task-cache';

const paged = (items: Task[]): Paged<TaskPage> => ({ pages: [page(items)], pageParams: [undefined] });

describe('task cache', () => {
  it('a mutation and the live message that follows it leave the same cache', () => {
    const task = makeTask({ id: 7, status: 'pending' });
    const viaMutation = testQueryClient();
    const viaLive = testQueryClient();
    for (const qc of [viaMutation, viaLive]) {
      qc.setQueryData(keys.taskList({ status: 'pending' }), paged([]));
      qc.setQueryData(keys.task(7), makeTask({ id: 7, status: 'failed' }));
    }
    writeTask(viaMutation, task);
    applyLiveMessages(viaLive, [{ type: 'task.updated', seq: 1, data: task }]);
    for (const key of [keys.taskList({ status: 'pending' }), keys.task(7)]) {
      expect(viaMutation.getQueryData(key)).toEqual(viaLive.getQueryData(key));
    }
  });

  it('a mutation seeds the detail it answered; a live message does not', () => {
    const viaMutation = testQueryClient();
    const viaLive = testQueryClient();
    writeTask(viaMutation, makeTask({ id: 8 }));
    applyLiveMessages(viaLive, [{ type: 'task.created', seq: 1, data: makeTask({ id: 8 }) }]);
    expect(viaMutation.getQueryData(keys.task(8))).toBeDefined();
    expect(viaLive.getQueryData(keys.task(8))).toBeUndefined();
  });
});
