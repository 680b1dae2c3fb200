// Task search for the dependency picker: a small, separate cache entry per query text.
import { keepPreviousData, queryOptions, useQuery } from '@tanstack/react-query';
import { get } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { Page, Task } from '../../../lib/types';

export const searchTasks = (q: string) => get<Page<Task>>('/api/tasks', { q, limit: 20 });

export const searchTasksOptions = (q: string) =>
  queryOptions({ queryKey: keys.taskSearch(q), queryFn: () => searchTasks(q), placeholderData: keepPreviousData, staleTime: 10_000 });

export const useSearchTasks = (q: string) => useQuery(searchTasksOptions(q));
