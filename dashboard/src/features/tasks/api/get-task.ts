import { queryOptions, useQueries, useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import type { Paged } from '@/lib/cache-patch';
import { keys } from '@/lib/query-keys';
import type { Task, TaskPage } from '@/lib/types';

/** By id (`42`) or display id (`T-42`). */
export const getTask = (id: number | string) => unwrap(client.GET('/api/tasks/{id}', { params: { path: { id: String(id) } } }));

export const taskOptions = (id: number | string) => queryOptions({ queryKey: keys.task(id), queryFn: () => getTask(id) });

export const useTask = (id: number | string) => useQuery(taskOptions(id));

/** A task already in a cached board column, and when that column was fetched. */
function cachedInLists(qc: QueryClient, id: number): { task: Task; at: number } | undefined {
  for (const [key, data] of qc.getQueriesData<Paged<TaskPage>>({ queryKey: keys.taskLists })) {
    for (const p of data?.pages ?? []) {
      const task = p.items.find((t) => t.id === id);
      if (task) return { task, at: qc.getQueryState(key)?.dataUpdatedAt ?? 0 };
    }
  }
  return undefined;
}

/**
 * Several tasks by id (a card's dependencies). One already on the board is read from its
 * column's cache instead of being fetched again; live updates keep both in step.
 */
export function useTasksByIds(ids: number[]) {
  const qc = useQueryClient();
  return useQueries({
    queries: ids.map((id) => ({
      ...taskOptions(id),
      initialData: () => cachedInLists(qc, id)?.task,
      initialDataUpdatedAt: () => cachedInLists(qc, id)?.at,
      // Live messages keep both the columns and these in step; a resync invalidates them.
      staleTime: 60_000,
    })),
  });
}
