import { queryOptions, useQuery } from '@tanstack/react-query';
import { get } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { Task } from '../../../lib/types';

export const getTask = (id: number | string) => get<Task>(`/api/tasks/${encodeURIComponent(id)}`);

export const taskOptions = (id: number | string) => queryOptions({ queryKey: keys.task(id), queryFn: () => getTask(id) });

export const useTask = (id: number | string) => useQuery(taskOptions(id));
