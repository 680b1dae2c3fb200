import { queryOptions, useQuery } from '@tanstack/react-query';
import { get } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { Session } from '../../../lib/types';

export const getSession = (id: number | string) => get<Session>(`/api/sessions/${encodeURIComponent(id)}`);

export const sessionOptions = (id: number | string) => queryOptions({ queryKey: keys.session(id), queryFn: () => getSession(id) });

export const useSession = (id: number | string) => useQuery(sessionOptions(id));
