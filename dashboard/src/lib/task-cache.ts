// The one way a task (or its deletion) is written into the react-query cache: the live
// stream and the mutations both call it, so they cannot disagree about where a task shows.
import type { QueryClient } from '@tanstack/react-query';
import { patchPaged, taskMatches, taskOrder, type Paged } from './cache-patch';
import { keys, type TaskFilters } from './query-keys';
import type { Task, TaskList, TaskPage } from './types';

/**
 * Puts `task` (null: task `id` was deleted) in every cached list it belongs to, the
 * dependents lists, and its detail. `seedDetail` writes the detail even when it is not
 * cached yet (a mutation's answer); the live stream only refreshes what is on screen.
 */
export function applyTask(qc: QueryClient, task: Task | null, id: number, seedDetail = false) {
  for (const [key] of qc.getQueriesData<Paged<TaskPage>>({ queryKey: keys.taskLists })) {
    const belongs = task ? taskMatches(task, (key[2] ?? {}) as TaskFilters) : false;
    qc.setQueryData<Paged<TaskPage>>(key, (d) => patchPaged(d, id, task, belongs, taskOrder));
  }
  // Dependents of X: every task whose depends_on contains X.
  for (const [key] of qc.getQueriesData<TaskList>({ queryKey: ['tasks', 'dependents'] })) {
    const ofId = Number(key[2]);
    qc.setQueryData<TaskList>(key, (d) => {
      if (!d) return d;
      const rest = d.items.filter((t) => t.id !== id);
      if (task && task.depends_on.includes(ofId)) {
        const i = d.items.findIndex((t) => t.id === id);
        return { items: i >= 0 ? d.items.map((t) => (t.id === id ? task : t)) : [...rest, task] };
      }
      return rest.length === d.items.length ? d : { items: rest };
    });
  }
  const detailKey = keys.task(id);
  if (!task) {
    qc.removeQueries({ queryKey: detailKey });
    return;
  }
  const previous = qc.getQueryData<Task>(detailKey);
  if (previous || seedDetail) qc.setQueryData(detailKey, task);
  if (previous && previous.status !== task.status) {
    void qc.invalidateQueries({ queryKey: keys.taskHistory(id), exact: true });
  }
  // A new attempt, a landing or a removed branch changes what the review shows: the diff
  // (and which comments are outdated) is fetched again.
  if (previous && (previous.status !== task.status || JSON.stringify(previous.outcome ?? null) !== JSON.stringify(task.outcome ?? null))) {
    void qc.invalidateQueries({ queryKey: keys.taskDiff(id), exact: true });
    void qc.invalidateQueries({ queryKey: keys.taskComments(id), exact: true });
  }
}

/** After a mutation the server returns the new task; write it where the live message would. */
export function writeTask(qc: QueryClient, task: Task) {
  applyTask(qc, task, task.id, true);
}

export function dropTask(qc: QueryClient, id: number) {
  applyTask(qc, null, id);
}
