// POST /api/tasks/{id}/retry | /unblock | /cancel | /reopen | /land: they share one
// shape (no body, the Task back), so they share one file.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';
import { writeTask } from '@/lib/task-cache';

// One call per action, each on its own typed path (a path picked at run time from a union
// would leave the answer untyped).
const ACTIONS = {
  retry: (id: string) => client.POST('/api/tasks/{id}/retry', { params: { path: { id } } }),
  unblock: (id: string) => client.POST('/api/tasks/{id}/unblock', { params: { path: { id } } }),
  cancel: (id: string) => client.POST('/api/tasks/{id}/cancel', { params: { path: { id } } }),
  reopen: (id: string) => client.POST('/api/tasks/{id}/reopen', { params: { path: { id } } }),
  land: (id: string) => client.POST('/api/tasks/{id}/land', { params: { path: { id } } }),
};

export type TaskAction = keyof typeof ACTIONS;

export const transitionTask = (id: number, action: TaskAction) => unwrap(ACTIONS[action](String(id)));

export function useTransitionTask(id: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (action: TaskAction) => transitionTask(id, action),
    onSuccess: (task) => {
      writeTask(qc, task);
      void qc.invalidateQueries({ queryKey: keys.taskHistory(id), exact: true });
    },
  });
}

/** The same actions for any task, as the board needs when a card is dropped on a column. */
export function useTaskAction() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, action }: { id: number; action: TaskAction }) => transitionTask(id, action),
    onSuccess: (task) => {
      writeTask(qc, task);
      void qc.invalidateQueries({ queryKey: keys.taskHistory(task.id), exact: true });
    },
  });
}
