// Review before landing (#24): a task whose landing policy is `review` waits in review with
// its diff; a person comments on a line, requests changes, the agent continues its own
// conversation with the comment, and an approval lands the reviewed commit on main.
/* global window, document, requestAnimationFrame -- used inside page.evaluate callbacks, which run in the browser. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { api } from '../api.mjs';
import { shot } from '../browser.mjs';
import { completeUnchanged, startFakeAnthropic } from '../fake-anthropic.mjs';
import { assertNoAlert, makeGitRepo, openPage, T, waitLive } from '../helpers.mjs';
import { startServe } from '../server.mjs';

const engineEnv = (repo, fake) => ({
  HARNESS_WORKSPACE: repo,
  ANTHROPIC_API_KEY: 'sk-e2e-not-a-real-key',
  ANTHROPIC_BASE_URL: fake.url,
  HARNESS_TICK_SECS: '0.5',
  HARNESS_SESSION_SPACING_SECS: '0',
  HARNESS_RETRY_BASE_SECS: '0',
});

/** Polls the task until `pred` holds (the engine gets there on its own schedule). */
async function waitForTask(base, id, pred, what, timeout = 60_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const r = await api(base, 'GET', `/api/tasks/${id}`);
    if (r.json && pred(r.json)) return r.json;
    assert.ok(Date.now() < deadline, `task ${id} never ${what}: ${r.text}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

const inReview = (t) => t.status === 'review' && t.outcome?.kind === 'in_review';

/**
 * A scripted agent that writes `path` and completes, and, once a later request carries
 * `marker` (a reviewer's comment), writes `path` again with `revised` and completes.
 * Estimates (when an evaluator is staffed) are answered "small".
 */
function reviewScript({ path, first, revised, marker }) {
  return (body) => {
    const text = JSON.stringify(body.messages);
    if (text.includes('Estimate the size of')) return { text: 'Small.', tool: completeUnchanged('small: one file', 'An estimate changes nothing.') };
    const at = marker ? body.messages.findIndex((m) => JSON.stringify(m).includes(marker)) : -1;
    const since = at < 0 ? body.messages : body.messages.slice(at);
    const turns = since.filter((m) => m.role === 'assistant').length;
    if (turns === 0) {
      return at < 0
        ? { text: `Writing ${path}.`, tool: { name: 'write_file', input: { path, content: first } } }
        : { text: `Revising ${path} as the reviewer asked.`, tool: { name: 'write_file', input: { path, content: revised } } };
    }
    return { text: 'Done.', tool: { name: 'complete_task', input: { summary: at < 0 ? `Wrote ${path}.` : `Revised ${path}.` } } };
  };
}

export default [
  {
    name: 'review: a reviewed task waits with its diff, a line comment and Request changes reach the agent, and Approve lands it on main',
    async run({ browser, skip }) {
      const repo = makeGitRepo();
      const comment = `Greet the whole world here ${Date.now()}`;
      const fake = await startFakeAnthropic({
        delayMs: 150,
        script: reviewScript({ path: 'hello.txt', first: 'Hello\nThis file was written by the e2e agent.\n', revised: 'Hello, world\nThis file was written by the e2e agent.\n', marker: comment }),
      });
      const serve = await startServe({ env: engineEnv(repo, fake) });
      const errors = [];
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      try {
        const probe = await api(serve.url, 'GET', '/api/tasks/999999/diff');
        if (probe.status === 405 || (probe.status === 404 && !probe.json?.error)) return skip(`the server has no GET /api/tasks/{id}/diff route yet (${probe.status})`);
        const page = await openPage(context, errors);
        await page.goto(`${serve.url}/tasks`);
        await waitLive(page);

        // Created in the dialog with the landing policy "review".
        await page.getByRole('button', { name: 'New task' }).click();
        const dialog = page.getByRole('dialog', { name: 'New task' });
        await dialog.getByLabel('Title').fill('Write the greeting');
        await dialog.getByLabel('Landing').selectOption('review');
        await dialog.getByRole('button', { name: 'Create task' }).click();
        await dialog.waitFor({ state: 'detached', timeout: T });
        const list = await api(serve.url, 'GET', '/api/tasks?q=Write%20the%20greeting');
        const task = list.json.items[0];
        assert.equal(task.land, 'review', `the task's landing policy: ${JSON.stringify(task)}`);

        const first = await waitForTask(serve.url, task.id, inReview, 'reached review');
        // The board shows it in its Review column.
        const reviewColumn = page.getByRole('region', { name: /^review/i });
        await reviewColumn.getByRole('link', { name: /Write the greeting/ }).waitFor({ timeout: T });
        await shot(page, 'review-board');
        assert.notEqual(execFileSync('git', ['ls-tree', '--name-only', 'main'], { cwd: repo }).toString().includes('hello.txt'), true, 'nothing lands before the review');

        await reviewColumn.getByRole('link', { name: /Write the greeting/ }).click();
        const panel = page.getByRole('region', { name: 'Review', exact: true });
        await panel.getByRole('table', { name: 'Files changed' }).getByRole('link', { name: 'hello.txt' }).waitFor({ timeout: T });
        const file = panel.locator('.review-file[data-path="hello.txt"]');
        const line = file.locator('tr.diff-line', { hasText: 'Hello' }).first();
        await line.waitFor({ timeout: T });
        await assertNoAlert(page, 'review page');

        // Side by side shows the same line; back to unified to comment.
        await panel.getByRole('button', { name: 'Side by side' }).click();
        await file.locator('tr.diff-line', { hasText: 'This file was written' }).first().waitFor({ timeout: T });
        await shot(page, 'review-split');
        await panel.getByRole('button', { name: 'Unified' }).click();

        // A comment on line 1 of the new file, through the "+" beside it.
        await line.hover();
        await line.getByRole('button', { name: '+' }).click();
        const form = panel.getByRole('form', { name: 'New comment on hello.txt:1' });
        await form.getByRole('textbox').fill(comment);
        await form.getByRole('button', { name: 'Comment' }).click();
        await form.waitFor({ state: 'detached', timeout: T });
        await file.getByRole('article', { name: /Comment by .* on hello\.txt:1$/ }).waitFor({ timeout: T });
        const stored = await api(serve.url, 'GET', `/api/tasks/${task.id}/comments`);
        assert.equal(stored.json.items.length, 1, stored.text);
        assert.deepEqual([stored.json.items[0].path, stored.json.items[0].line, stored.json.items[0].side, stored.json.items[0].body], ['hello.txt', 1, 'new', comment]);
        await shot(page, 'review-commented');

        // Request changes: the open comment is the request.
        await panel.getByRole('button', { name: 'Request changes' }).click();
        await assertNoAlert(page, 'after Request changes');
        const deadline = Date.now() + 60_000;
        while (!fake.requests.some((r) => JSON.stringify(r.messages).includes(comment))) {
          assert.ok(Date.now() < deadline, 'the agent never received the comment');
          await new Promise((r) => setTimeout(r, 200));
        }
        // The follow-up continues the same conversation: the first attempt's turns come before it.
        const followUp = fake.requests.find((r) => JSON.stringify(r.messages).includes(comment));
        assert.ok(JSON.stringify(followUp.messages).includes('Writing hello.txt.'), 'the follow-up should continue the first conversation');

        const second = await waitForTask(serve.url, task.id, (t) => inReview(t) && t.outcome.commit !== first.outcome.commit, 'came back to review with a new commit');
        // The open page follows live: the diff is fetched again and shows the revision.
        await file.locator('tr.diff-line', { hasText: 'Hello, world' }).first().waitFor({ timeout: T });
        await panel.getByRole('region', { name: /Comments/ }).getByText('outdated').waitFor({ timeout: T });
        await shot(page, 'review-revised');

        await panel.getByRole('button', { name: 'Approve' }).click();
        await assertNoAlert(page, 'after Approve');
        const done = await waitForTask(serve.url, task.id, (t) => t.status === 'completed', 'completed after the approval');
        assert.equal(done.outcome?.kind, 'landed', `outcome: ${JSON.stringify(done.outcome)}`);
        const onMain = execFileSync('git', ['show', 'main:hello.txt'], { cwd: repo }).toString();
        assert.equal(onMain, 'Hello, world\nThis file was written by the e2e agent.\n');
        assert.equal(execFileSync('git', ['rev-parse', 'main'], { cwd: repo }).toString().trim(), done.outcome.commit, 'the landed commit is the tip of main');
        void second;
        await page.locator('dl.facts').getByText(done.outcome.commit, { exact: true }).waitFor({ timeout: T });
        await shot(page, 'review-approved');
        assert.deepEqual(errors, [], 'script errors');
      } finally {
        await context.close();
        await serve.stop();
        await fake.stop();
        rmSync(repo, { recursive: true, force: true });
      }
    },
  },
  {
    name: 'review: a 5,000-line diff draws in under a second in Chromium',
    async run({ browser, skip }) {
      const repo = makeGitRepo();
      const big = Array.from({ length: 5000 }, (_, i) => `export const value${i} = ${i}; // line ${i + 1}`).join('\n') + '\n';
      const fake = await startFakeAnthropic({ delayMs: 100, script: reviewScript({ path: 'src/big.ts', first: big }) });
      const serve = await startServe({ env: engineEnv(repo, fake) });
      const errors = [];
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      try {
        const probe = await api(serve.url, 'GET', '/api/tasks/999999/diff');
        if (probe.status === 405 || (probe.status === 404 && !probe.json?.error)) return skip(`the server has no GET /api/tasks/{id}/diff route yet (${probe.status})`);
        const created = await api(serve.url, 'POST', '/api/tasks', { title: 'Generate the big table', land: 'review' });
        assert.equal(created.status, 201, created.text);
        await waitForTask(serve.url, created.json.id, inReview, 'reached review');
        const diff = await api(serve.url, 'GET', `/api/tasks/${created.json.id}/diff`);
        assert.equal(diff.json.files[0].additions, 5000, `the diff: ${diff.text.slice(0, 300)}`);

        const page = await openPage(context, errors);
        // Once to have the scripts in the cache, as a person who has used the dashboard has.
        await page.goto(`${serve.url}/tasks/${created.json.id}`);
        await page.locator('.review-file tr.diff-line').first().waitFor({ timeout: T });
        const timings = [];
        for (let run = 0; run < 3; run++) {
          await page.goto(`${serve.url}/tasks/${created.json.id}`);
          // From the navigation's start to the diff's first lines drawn (highlighted), in the page's own clock.
          const drawn = await page.waitForFunction(() => document.querySelector('.review-file tr.diff-line') && performance.now(), null, { polling: 'raf', timeout: T });
          const firstMs = await drawn.jsonValue();
          // Then to the end of the file: the last line drawn after jumping there.
          const lastMs = await page.evaluate(
            () =>
              new Promise((resolve) => {
                const started = performance.now();
                window.scrollTo(0, document.body.scrollHeight);
                const look = () => {
                  const hit = [...document.querySelectorAll('.review-file tr.diff-line')].some((tr) => tr.textContent.includes('// line 5000'));
                  if (hit) resolve(performance.now() - started);
                  else requestAnimationFrame(look);
                };
                requestAnimationFrame(look);
              }),
          );
          timings.push({ firstMs: Math.round(firstMs), lastMs: Math.round(lastMs) });
        }
        console.log(`    5,000-line diff: navigation to first lines ${timings.map((t) => t.firstMs).join(', ')} ms; jump to the end to its last line ${timings.map((t) => t.lastMs).join(', ')} ms`);
        const best = (k) => Math.min(...timings.map((t) => t[k]));
        assert.ok(best('firstMs') < 1000, `the diff's first lines took ${best('firstMs')} ms from navigation`);
        assert.ok(best('lastMs') < 1000, `the last line took ${best('lastMs')} ms after jumping to the end`);
        await shot(page, 'review-5000-lines-end');
        await assertNoAlert(page, 'the big review');
        assert.deepEqual(errors, [], 'script errors');
      } finally {
        await context.close();
        await serve.stop();
        await fake.stop();
        rmSync(repo, { recursive: true, force: true });
      }
    },
  },
];
