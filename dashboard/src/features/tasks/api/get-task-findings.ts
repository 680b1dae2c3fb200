import { queryOptions, useQuery } from '@tanstack/react-query';
import { get } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { Finding, Items } from '../../../lib/types';

export const getTaskFindings = (id: number | string) => get<Items<Finding>>(`/api/tasks/${encodeURIComponent(id)}/findings`);

export const taskFindingsOptions = (id: number | string) => queryOptions({ queryKey: keys.taskFindings(id), queryFn: () => getTaskFindings(id) });

export const useTaskFindings = (id: number | string) => useQuery(taskFindingsOptions(id));

/** Where a finding's PNG is served; the login cookie authenticates the image request. */
export const findingScreenshotUrl = (findingId: number) => `/api/findings/${findingId}/screenshot`;
