import { useMutation, useQueryClient } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';
import type { MarkSize } from '@/lib/types';

export const markSize = (id: number, body: MarkSize) =>
  unwrap(client.PUT('/api/tasks/{id}/estimate', { params: { path: { id: String(id) } }, body }));

export function useMarkSize(id: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: MarkSize) => markSize(id, body),
    onSuccess: (view) => qc.setQueryData(keys.taskEstimate(id), view),
  });
}
