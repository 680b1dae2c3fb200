import { queryOptions, useQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import type { paths } from '@/lib/api-types';
import { keys } from '@/lib/query-keys';

export const getTaskFindings = (id: number | string) =>
  unwrap(client.GET('/api/tasks/{id}/findings', { params: { path: { id: String(id) } } }));

export const taskFindingsOptions = (id: number | string) => queryOptions({ queryKey: keys.taskFindings(id), queryFn: () => getTaskFindings(id) });

export const useTaskFindings = (id: number | string) => useQuery(taskFindingsOptions(id));

// An <img> loads it, not the client; naming the path by the schema keeps it checked all the same.
const SCREENSHOT: keyof paths = '/api/findings/{id}/screenshot';

/** Where a finding's PNG is served; the login cookie authenticates the image request. */
export const findingScreenshotUrl = (findingId: number) => SCREENSHOT.replace('{id}', String(findingId));
