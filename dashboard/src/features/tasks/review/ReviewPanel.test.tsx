import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router';
import { describe, expect, it } from 'vitest';
import { makeTask, renderWithProviders, stubFetch } from '@/test/utils';
import { TaskDetailPage } from '../components/TaskDetailPage';
import type { ReviewComment, Task, TaskDiff } from '@/lib/types';

const PATCH = `diff --git a/src/greet.rs b/src/greet.rs
index 1111111..2222222 100644
--- a/src/greet.rs
+++ b/src/greet.rs
@@ -1,3 +1,4 @@
 fn main() {
-    println!("hello");
+    println!("hello, world");
+    println!("bye");
 }
`;

const DIFF: TaskDiff = {
  base: 'main',
  base_commit: 'a'.repeat(40),
  head_commit: 'b'.repeat(40),
  branch: 'harness/T-9',
  truncated: false,
  files: [
    { path: 'src/greet.rs', old_path: null, status: 'modified', additions: 2, deletions: 1, binary: false, patch: PATCH },
    { path: 'logo.png', old_path: null, status: 'added', additions: 0, deletions: 0, binary: true, patch: '' },
  ],
};

const comment = (over: Partial<ReviewComment> = {}): ReviewComment => ({
  id: 1, task_id: 9, path: 'src/greet.rs', line: 3, end_line: null, side: 'new', body: 'Say goodbye properly.', author: 'api',
  commit: 'b'.repeat(40), line_text: '    println!("bye");', outdated: false, resolved: false,
  created_at: '2026-12-07T20:00:00Z', updated_at: '2026-12-07T20:00:00Z', ...over,
});

function serve(over: Partial<Task>, { comments = [] as ReviewComment[], diff = DIFF as TaskDiff | null } = {}) {
  const task = makeTask({ id: 9, title: 'Greet the world', attempts: 1, ...over });
  return stubFetch((url, init) => {
    const m = init.method;
    if (url.pathname === '/api/tasks/9' && m === 'GET') return { body: task };
    if (url.pathname === '/api/tasks/9/history') return { body: { items: [] } };
    if (url.pathname === '/api/tasks/9/dependents') return { body: { items: [] } };
    if (url.pathname === '/api/tasks/9/estimate') return { body: { estimate: null } };
    if (url.pathname === '/api/tasks/9/findings') return { body: { items: [] } };
    if (url.pathname === '/api/tasks/9/diff') return diff ? { body: diff } : { status: 404, body: { error: { code: 'not_found', message: 'no branch' } } };
    if (url.pathname === '/api/tasks/9/comments' && m === 'GET') return { body: { items: comments } };
    if (url.pathname === '/api/tasks/9/comments' && m === 'POST') {
      const b = JSON.parse(String(init.body)) as { path: string; line: number; side: 'new' | 'old'; body: string };
      return { status: 201, body: comment({ id: 2, ...b }) };
    }
    const one = /^\/api\/tasks\/9\/comments\/(\d+)$/.exec(url.pathname);
    if (one && m === 'PATCH') return { body: { ...comments.find((c) => c.id === Number(one[1]))!, ...(JSON.parse(String(init.body)) as object) } };
    if (one && m === 'DELETE') return { status: 204 };
    if (url.pathname === '/api/tasks/9/review' && m === 'POST') return { body: { ...task, status: 'pending' } };
    if (url.pathname === '/api/tasks/9/messages' && m === 'POST') return { body: { ...task, status: 'pending' } };
  });
}

const renderDetail = () =>
  renderWithProviders(
    <Routes>
      <Route path="/tasks/:taskId" element={<TaskDetailPage renderSessions={() => null} />} />
    </Routes>,
    { route: '/tasks/9' },
  );

const review = () => screen.findByRole('region', { name: 'Review' });

