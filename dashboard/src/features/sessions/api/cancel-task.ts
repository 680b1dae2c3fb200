// POST /api/tasks/{id}/cancel, as the session page's Stop button uses it: an attempt
// session is stopped by cancelling its task (which can be reopened later).
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';
import { writeTask } from '@/lib/task-cache';

export const cancelTask = (taskId: number) =>
  unwrap(client.POST('/api/tasks/{id}/cancel', { params: { path: { id: String(taskId) } } }));

export function useCancelSessionTask() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (taskId: number) => cancelTask(taskId),
    onSuccess: (task) => {
      writeTask(qc, task);
      void qc.invalidateQueries({ queryKey: keys.taskHistory(task.id), exact: true });
      // The session ends a moment later and says so over /ws (session.updated). Refetching
      // it here would race that message: a read taken before the end could land after it.
    },
  });
}
