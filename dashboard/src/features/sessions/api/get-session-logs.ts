// The whole log of a session, read page by page. Live lines are then appended to this
// cache entry by the WebSocket patcher; `catchUpSessionLogs` closes the gap between the
// last page read and the first live line.
import { queryOptions, useQuery, type QueryClient } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';
import type { LogLine, SessionLogs } from '@/lib/types';

const PAGE = 1000;
/** A bound on what one view holds; the view is virtualised, memory is the limit. */
export const MAX_LOG_LINES = 200_000;

export const getSessionLogs = (id: number, after?: number) =>
  unwrap(client.GET('/api/sessions/{id}/logs', { params: { path: { id }, query: { after, limit: PAGE } } }));

async function readAll(id: number, after?: number): Promise<LogLine[]> {
  const all: LogLine[] = [];
  let cursor = after;
  for (;;) {
    const page = await getSessionLogs(id, cursor);
    all.push(...page.items);
    const last = page.items.at(-1);
    if (page.items.length < PAGE || !last || all.length >= MAX_LOG_LINES) return all;
    cursor = last.seq;
  }
}

export const sessionLogsOptions = (id: number) =>
  queryOptions({
    queryKey: keys.sessionLogs(id),
    queryFn: async (): Promise<SessionLogs> => ({ items: await readAll(id) }),
    // Live updates keep it fresh; refetching 100k lines on focus would be wasteful.
    staleTime: Infinity,
  });

export const useSessionLogs = (id: number) => useQuery(sessionLogsOptions(id));

export async function catchUpSessionLogs(qc: QueryClient, id: number) {
  const current = qc.getQueryData<SessionLogs>(keys.sessionLogs(id));
  const after = current?.items.at(-1)?.seq;
  const fresh = await readAll(id, after);
  if (!fresh.length) return;
  qc.setQueryData<SessionLogs>(keys.sessionLogs(id), (d) => {
    const last = d?.items.at(-1)?.seq ?? -1;
    return { items: (d?.items ?? []).concat(fresh.filter((l) => l.seq > last)) };
  });
}
