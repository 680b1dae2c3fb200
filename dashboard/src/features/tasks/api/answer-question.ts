// POST /api/tasks/{id}/answer: a person's answer to the agent's pending question.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { post } from '../../../lib/api-client';
import type { Task } from '../../../lib/types';
import { writeTask } from '../../../lib/task-cache';

export const answerQuestion = (id: number, answer: string) => post<Task>(`/api/tasks/${id}/answer`, { answer });

export function useAnswerQuestion(id: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (answer: string) => answerQuestion(id, answer),
    onSuccess: (task) => writeTask(qc, task),
  });
}
