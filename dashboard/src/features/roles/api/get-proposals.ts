import { queryOptions, useQuery } from '@tanstack/react-query';
import { get } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { Items, Proposal } from '../../../lib/types';

export const getProposals = () => get<Items<Proposal>>('/api/proposals');

export const proposalsOptions = () => queryOptions({ queryKey: keys.proposals, queryFn: getProposals });

export const useProposals = () => useQuery(proposalsOptions());
