import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys, type SessionFilters } from '@/lib/query-keys';

const PAGE = 100;

export const getSessions = (f: SessionFilters, offset = 0) =>
  unwrap(client.GET('/api/sessions', { params: { query: { ...f, limit: PAGE, offset } } }));

export const sessionsOptions = (f: SessionFilters) =>
  infiniteQueryOptions({
    queryKey: keys.sessionList(f),
    queryFn: ({ pageParam }) => getSessions(f, pageParam),
    initialPageParam: 0,
    getNextPageParam: (last, pages) => {
      const loaded = pages.reduce((n, p) => n + p.items.length, 0);
      return last.items.length > 0 && loaded < last.total ? loaded : undefined;
    },
  });

export const useSessions = (f: SessionFilters) => useInfiniteQuery(sessionsOptions(f));
