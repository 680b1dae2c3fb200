import { queryOptions, useQuery } from '@tanstack/react-query';
import { get } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { Items, Task } from '../../../lib/types';

/** Tasks that depend on this one (the other direction of `depends_on`). */
export const getTaskDependents = (id: number | string) => get<Items<Task>>(`/api/tasks/${encodeURIComponent(id)}/dependents`);

export const taskDependentsOptions = (id: number | string) =>
  queryOptions({ queryKey: keys.taskDependents(id), queryFn: () => getTaskDependents(id) });

export const useTaskDependents = (id: number | string) => useQuery(taskDependentsOptions(id));
