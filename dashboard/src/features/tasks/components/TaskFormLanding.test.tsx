import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { makeTask, renderWithProviders, stubFetch } from '@/test/utils';
import type { Task } from '@/lib/types';
import { TaskFormDialog } from './TaskFormDialog';

function serve() {
  return stubFetch((url, init) => {
    if (url.pathname === '/api/tasks' && init.method === 'POST') return { status: 201, body: makeTask({ id: 30 }) };
    if (url.pathname === '/api/tasks/31' && init.method === 'PATCH') return { body: makeTask({ id: 31 }) };
  });
}

describe('a task\'s landing policy in its form', () => {
  it('a new task waits for review when asked to', async () => {
    const calls = serve();
    renderWithProviders(<TaskFormDialog open onOpenChange={() => {}} />);
    const dialog = await screen.findByRole('dialog', { name: 'New task' });
    await userEvent.type(within(dialog).getByLabelText('Title'), 'Reviewed change');
    await userEvent.selectOptions(within(dialog).getByLabelText('Landing'), 'Wait for my review before landing');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Create task' }));
    await waitFor(() => expect(calls.find((c) => c.method === 'POST')?.body).toMatchObject({ title: 'Reviewed change', land: 'review' }));
  });

  it('a new task left to its role sends no policy', async () => {
    const calls = serve();
    renderWithProviders(<TaskFormDialog open onOpenChange={() => {}} />);
    const dialog = await screen.findByRole('dialog', { name: 'New task' });
    await userEvent.type(within(dialog).getByLabelText('Title'), 'Plain change');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Create task' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST')).toBe(true));
    expect(calls.find((c) => c.method === 'POST')?.body).not.toHaveProperty('land');
  });

  it('editing shows the task\'s policy and gives it back to the role with null', async () => {
    const calls = serve();
    const task = { ...makeTask({ id: 31 }), land: 'review' } as Task;
    renderWithProviders(<TaskFormDialog open onOpenChange={() => {}} task={task} />);
    const dialog = await screen.findByRole('dialog', { name: 'Edit T-31' });
    const select = within(dialog).getByLabelText('Landing');
    expect(select).toHaveValue('review');
    await userEvent.selectOptions(select, 'As its role says');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(calls.find((c) => c.method === 'PATCH')?.body).toMatchObject({ land: null }));
  });
});
