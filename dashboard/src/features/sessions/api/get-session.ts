import { queryOptions, useQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

export const getSession = (id: number) => unwrap(client.GET('/api/sessions/{id}', { params: { path: { id } } }));

export const sessionOptions = (id: number) => queryOptions({ queryKey: keys.session(id), queryFn: () => getSession(id) });

export const useSession = (id: number) => useQuery(sessionOptions(id));
