// A board column's tasks, page by page. Pages are chained by the server's cursor, not an
// offset: tasks moving in and out of the column while it scrolls (live updates) cannot
// shift the next page, and the server finds it as fast at any depth.
import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys, type TaskFilters } from '@/lib/query-keys';

/** Page size for board columns; the column is virtualised, so more pages load on scroll. */
export const TASK_PAGE = 200;

/** `cursor`: the previous page's `next_cursor`; none for the first page. */
export const getTasks = (f: TaskFilters, cursor?: string, limit = TASK_PAGE) =>
  unwrap(client.GET('/api/tasks', { params: { query: { ...f, limit, cursor } } }));

export const tasksOptions = (f: TaskFilters) =>
  infiniteQueryOptions({
    queryKey: keys.taskList(f),
    queryFn: ({ pageParam }) => getTasks(f, pageParam),
    initialPageParam: undefined as string | undefined,
    // No next_cursor: this was the last page.
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });

export const useTasks = (f: TaskFilters) => useInfiniteQuery(tasksOptions(f));
