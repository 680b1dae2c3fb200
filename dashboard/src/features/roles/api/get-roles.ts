import { queryOptions, useQuery } from '@tanstack/react-query';
import { get } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { Items, Role } from '../../../lib/types';

export const getRoles = () => get<Items<Role>>('/api/roles');

export const rolesOptions = () => queryOptions({ queryKey: keys.roles, queryFn: getRoles });

export const useRoles = () => useQuery(rolesOptions());
