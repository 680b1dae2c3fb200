// POST /api/tasks/{id}/retry | /unblock | /cancel | /reopen | /land: they share one
// shape (no body, the Task back), so they share one file.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { post } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { Task } from '../../../lib/types';
import { writeTask } from '../../../lib/task-cache';

export type TaskAction = 'retry' | 'unblock' | 'cancel' | 'reopen' | 'land';

export const transitionTask = (id: number, action: TaskAction) => post<Task>(`/api/tasks/${id}/${action}`);

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
