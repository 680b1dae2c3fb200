import { queryOptions, useQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

export const getProposals = () => unwrap(client.GET('/api/proposals'));

export const proposalsOptions = () => queryOptions({ queryKey: keys.proposals, queryFn: getProposals });

export const useProposals = () => useQuery(proposalsOptions());
