import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { get } from '../../../lib/api-client';
import { keys, type SessionFilters } from '../../../lib/query-keys';
import type { Page, Session } from '../../../lib/types';

const PAGE = 100;

export const getSessions = (f: SessionFilters, offset = 0) => get<Page<Session>>('/api/sessions', { ...f, limit: PAGE, offset });

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
