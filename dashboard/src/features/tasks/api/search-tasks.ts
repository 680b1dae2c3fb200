// Task search for the dependency picker: a small, separate cache entry per query text.
import { keepPreviousData, queryOptions, useQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

export const searchTasks = (q: string) => unwrap(client.GET('/api/tasks', { params: { query: { q, limit: 20 } } }));

export const searchTasksOptions = (q: string) =>
  queryOptions({ queryKey: keys.taskSearch(q), queryFn: () => searchTasks(q), placeholderData: keepPreviousData, staleTime: 10_000 });

export const useSearchTasks = (q: string) => useQuery(searchTasksOptions(q));
