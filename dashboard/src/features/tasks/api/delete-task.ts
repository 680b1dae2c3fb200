import { useMutation, useQueryClient } from '@tanstack/react-query';
import { del } from '../../../lib/api-client';
import { dropTask } from '../../../lib/task-cache';

export const deleteTask = (id: number) => del(`/api/tasks/${id}`);

export function useDeleteTask(id: number) {
  const qc = useQueryClient();
  return useMutation({ mutationFn: () => deleteTask(id), onSuccess: () => dropTask(qc, id) });
}
