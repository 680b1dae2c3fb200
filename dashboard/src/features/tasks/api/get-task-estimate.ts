import { queryOptions, useQuery } from '@tanstack/react-query';
import { get } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { EstimateView } from '../../../lib/types';

export const getTaskEstimate = (id: number) => get<EstimateView>(`/api/tasks/${id}/estimate`);

export const taskEstimateOptions = (id: number) =>
  queryOptions({ queryKey: keys.taskEstimate(id), queryFn: () => getTaskEstimate(id) });

export const useTaskEstimate = (id: number) => useQuery(taskEstimateOptions(id));
