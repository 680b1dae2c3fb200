import { useMutation, useQueryClient } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import type { UpdateTask } from '@/lib/types';
import { writeTask } from '@/lib/task-cache';

export const updateTask = (id: number, body: UpdateTask) =>
  unwrap(client.PATCH('/api/tasks/{id}', { params: { path: { id: String(id) } }, body }));

export function useUpdateTask(id: number) {
  const qc = useQueryClient();
  return useMutation({ mutationFn: (body: UpdateTask) => updateTask(id, body), onSuccess: (task) => writeTask(qc, task) });
}