describe('the review screen', () => {
  it('lists the changed files and draws their lines', async () => {
    serve({ status: 'review' });
    renderDetail();
    const panel = await review();
    const files = within(panel).getByRole('table', { name: 'Files changed' });
    expect(within(files).getByRole('link', { name: 'src/greet.rs' })).toBeInTheDocument();
    expect(within(files).getByText('+2')).toBeInTheDocument();
    expect(within(files).getByText('−1')).toBeInTheDocument();
    expect(within(panel).getByText(/2 files changed/)).toBeInTheDocument();
    const file = within(panel).getByRole('region', { name: 'src/greet.rs' });
    expect(await within(file).findByText(/hello, world/)).toBeInTheDocument();
    expect(within(file).getByText(/"bye"/)).toBeInTheDocument();
    expect(within(panel).getByText('Binary file: not shown.')).toBeInTheDocument();
    // Side by side draws the same lines.
    await userEvent.click(within(panel).getByRole('button', { name: 'Side by side' }));
    expect(within(panel).getByRole('button', { name: 'Side by side' })).toHaveAttribute('aria-pressed', 'true');
    expect(await within(file).findByText(/hello, world/)).toBeInTheDocument();
  });

  it('is not shown when the task has no branch (404)', async () => {
    const calls = serve({ status: 'completed' }, { diff: null });
    renderDetail();
    await screen.findByRole('heading', { level: 1, name: /Greet the world/ });
    await waitFor(() => expect(calls.some((c) => c.url.pathname === '/api/tasks/9/diff')).toBe(true));
    expect(screen.queryByRole('region', { name: 'Review' })).toBeNull();
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('does not ask for the diff of a task that never started', async () => {
    const calls = serve({ status: 'pending', attempts: 0 });
    renderDetail();
    await screen.findByRole('heading', { level: 1, name: /Greet the world/ });
    await waitFor(() => expect(calls.some((c) => c.url.pathname === '/api/tasks/9/history')).toBe(true));
    expect(calls.some((c) => c.url.pathname === '/api/tasks/9/diff')).toBe(false);
    expect(screen.queryByRole('region', { name: 'Review' })).toBeNull();
  });

  it('posts a comment on a line with its path, line and side, and shows it inline and in the list', async () => {
    const calls = serve({ status: 'review' });
    renderDetail();
    const panel = await review();
    const file = within(panel).getByRole('region', { name: 'src/greet.rs' });
    const row = (await within(file).findByText(/"bye"/)).closest('tr')!;
    await userEvent.click(within(row).getByRole('button', { name: '+' }));
    const form = await within(file).findByRole('form', { name: 'New comment on src/greet.rs:3' });
    await userEvent.type(within(form).getByRole('textbox'), 'Say goodbye properly.');
    await userEvent.click(within(form).getByRole('button', { name: 'Comment' }));
    await waitFor(() => expect(calls.find((c) => c.method === 'POST' && c.url.pathname === '/api/tasks/9/comments')?.body).toEqual({ path: 'src/greet.rs', line: 3, side: 'new', body: 'Say goodbye properly.' }));
    // Inline at its line, and in the list with its place.
    expect(await within(file).findByRole('article', { name: 'Comment by api on src/greet.rs:3' })).toBeInTheDocument();
    const list = within(panel).getByRole('region', { name: /Comments/ });
    expect(within(list).getByRole('article', { name: 'Comment by api on src/greet.rs:3' })).toBeInTheDocument();
  });

  it('marks outdated comments and keeps them out of the diff', async () => {
    serve({ status: 'review' }, { comments: [comment({ id: 5, outdated: true, body: 'Old remark.' })] });
    renderDetail();
    const panel = await review();
    const list = within(panel).getByRole('region', { name: /Comments/ });
    const item = await within(list).findByRole('article', { name: /src\/greet.rs:3/ });
    expect(within(item).getByText('outdated')).toBeInTheDocument();
    const file = within(panel).getByRole('region', { name: 'src/greet.rs' });
    await within(file).findByText(/"bye"/);
    expect(within(file).queryByText('Old remark.')).toBeNull();
  });

  it('offers the verdict buttons only while the task is in review', async () => {
    serve({ status: 'completed' });
    renderDetail();
    const panel = await review();
    expect(within(panel).queryByRole('button', { name: 'Approve' })).toBeNull();
    expect(within(panel).queryByRole('button', { name: 'Request changes' })).toBeNull();
    expect(within(panel).queryByRole('button', { name: 'Reject' })).toBeNull();
    // A finished task's agent can still be messaged.
    expect(screen.getByRole('form', { name: 'Message the agent' })).toBeInTheDocument();
  });

  it('approves and requests changes with the message', async () => {
    const calls = serve({ status: 'review' });
    renderDetail();
    const panel = await review();
    await userEvent.type(within(panel).getByLabelText('Message to the agent'), 'Rename the function.');
    await userEvent.click(within(panel).getByRole('button', { name: 'Request changes' }));
    await waitFor(() => expect(calls.find((c) => c.url.pathname === '/api/tasks/9/review')?.body).toEqual({ action: 'request_changes', message: 'Rename the function.' }));
  });

  it('will not reject without a message', async () => {
    const calls = serve({ status: 'review' });
    renderDetail();
    const panel = await review();
    await userEvent.click(within(panel).getByRole('button', { name: 'Reject' }));
    expect(await within(panel).findByRole('alert')).toHaveTextContent(/Reject needs a message/);
    expect(calls.some((c) => c.url.pathname === '/api/tasks/9/review')).toBe(false);
    await userEvent.type(within(panel).getByLabelText('Message to the agent'), 'Wrong approach.');
    await userEvent.click(within(panel).getByRole('button', { name: 'Reject' }));
    await waitFor(() => expect(calls.find((c) => c.url.pathname === '/api/tasks/9/review')?.body).toEqual({ action: 'reject', message: 'Wrong approach.' }));
  });

  it('shows the server refusing a review', async () => {
    const calls = serve({ status: 'review' });
    renderDetail();
    const panel = await review();
    void calls;
    stubFetch((url, init) => {
      if (url.pathname === '/api/tasks/9/review' && init.method === 'POST') return { status: 422, body: { error: { code: 'invalid', message: 'request_changes needs a message or an open comment', field: 'message' } } };
    });
    await userEvent.click(within(panel).getByRole('button', { name: 'Request changes' }));
    expect(await within(panel).findByRole('alert')).toHaveTextContent('request_changes needs a message or an open comment');
  });

  it('messages the agent of a blocked task', async () => {
    const calls = serve({ status: 'blocked' });
    renderDetail();
    const box = await screen.findByRole('form', { name: 'Message the agent' });
    await userEvent.type(within(box).getByRole('textbox'), 'Try the other library.');
    await userEvent.click(within(box).getByRole('button', { name: 'Send to the agent' }));
    await waitFor(() => expect(calls.find((c) => c.url.pathname === '/api/tasks/9/messages')?.body).toEqual({ message: 'Try the other library.' }));
  });

  it('resolves, edits and deletes a comment', async () => {
    const calls = serve({ status: 'review' }, { comments: [comment({ id: 7 })] });
    renderDetail();
    const panel = await review();
    const list = within(panel).getByRole('region', { name: /Comments/ });
    const item = await within(list).findByRole('article', { name: 'Comment by api on src/greet.rs:3' });
    await userEvent.click(within(item).getByRole('button', { name: 'Resolve' }));
    await waitFor(() => expect(calls.find((c) => c.method === 'PATCH')?.body).toEqual({ resolved: true }));
    expect(await within(item).findByText('resolved')).toBeInTheDocument();
    await userEvent.click(within(item).getByRole('button', { name: 'Edit' }));
    const box = within(item).getByLabelText('Edit comment');
    await userEvent.clear(box);
    await userEvent.type(box, 'Say bye properly.');
    await userEvent.click(within(item).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(calls.filter((c) => c.method === 'PATCH').at(-1)?.body).toEqual({ body: 'Say bye properly.' }));
    await userEvent.click(within(item).getByRole('button', { name: 'Delete' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'DELETE' && c.url.pathname === '/api/tasks/9/comments/7')).toBe(true));
    await waitFor(() => expect(within(list).queryByRole('article')).toBeNull());
  });
});
