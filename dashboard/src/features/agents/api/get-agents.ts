import { queryOptions, useQuery } from '@tanstack/react-query';
import { get } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { Agent, Items } from '../../../lib/types';

export const getAgents = () => get<Items<Agent>>('/api/agents');

export const agentsOptions = () => queryOptions({ queryKey: keys.agents, queryFn: getAgents });

export const useAgents = () => useQuery(agentsOptions());
