import { queryOptions, useQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys, type EventFilters } from '@/lib/query-keys';

/** The newest events to start from; new ones then arrive over the WebSocket. */
export const getEvents = (f: EventFilters, limit = 200) => unwrap(client.GET('/api/events', { params: { query: { ...f, limit } } }));

export const eventsOptions = (f: EventFilters, limit = 200) =>
  queryOptions({ queryKey: keys.eventList(f), queryFn: () => getEvents(f, limit), staleTime: Infinity });

export const useEvents = (f: EventFilters, limit?: number) => useQuery(eventsOptions(f, limit));
