import { queryOptions, useQuery } from '@tanstack/react-query';
import { get } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { AuthStatus } from '../../../lib/types';

export const getAuthStatus = () => get<AuthStatus>('/api/auth/status');

export const authStatusOptions = () => queryOptions({ queryKey: keys.auth, queryFn: getAuthStatus, staleTime: Infinity });

export const useAuthStatus = () => useQuery(authStatusOptions());
