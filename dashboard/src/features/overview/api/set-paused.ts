// POST /api/orchestrator/pause and /resume: same shape, so one file.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { post } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { OrchestratorStatus } from '../../../lib/types';

export const setPaused = (paused: boolean) => post<OrchestratorStatus>(`/api/orchestrator/${paused ? 'pause' : 'resume'}`);

export function useSetPaused() {
  const qc = useQueryClient();
  return useMutation({ mutationFn: setPaused, onSuccess: (status) => qc.setQueryData(keys.orchestrator, status) });
}
