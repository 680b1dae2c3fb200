import { queryOptions, useQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

export const getRoles = () => unwrap(client.GET('/api/roles'));

export const rolesOptions = () => queryOptions({ queryKey: keys.roles, queryFn: getRoles });

export const useRoles = () => useQuery(rolesOptions());
