import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { get } from '../../../lib/api-client';
import { keys, type TaskFilters } from '../../../lib/query-keys';
import type { Page, Task } from '../../../lib/types';

/** Page size for board columns; the column is virtualised, so more pages load on scroll. */
export const TASK_PAGE = 200;

export const getTasks = (f: TaskFilters, offset = 0, limit = TASK_PAGE) =>
  get<Page<Task>>('/api/tasks', { ...f, limit, offset });

export const tasksOptions = (f: TaskFilters) =>
  infiniteQueryOptions({
    queryKey: keys.taskList(f),
    queryFn: ({ pageParam }) => getTasks(f, pageParam),
    initialPageParam: 0,
    getNextPageParam: (last, pages) => {
      const loaded = pages.reduce((n, p) => n + p.items.length, 0);
      return last.items.length > 0 && loaded < last.total ? loaded : undefined;
    },
  });

export const useTasks = (f: TaskFilters) => useInfiniteQuery(tasksOptions(f));
