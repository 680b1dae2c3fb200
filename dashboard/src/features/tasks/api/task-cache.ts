// After a mutation the server returns the new task; write it where the WebSocket would,
// so this tab updates at once, before (or without) the live message.
import type { QueryClient } from '@tanstack/react-query';
import { patchPaged, taskMatches, taskOrder, type Paged } from '../../../lib/cache-patch';
import { keys, type TaskFilters } from '../../../lib/query-keys';
import type { Task } from '../../../lib/types';

export function writeTask(qc: QueryClient, task: Task) {
  qc.setQueryData(keys.task(task.id), task);
  for (const [key] of qc.getQueriesData<Paged<Task>>({ queryKey: keys.taskLists })) {
    const belongs = taskMatches(task, (key[2] ?? {}) as TaskFilters);
    qc.setQueryData<Paged<Task>>(key, (d) => patchPaged(d, task.id, task, belongs, taskOrder));
  }
}

export function dropTask(qc: QueryClient, id: number) {
  qc.removeQueries({ queryKey: keys.task(id) });
  for (const [key] of qc.getQueriesData<Paged<Task>>({ queryKey: keys.taskLists })) {
    qc.setQueryData<Paged<Task>>(key, (d) => patchPaged(d, id, null, false, taskOrder));
  }
}
