import { useMutation, useQueryClient } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { dropTask } from '@/lib/task-cache';

export const deleteTask = (id: number) => unwrap(client.DELETE('/api/tasks/{id}', { params: { path: { id: String(id) } } }));

export function useDeleteTask(id: number) {
  const qc = useQueryClient();
  return useMutation({ mutationFn: () => deleteTask(id), onSuccess: () => dropTask(qc, id) });
}
