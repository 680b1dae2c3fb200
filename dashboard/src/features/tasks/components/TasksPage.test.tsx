import { act, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { applyLiveMessages } from '@/app/live-cache';
import { makeTask, page, renderWithProviders, stubFetch } from '@/test/utils';
import type { Task } from '@/lib/types';
import { TasksPage } from './TasksPage';

function serveTasks(tasks: Task[]) {
  return stubFetch((url, init) => {
    if (url.pathname === '/api/tasks' && init.method === 'GET') {
      const status = url.searchParams.get('status');
      const items = tasks.filter((t) => !status || t.status === status);
      return { body: page(items) };
    }
    if (url.pathname === '/api/tasks' && init.method === 'POST') {
      return { status: 422, body: { error: { code: 'validation_failed', message: 'title must be at most 200 characters', field: 'title' } } };
    }
  });
}

const column = (name: RegExp) => screen.getByRole('region', { name });

describe('kanban board', () => {
  it('puts each task in the column of its status', async () => {
    serveTasks([
      makeTask({ id: 1, title: 'Write spec', status: 'pending' }),
      makeTask({ id: 2, title: 'Build API', status: 'in_progress' }),
      makeTask({ id: 3, title: 'Broken', status: 'failed' }),
    ]);
    renderWithProviders(<TasksPage />, { route: '/tasks' });
    expect(await within(column(/^pending/)).findByRole('link', { name: /Write spec/ })).toBeInTheDocument();
    expect(await within(column(/^in progress/)).findByRole('link', { name: /Build API/ })).toBeInTheDocument();
    expect(await within(column(/^failed/)).findByRole('link', { name: /Broken/ })).toBeInTheDocument();
    expect(within(column(/^pending/)).queryByRole('link', { name: /Broken/ })).toBeNull();
  });

  it('moves a card when a live update changes its status', async () => {
    const t = makeTask({ id: 4, title: 'Moving task', status: 'pending' });
    serveTasks([t]);
    const { qc } = renderWithProviders(<TasksPage />, { route: '/tasks' });
    await within(column(/^pending/)).findByRole('link', { name: /Moving task/ });
    await within(column(/^verifying/)).findByText('No tasks');
    act(() => {
      applyLiveMessages(qc, [{ type: 'task.updated', seq: 2, data: { ...t, status: 'verifying' } }]);
    });
    expect(await within(column(/^verifying/)).findByRole('link', { name: /Moving task/ })).toBeInTheDocument();
    expect(within(column(/^pending/)).queryByRole('link', { name: /Moving task/ })).toBeNull();
  });

  it("shows the server's validation message when creating a task fails", async () => {
    serveTasks([]);
    renderWithProviders(<TasksPage />, { route: '/tasks' });
    await userEvent.click(screen.getByRole('button', { name: 'New task' }));
    const dialog = await screen.findByRole('dialog', { name: 'New task' });
    await userEvent.type(within(dialog).getByLabelText('Title'), 'x'.repeat(30));
    await userEvent.click(within(dialog).getByRole('button', { name: 'Create task' }));
    expect(await within(dialog).findByRole('alert')).toHaveTextContent('title must be at most 200 characters');
  });
});
