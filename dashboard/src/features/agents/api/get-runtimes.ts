import { queryOptions, useQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

export const getRuntimes = () => unwrap(client.GET('/api/runtimes'));

// The server asks each program its version at most once a minute; no need to poll faster.
export const runtimesOptions = () => queryOptions({ queryKey: keys.runtimes, queryFn: getRuntimes, refetchInterval: 60_000 });

export const useRuntimes = () => useQuery(runtimesOptions());
