// POST /api/orchestrator/pause and /resume: same shape, so one file.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

export const setPaused = (paused: boolean) =>
  unwrap(paused ? client.POST('/api/orchestrator/pause') : client.POST('/api/orchestrator/resume'));

export function useSetPaused() {
  const qc = useQueryClient();
  return useMutation({ mutationFn: setPaused, onSuccess: (status) => qc.setQueryData(keys.orchestrator, status) });
}
