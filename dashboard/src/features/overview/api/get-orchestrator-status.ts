import { queryOptions, useQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

export const getOrchestratorStatus = () => unwrap(client.GET('/api/orchestrator/status'));

export const orchestratorStatusOptions = () => queryOptions({ queryKey: keys.orchestrator, queryFn: getOrchestratorStatus });

export const useOrchestratorStatus = () => useQuery(orchestratorStatusOptions());
