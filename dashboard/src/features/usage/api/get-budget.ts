import { queryOptions, useQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

export const getBudget = () => unwrap(client.GET('/api/budget'));

export const budgetOptions = () => queryOptions({ queryKey: keys.budget, queryFn: getBudget });

export const useBudget = () => useQuery(budgetOptions());
