import { useMutation, useQueryClient } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import type { CreateTask } from '@/lib/types';
import { writeTask } from '@/lib/task-cache';

export const createTask = (body: CreateTask) => unwrap(client.POST('/api/tasks', { body }));

export function useCreateTask() {
  const qc = useQueryClient();
  return useMutation({ mutationFn: createTask, onSuccess: (task) => writeTask(qc, task) });
}
