import { useMutation, useQueryClient } from '@tanstack/react-query';
import { put } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { EstimateView, MarkSize } from '../../../lib/types';

export const markSize = (id: number, body: MarkSize) => put<EstimateView>(`/api/tasks/${id}/estimate`, body);

export function useMarkSize(id: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: MarkSize) => markSize(id, body),
    onSuccess: (view) => qc.setQueryData(keys.taskEstimate(id), view),
  });
}
