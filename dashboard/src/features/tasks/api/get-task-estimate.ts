import { queryOptions, useQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

export const getTaskEstimate = (id: number) =>
  unwrap(client.GET('/api/tasks/{id}/estimate', { params: { path: { id: String(id) } } }));

export const taskEstimateOptions = (id: number) =>
  queryOptions({ queryKey: keys.taskEstimate(id), queryFn: () => getTaskEstimate(id) });

export const useTaskEstimate = (id: number) => useQuery(taskEstimateOptions(id));
