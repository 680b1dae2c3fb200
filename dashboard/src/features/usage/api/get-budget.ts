import { queryOptions, useQuery } from '@tanstack/react-query';
import { get } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { Budget } from '../../../lib/types';

export const getBudget = () => get<Budget>('/api/budget');

export const budgetOptions = () => queryOptions({ queryKey: keys.budget, queryFn: getBudget });

export const useBudget = () => useQuery(budgetOptions());
