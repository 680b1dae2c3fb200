import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys, type SessionFilters } from '@/lib/query-keys';

const PAGE = 100;

/** `cursor`: the previous page's `next_cursor`; none for the first page. Pages are chained
 * by the server's cursor, not an offset: a session that starts while the list is open
 * would shift every offset and show a row twice. */
export const getSessions = (f: SessionFilters, cursor?: string) =>
  unwrap(client.GET('/api/sessions', { params: { query: { ...f, limit: PAGE, cursor } } }));

export const sessionsOptions = (f: SessionFilters) =>
  infiniteQueryOptions({
    queryKey: keys.sessionList(f),
    queryFn: ({ pageParam }) => getSessions(f, pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });

export const useSessions = (f: SessionFilters) => useInfiniteQuery(sessionsOptions(f));
