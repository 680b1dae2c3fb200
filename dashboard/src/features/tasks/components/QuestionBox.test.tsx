import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router';
import { describe, expect, it } from 'vitest';
import { makeTask, renderWithProviders, stubFetch } from '@/test/utils';
import { TaskDetailPage } from './TaskDetailPage';

function serve(question: string | null) {
  const task = makeTask({ id: 5, title: 'Needs a decision', status: 'blocked', question });
  return stubFetch((url, init) => {
    if (url.pathname === '/api/tasks/5' && init.method === 'GET') return { body: task };
    if (url.pathname === '/api/tasks/5/history') return { body: { items: [] } };
    if (url.pathname === '/api/tasks/5/dependents') return { body: { items: [] } };
    if (url.pathname === '/api/tasks/5/answer') return { body: { ...task, answer: 'SQLite' } }; // The server keeps the question until the agent resumes.
  });
}

const renderDetail = () =>
  renderWithProviders(
    <Routes>
      <Route path="/tasks/:taskId" element={<TaskDetailPage renderSessions={() => null} />} />
    </Routes>,
    { route: '/tasks/5' },
  );

describe('human question on a task', () => {
  it('is answered from the box, which then goes away', async () => {
    const calls = serve('Which database should the cache use?');
    renderDetail();
    expect(await screen.findByText('Which database should the cache use?')).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText('Your answer'), 'SQLite');
    await userEvent.click(screen.getByRole('button', { name: 'Send answer' }));
    expect(calls.find((c) => c.url.pathname === '/api/tasks/5/answer')?.body).toEqual({ answer: 'SQLite' });
    await waitFor(() => expect(screen.queryByLabelText('Your answer')).toBeNull());
    expect(screen.getByText(/the agent resumes with it/)).toBeInTheDocument();
  });

  it('is not shown when no question is pending', async () => {
    serve(null);
    renderDetail();
    await screen.findByRole('heading', { level: 1, name: /Needs a decision/ });
    expect(screen.queryByLabelText('Your answer')).toBeNull();
  });
});
