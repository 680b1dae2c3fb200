import { queryOptions, useQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

export const getAuthStatus = () => unwrap(client.GET('/api/auth/status'));

export const authStatusOptions = () => queryOptions({ queryKey: keys.auth, queryFn: getAuthStatus, staleTime: Infinity });

export const useAuthStatus = () => useQuery(authStatusOptions());
