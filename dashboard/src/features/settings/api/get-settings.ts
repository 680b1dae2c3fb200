import { queryOptions, useQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

export const getSettings = () => unwrap(client.GET('/api/settings'));

// Read by the server at startup; not pushed over /ws (a restart with a new setup resyncs).
export const settingsOptions = () => queryOptions({ queryKey: keys.settings, queryFn: getSettings });

export const useSettings = () => useQuery(settingsOptions());
