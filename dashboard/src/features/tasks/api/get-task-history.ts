import { queryOptions, useQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

export const getTaskHistory = (id: number | string) =>
  unwrap(client.GET('/api/tasks/{id}/history', { params: { path: { id: String(id) } } }));

export const taskHistoryOptions = (id: number | string) => queryOptions({ queryKey: keys.taskHistory(id), queryFn: () => getTaskHistory(id) });

export const useTaskHistory = (id: number | string) => useQuery(taskHistoryOptions(id));
