import { useMutation, useQueryClient } from '@tanstack/react-query';
import { post } from '../../../lib/api-client';
import type { CreateTask, Task } from '../../../lib/types';
import { writeTask } from '../../../lib/task-cache';

export const createTask = (body: CreateTask) => post<Task>('/api/tasks', body);

export function useCreateTask() {
  const qc = useQueryClient();
  return useMutation({ mutationFn: createTask, onSuccess: (task) => writeTask(qc, task) });
}
