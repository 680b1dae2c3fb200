// POST /api/tasks/{id}/answer: a person's answer to the agent's pending question.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { writeTask } from '@/lib/task-cache';

export const answerQuestion = (id: number, answer: string) =>
  unwrap(client.POST('/api/tasks/{id}/answer', { params: { path: { id: String(id) } }, body: { answer } }));

export function useAnswerQuestion(id: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (answer: string) => answerQuestion(id, answer),
    onSuccess: (task) => writeTask(qc, task),
  });
}
