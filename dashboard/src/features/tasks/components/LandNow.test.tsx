import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router';
import { describe, expect, it } from 'vitest';
import { makeTask, renderWithProviders, stubFetch } from '@/test/utils';
import type { Task } from '@/lib/types';
import { TaskDetailPage } from './TaskDetailPage';

function serve(task: Task, landed: Task) {
  return stubFetch((url, init) => {
    if (url.pathname === '/api/tasks/7' && init.method === 'GET') return { body: task };
    if (url.pathname === '/api/tasks/7/history') return { body: { items: [] } };
    if (url.pathname === '/api/tasks/7/dependents') return { body: { items: [] } };
    if (url.pathname === '/api/tasks/7/estimate') return { body: { estimate: null } };
    if (url.pathname === '/api/tasks/7/land' && init.method === 'POST') return { status: 202, body: landed };
  });
}

const renderDetail = () =>
  renderWithProviders(
    <Routes>
      <Route path="/tasks/:taskId" element={<TaskDetailPage renderSessions={() => null} />} />
    </Routes>,
    { route: '/tasks/7' },
  );

describe('verified work waiting to land', () => {
  it('shows why and lands on "Land now"', async () => {
    const reason = 'main is checked out at /repo and refuses the fast-forward';
    const waiting = makeTask({ id: 7, status: 'verifying', outcome: { kind: 'waiting_to_land', reason } });
    const calls = serve(waiting, waiting);
    renderDetail();
    expect(await screen.findByText(`verified, waiting to land: ${reason}`)).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Land now' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST' && c.url.pathname === '/api/tasks/7/land')).toBe(true));
  });

  it('offers no "Land now" to a task that is not waiting', async () => {
    const done = makeTask({ id: 7, status: 'completed', outcome: { kind: 'landed', commit: 'abc1234def' } });
    serve(done, done);
    renderDetail();
    await screen.findByRole('heading', { level: 1 });
    expect(screen.queryByRole('button', { name: 'Land now' })).toBeNull();
  });
});
