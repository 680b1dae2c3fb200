// POST /api/tasks/{id}/review (approve, request changes, reject a task in review) and
// POST /api/tasks/{id}/messages (continue the conversation with the task's agent).
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';
import { writeTask } from '@/lib/task-cache';
import type { ReviewRequest } from '@/lib/types';

export const reviewTask = (id: number, body: ReviewRequest) =>
  unwrap(client.POST('/api/tasks/{id}/review', { params: { path: { id: String(id) } }, body }));

export const messageAgent = (id: number, message: string) =>
  unwrap(client.POST('/api/tasks/{id}/messages', { params: { path: { id: String(id) } }, body: { message } }));

export function useReviewTask(id: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: ReviewRequest) => reviewTask(id, body),
    onSuccess: (task) => {
      writeTask(qc, task);
      void qc.invalidateQueries({ queryKey: keys.taskHistory(id), exact: true });
    },
  });
}

export function useMessageAgent(id: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (message: string) => messageAgent(id, message),
    onSuccess: (task) => {
      writeTask(qc, task);
      void qc.invalidateQueries({ queryKey: keys.taskHistory(id), exact: true });
    },
  });
}
