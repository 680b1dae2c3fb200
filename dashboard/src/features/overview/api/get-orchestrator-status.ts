import { queryOptions, useQuery } from '@tanstack/react-query';
import { get } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { OrchestratorStatus } from '../../../lib/types';

export const getOrchestratorStatus = () => get<OrchestratorStatus>('/api/orchestrator/status');

export const orchestratorStatusOptions = () => queryOptions({ queryKey: keys.orchestrator, queryFn: getOrchestratorStatus });

export const useOrchestratorStatus = () => useQuery(orchestratorStatusOptions());
