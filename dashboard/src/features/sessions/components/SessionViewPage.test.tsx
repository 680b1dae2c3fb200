import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router';
import { describe, expect, it } from 'vitest';
import { applyLiveMessages } from '@/app/live-cache';
import type { LogLine, Session } from '@/lib/types';
import { makeTask, renderWithProviders, stubFetch } from '@/test/utils';
import { SessionViewPage } from './SessionViewPage';

const at = '2026-11-27T18:00:00Z';
const session: Session = {
  id: 7, task_id: 3, agent_id: 'build-1', model: 'claude-sonnet-4-5', status: 'running', started_at: at, ended_at: null,
  exit_reason: null, purpose: 'attempt', input_tokens: 1200, output_tokens: 300, cache_read_tokens: 0, cache_write_tokens: 0, cost_usd: 0.012, log_bytes: 17,
};
const line = (seq: number, content: string): LogLine => ({ session_id: 7, seq, at, kind: 'text', content });

describe('session view', () => {
  it('shows the stored log, then live lines as they arrive', async () => {
    stubFetch((url) => {
      if (url.pathname === '/api/sessions/7') return { body: session };
      if (url.pathname === '/api/sessions/7/logs') {
        const after = Number(url.searchParams.get('after') ?? 0);
        return { body: { items: [line(1, 'Reading the task.')].filter((l) => l.seq > after) } };
      }
    });
    const { qc } = renderWithProviders(
      <Routes>
        <Route path="/sessions/:sessionId" element={<SessionViewPage />} />
      </Routes>,
      { route: '/sessions/7' },
    );
    const log = await screen.findByRole('log', { name: 'Session log' });
    expect(await within(log).findByText('Reading the task.')).toBeInTheDocument();
    act(() => {
      applyLiveMessages(qc, [{ type: 'session.log', seq: 40, data: line(2, 'Running cargo test.') }]);
    });
    expect(await within(log).findByText('Running cargo test.')).toBeInTheDocument();
    expect(screen.getByText(/2 lines · live/)).toBeInTheDocument();
  });

  it('shows where a remote session runs: executor, pod and node', async () => {
    const remote = { ...session, executor: 'kubernetes', executor_name: 'harness-attempt-7', executor_node: 'node-7' };
    stubFetch((url) => {
      if (url.pathname === '/api/sessions/7') return { body: remote };
      if (url.pathname === '/api/sessions/7/logs') return { body: { items: [] } };
    });
    renderWithProviders(
      <Routes>
        <Route path="/sessions/:sessionId" element={<SessionViewPage />} />
      </Routes>,
      { route: '/sessions/7' },
    );
    const runsOn = (await screen.findByText('Runs on')).nextElementSibling;
    expect(runsOn).toHaveTextContent('kubernetes · harness-attempt-7 · node-7');
  });

  it("shows the server's message when the session does not exist", async () => {
    stubFetch(() => ({ status: 404, body: { error: { code: 'not_found', message: 'session 99 not found' } } }));
    renderWithProviders(
      <Routes>
        <Route path="/sessions/:sessionId" element={<SessionViewPage />} />
      </Routes>,
      { route: '/sessions/99' },
    );
    expect((await screen.findAllByRole('alert'))[0]).toHaveTextContent('session 99 not found');
  });

  /** The session page against a server holding `s`; cancelling task 3 calls `onCancel`. */
  const renderSession = (s: Session, onCancel?: () => void) => {
    const calls = stubFetch((url, init) => {
      if (url.pathname === '/api/sessions/7') return { body: s };
      if (url.pathname === '/api/sessions/7/logs') return { body: { items: [] } };
      if (url.pathname === '/api/tasks/3/cancel' && init.method === 'POST') {
        onCancel?.();
        return { body: makeTask({ id: 3, status: 'cancelled' }) };
      }
    });
    const view = renderWithProviders(
      <Routes>
        <Route path="/sessions/:sessionId" element={<SessionViewPage />} />
      </Routes>,
      { route: '/sessions/7' },
    );
    return { calls, qc: view.qc };
  };

  it('stops a running attempt by cancelling its task, after asking', async () => {
    const { calls, qc } = renderSession(session);
    const cancels = () => calls.filter((c) => c.method === 'POST' && c.url.pathname === '/api/tasks/3/cancel');
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Stop' }));
    const dialog = screen.getByRole('dialog', { name: 'Stop session #7?' });
    expect(dialog).toHaveTextContent('This cancels its task T-3');
    expect(dialog).toHaveTextContent('can be reopened later');
    await user.click(within(dialog).getByRole('button', { name: 'Keep it' }));
    expect(cancels()).toHaveLength(0);
    await user.click(screen.getByRole('button', { name: 'Stop' }));
    await user.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Stop and cancel task' }));
    await waitFor(() => expect(cancels()).toHaveLength(1));
    // The session's end arrives over /ws: nothing left to stop.
    act(() => {
      applyLiveMessages(qc, [{ type: 'session.updated', seq: 41, data: { ...session, status: 'cancelled', ended_at: at } }]);
    });
    await waitFor(() => expect(screen.queryByRole('button', { name: 'Stop' })).toBeNull());
    expect(calls.filter((c) => c.url.pathname === '/api/sessions/7')).toHaveLength(1);
  });

  it.each([
    ['a finished attempt', { ...session, status: 'succeeded' as const, ended_at: at }],
    ['a running session that is not an attempt', { ...session, purpose: 'investigation' }],
  ])('has no Stop button for %s', async (_, s) => {
    renderSession(s);
    await screen.findByText('Purpose');
    expect(screen.queryByRole('button', { name: 'Stop' })).toBeNull();
  });
});
