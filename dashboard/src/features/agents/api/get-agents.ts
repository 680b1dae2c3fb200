import { queryOptions, useQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

export const getAgents = () => unwrap(client.GET('/api/agents'));

export const agentsOptions = () => queryOptions({ queryKey: keys.agents, queryFn: getAgents });

export const useAgents = () => useQuery(agentsOptions());
