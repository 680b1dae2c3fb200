// GET /api/tasks/{id}/diff: the task's branch against its base. A 404 means there is no
// branch to show (not started yet, or removed after landing), and a 503 that the server has
// no workspace to read one from: both are "no diff", not an error.
import { queryOptions, useQuery } from '@tanstack/react-query';
import { ApiError, client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';
import type { TaskDiff } from '@/lib/types';

export async function getTaskDiff(id: number): Promise<TaskDiff | null> {
  try {
    return await unwrap(client.GET('/api/tasks/{id}/diff', { params: { path: { id: String(id) } } }));
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 503)) return null;
    throw err;
  }
}

export const taskDiffOptions = (id: number) => queryOptions({ queryKey: keys.taskDiff(id), queryFn: () => getTaskDiff(id) });

/** `enabled`: whether the task can have a branch at all (one never started has none: not asked). */
export const useTaskDiff = (id: number, enabled = true) => useQuery({ ...taskDiffOptions(id), enabled });
