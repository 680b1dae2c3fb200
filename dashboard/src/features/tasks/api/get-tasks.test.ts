import { describe, expect, it } from 'vitest';
import { makeTask, stubFetch, testQueryClient } from '@/test/utils';
import { tasksOptions } from './get-tasks';

describe('board column paging', () => {
  it('asks for each next page by the cursor the previous one returned, and stops without one', async () => {
    const [a, b, c] = [makeTask({ id: 1 }), makeTask({ id: 2 }), makeTask({ id: 3 })];
    const calls = stubFetch((url) => {
      if (url.pathname !== '/api/tasks') return undefined;
      const cursor = url.searchParams.get('cursor');
      if (!cursor) return { body: { items: [a, b], total: 3, limit: 2, offset: 0, next_cursor: 'c-2' } };
      if (cursor === 'c-2') return { body: { items: [c], total: 3, limit: 2, offset: 0 } };
    });
    const qc = testQueryClient();
    const options = tasksOptions({ status: 'pending' });
    const data = await qc.fetchInfiniteQuery({ ...options, pages: 3 });
    expect(data.pages.flatMap((p) => p.items.map((t) => t.id))).toEqual([1, 2, 3]);
    // Two pages: the second had no next_cursor, so there was no third request.
    expect(calls.map((x) => x.url.searchParams.get('cursor'))).toEqual([null, 'c-2']);
    expect(calls.every((x) => !x.url.searchParams.has('offset') && x.url.searchParams.get('status') === 'pending')).toBe(true);
    expect(options.getNextPageParam(data.pages[1]!, data.pages, 'c-2', data.pageParams)).toBeUndefined();
  });
});
