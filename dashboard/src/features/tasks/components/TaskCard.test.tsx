import { act, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { applyLiveMessages } from '@/app/live-cache';
import { keys } from '@/lib/query-keys';
import { makeTask, page, renderWithProviders, stubFetch, testQueryClient } from '@/test/utils';
import { TaskCard } from './TaskCard';

const long = 'Rewrite the session log viewer so that tool calls show their command inline and nothing is ever cut off';

afterEach(() => {
  vi.useRealTimers();
});

describe('task card', () => {
  it('shows the whole title on hover and the attempt count in full', () => {
    stubFetch(() => undefined);
    renderWithProviders(<TaskCard task={makeTask({ id: 1, title: long, attempts: 2, max_attempts: 3 })} />);
    expect(screen.getByText(long)).toHaveAttribute('title', long);
    expect(screen.getByText('attempt 2/3')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: `T-1 ${long}` })).toHaveAttribute('href', '/tasks/1');
  });

  it('says which dependencies it waits on, read from the board when it has them, and stops once they complete', async () => {
    const calls = stubFetch((url) => {
      if (url.pathname === '/api/tasks/3') return { body: makeTask({ id: 3, status: 'pending' }) };
    });
    const qc = testQueryClient();
    const done = makeTask({ id: 2, status: 'completed' });
    const running = makeTask({ id: 4, status: 'in_progress' });
    // T-2 and T-4 are in board columns already; T-3 is not and is fetched.
    qc.setQueryData(keys.taskList({ status: 'completed' }), { pages: [page([done])], pageParams: [0] });
    qc.setQueryData(keys.taskList({ status: 'in_progress' }), { pages: [page([running])], pageParams: [0] });
    renderWithProviders(<TaskCard task={makeTask({ id: 5, depends_on: [2, 3, 4] })} />, { qc });
    expect(await screen.findByText('waiting on T-3, T-4')).toBeInTheDocument();
    expect(calls.map((c) => c.url.pathname)).toEqual(['/api/tasks/3']);
    act(() => {
      applyLiveMessages(qc, [
        { type: 'task.updated', seq: 1, data: { ...running, status: 'completed' } },
        { type: 'task.updated', seq: 2, data: makeTask({ id: 3, status: 'completed' }) },
      ]);
    });
    await waitFor(() => expect(screen.queryByText(/waiting on/)).toBeNull());
  });

  it('shows when a task waiting out its backoff retries, counting down', () => {
    vi.useFakeTimers({ now: Date.parse('2026-11-27T18:00:00Z'), toFake: ['Date', 'setInterval', 'clearInterval'] });
    stubFetch(() => undefined);
    renderWithProviders(<TaskCard task={makeTask({ id: 6, status: 'pending', attempts: 1, retry_at: '2026-11-27T18:02:00Z' })} />);
    expect(screen.getByText('retries in 2m')).toBeInTheDocument();
    act(() => {
      vi.advanceTimersByTime(75_000);
    });
    expect(screen.getByText('retries in 45s')).toBeInTheDocument();
    act(() => {
      vi.advanceTimersByTime(60_000);
    });
    expect(screen.getByText('retry due now')).toBeInTheDocument();
  });

  it('shows what a completed task did: the commit it landed, or no changes', () => {
    stubFetch(() => undefined);
    const commit = 'abc1234def5678900112233445566778899aabbc';
    const { unmount } = renderWithProviders(<TaskCard task={makeTask({ id: 7, status: 'completed', outcome: { kind: 'landed', commit } })} />);
    const landed = screen.getByText(/^landed/);
    expect(landed).toHaveTextContent(/^landed abc1234$/);
    expect(landed).toHaveAttribute('title', commit);
    unmount();
    renderWithProviders(<TaskCard task={makeTask({ id: 8, status: 'completed', outcome: { kind: 'no_changes' } })} />);
    expect(screen.getByText('no changes')).toBeInTheDocument();
  });

  it('shows that verified work waits to land, with the reason on hover', () => {
    stubFetch(() => undefined);
    const reason = 'the checkout of main has uncommitted changes in the way';
    renderWithProviders(<TaskCard task={makeTask({ id: 10, status: 'verifying', outcome: { kind: 'waiting_to_land', reason } })} />);
    expect(screen.getByText('waiting to land')).toHaveAttribute('title', reason);
  });

  it('shows nothing extra for a task completed before outcomes were recorded', () => {
    stubFetch(() => undefined);
    renderWithProviders(<TaskCard task={makeTask({ id: 9, status: 'completed', outcome: null })} />);
    expect(screen.queryByText(/landed|no changes/)).toBeNull();
    expect(document.querySelector('.task-card-meta')?.textContent).toBe('feature');
  });
});
