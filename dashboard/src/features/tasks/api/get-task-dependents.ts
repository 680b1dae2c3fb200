import { queryOptions, useQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

/** Tasks that depend on this one (the other direction of `depends_on`). */
export const getTaskDependents = (id: number | string) =>
  unwrap(client.GET('/api/tasks/{id}/dependents', { params: { path: { id: String(id) } } }));

export const taskDependentsOptions = (id: number | string) =>
  queryOptions({ queryKey: keys.taskDependents(id), queryFn: () => getTaskDependents(id) });

export const useTaskDependents = (id: number | string) => useQuery(taskDependentsOptions(id));
