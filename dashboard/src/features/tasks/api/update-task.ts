import { useMutation, useQueryClient } from '@tanstack/react-query';
import { patch } from '../../../lib/api-client';
import type { Task, UpdateTask } from '../../../lib/types';
import { writeTask } from '../../../lib/task-cache';

export const updateTask = (id: number, body: UpdateTask) => patch<Task>(`/api/tasks/${id}`, body);

export function useUpdateTask(id: number) {
  const qc = useQueryClient();
  return useMutation({ mutationFn: (body: UpdateTask) => updateTask(id, body), onSuccess: (task) => writeTask(qc, task) });
}
