import { queryOptions, useQuery } from '@tanstack/react-query';
import { get } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { Items, TaskTransition } from '../../../lib/types';

export const getTaskHistory = (id: number | string) => get<Items<TaskTransition>>(`/api/tasks/${encodeURIComponent(id)}/history`);

export const taskHistoryOptions = (id: number | string) => queryOptions({ queryKey: keys.taskHistory(id), queryFn: () => getTaskHistory(id) });

export const useTaskHistory = (id: number | string) => useQuery(taskHistoryOptions(id));
