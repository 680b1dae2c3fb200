import { describe, expect, it } from 'vitest';
import { stubFetch, testQueryClient } from '@/test/utils';
import { sessionsOptions } from './get-sessions';

describe('sessions paging', () => {
  it('asks for each next page by the cursor the previous one returned, and stops without one', async () => {
    const session = (id: number) => ({ id, task_id: 7, agent_id: 'build-1', status: 'completed' });
    const calls = stubFetch((url) => {
      if (url.pathname !== '/api/sessions') return undefined;
      const cursor = url.searchParams.get('cursor');
      if (!cursor) return { body: { items: [session(9), session(8)], total: 3, limit: 2, offset: 0, next_cursor: '8' } };
      if (cursor === '8') return { body: { items: [session(7)], total: 3, limit: 2, offset: 0 } };
    });
    const qc = testQueryClient();
    const options = sessionsOptions({ task_id: 7 });
    const data = await qc.fetchInfiniteQuery({ ...options, pages: 3 });
    expect(data.pages.flatMap((p) => p.items.map((s) => s.id))).toEqual([9, 8, 7]);
    // Two pages: the second had no next_cursor, so there was no third request.
    expect(calls.map((x) => x.url.searchParams.get('cursor'))).toEqual([null, '8']);
    expect(calls.every((x) => !x.url.searchParams.has('offset') && x.url.searchParams.get('task_id') === '7')).toBe(true);
  });
});
