// POST /api/tasks/{id}/cancel, as the session page's Stop button uses it: an attempt
// session is stopped by cancelling its task (which can be reopened later).
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { post } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import { writeTask } from '../../../lib/task-cache';
import type { Task } from '../../../lib/types';

export const cancelTask = (taskId: number) => post<Task>(`/api/tasks/${taskId}/cancel`);

export function useCancelSessionTask(sessionId: number | string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (taskId: number) => cancelTask(taskId),
    onSuccess: (task) => {
      writeTask(qc, task);
      // The session's end arrives over /ws too; refetching covers a socket that is down.
      void qc.invalidateQueries({ queryKey: keys.session(sessionId), exact: true });
      void qc.invalidateQueries({ queryKey: keys.taskHistory(task.id), exact: true });
    },
  });
}
