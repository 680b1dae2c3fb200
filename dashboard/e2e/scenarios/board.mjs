// The board as a first-time user meets it: cards that say everything, moves by drag and
// drop (mouse and keyboard) that the API allows and visibly refuses the rest, cancel
// that asks first, the paused banner, and no sideways scroll at phone width.
/* global document */
import assert from 'node:assert/strict';
import { api } from '../api.mjs';
import { shot } from '../browser.mjs';
import { appendLogLines, setTaskFields, writeSessionFixture } from '../fixtures.mjs';
import { openPage, T, waitLive } from '../helpers.mjs';
import { startServe } from '../server.mjs';

const LONG = 'Rewrite the invoice export so that every CSV and PDF it produces is paginated, streamed and checked against the ledger';

async function createTask(base, body) {
  const r = await api(base, 'POST', '/api/tasks', body);
  assert.equal(r.status, 201, r.text);
  return r.json;
}

/** Drags `card` with the mouse onto the middle of `column`, in small steps as a hand would. */
async function dragTo(page, card, column) {
  const from = await card.boundingBox();
  const to = await column.boundingBox();
  assert.ok(from && to, 'card and column must be on screen');
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(from.x + from.width / 2 + 10, from.y + from.height / 2 + 5, { steps: 3 });
  await page.mouse.move(to.x + to.width / 2, to.y + 120, { steps: 12 });
  await page.mouse.up();
  // The dragged copy is gone once it has landed (or flown back to where the card was).
  await page.locator('.task-card-overlay').waitFor({ state: 'detached', timeout: T });
}

async function statusOf(base, id) {
  const r = await api(base, 'GET', `/api/tasks/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.json.status;
}

/** The page must not scroll sideways: only the board itself may. */
async function assertNoSidewaysScroll(page, where) {
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
  assert.ok(scrollWidth <= clientWidth, `${where} scrolls sideways: scrollWidth ${scrollWidth} > clientWidth ${clientWidth}`);
}

const column = (page, name) => page.getByRole('region', { name: new RegExp(`^${name}`, 'i') });

export default [
  {
    name: 'board: cards show waiting-on, retry time and attempts; a drag the API allows moves the card, one it refuses is explained and the card stays',
    async run({ browser }) {
      const serve = await startServe();
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      try {
        const base = await createTask(serve.url, { title: 'Set up the billing schema', priority: 'P1' });
        const waiting = await createTask(serve.url, { title: LONG, depends_on: [base.id] });
        const backoff = await createTask(serve.url, { title: 'Flaky integration test', priority: 'P0', category: 'bug' });
        const broken = await createTask(serve.url, { title: 'Broken build step' });
        setTaskFields(serve.databasePath, backoff.id, { attempts: 2, retry_at: new Date(Date.now() + 150_000).toISOString() });
        setTaskFields(serve.databasePath, broken.id, { status: 'failed', attempts: 3, last_failure: 'cargo test failed' });

        const errors = [];
        const page = await openPage(context, errors);
        await page.goto(`${serve.url}/tasks`);
        await waitLive(page);
        const pending = column(page, 'pending');
        const waitingCard = pending.getByRole('link', { name: new RegExp(`${waiting.display_id} `) });
        await waitingCard.getByText(`waiting on ${base.display_id}`).waitFor({ timeout: T });
        assert.equal(await waitingCard.getByText(LONG).getAttribute('title'), LONG, 'the whole title is on hover');
        const backoffCard = pending.getByRole('link', { name: /Flaky integration test/ });
        await backoffCard.getByText(/^retries in (2|3)m$/).waitFor({ timeout: T });
        await backoffCard.getByText('attempt 2/3').waitFor({ timeout: T });
        await shot(page, 'board-1400');

        // Refused: only the orchestrator completes a task. The card goes back; the reason shows.
        const card = pending.getByRole('link', { name: /Set up the billing schema/ });
        await dragTo(page, card, column(page, 'completed'));
        const refusal = page.getByRole('alert').filter({ hasText: `${base.display_id} cannot move from pending to completed` });
        await refusal.waitFor({ timeout: T });
        assert.match(await refusal.innerText(), /only the orchestrator moves a task to completed/);
        await pending.getByRole('link', { name: /Set up the billing schema/ }).waitFor({ timeout: T });
        assert.equal(await statusOf(serve.url, base.id), 'pending');
        await shot(page, 'board-drop-refused');

        // Allowed, by mouse: cancel, which asks first. "Keep it" leaves the task alone.
        await dragTo(page, card, column(page, 'cancelled'));
        const confirm = page.getByRole('dialog', { name: `Cancel ${base.display_id}?` });
        await confirm.waitFor({ timeout: T });
        await page.waitForTimeout(150);
        await confirm.getByRole('button', { name: 'Keep it' }).click();
        await confirm.waitFor({ state: 'detached', timeout: T });
        // The modal blocks the page's pointer events until it has fully closed: the next
        // drag waits for that, as a hand would.
        await page.waitForFunction(() => document.body.style.pointerEvents !== 'none', null, { timeout: T });
        assert.equal(await statusOf(serve.url, base.id), 'pending');
        await dragTo(page, pending.getByRole('link', { name: /Set up the billing schema/ }), column(page, 'cancelled'));
        await confirm.waitFor({ timeout: T });
        // dnd-kit swallows the click that may follow a drop until its next tick; no hand
        // clicks the dialog's button that fast after letting go of a card.
        await page.waitForTimeout(150);
        await confirm.getByRole('button', { name: 'Cancel task' }).click();
        await confirm.waitFor({ state: 'detached', timeout: T });
        // The modal blocks the page's pointer events until it has fully closed.
        await page.waitForFunction(() => document.body.style.pointerEvents !== 'none', null, { timeout: T });
        await column(page, 'cancelled').getByRole('link', { name: /Set up the billing schema/ }).waitFor({ timeout: T });
        assert.equal(await statusOf(serve.url, base.id), 'cancelled');
        // A cancelled dependency is still not completed: the card keeps saying so.
        await waitingCard.getByText(`waiting on ${base.display_id}`).waitFor({ timeout: T });
        // Allowed, no question asked: a cancelled task is reopened by dragging it back to pending.
        await dragTo(page, column(page, 'cancelled').getByRole('link', { name: /Set up the billing schema/ }), pending);
        await pending.getByRole('link', { name: /Set up the billing schema/ }).waitFor({ timeout: T });
        assert.equal(await statusOf(serve.url, base.id), 'pending');

        // Allowed, by keyboard: a failed task goes back to pending (retry) with Space, arrows, Space.
        const failedCard = column(page, 'failed').getByRole('link', { name: /Broken build step/ });
        await failedCard.focus();
        await page.keyboard.press('Space');
        await page.locator('.task-card-overlay').waitFor({ timeout: T });
        // dnd-kit starts listening for the arrows a tick after the pick-up; no hand is that fast.
        await page.waitForTimeout(100);
        // Each arrow moves one column to the left; wait until the card is over it.
        for (const status of ['blocked', 'review', 'verifying', 'in_progress', 'pending']) {
          await page.keyboard.press('ArrowLeft');
          await page.locator(`.kanban-column[data-status="${status}"][data-over]`).waitFor({ timeout: T });
        }
        await page.keyboard.press('Space');
        await pending.getByRole('link', { name: /Broken build step/ }).waitFor({ timeout: T });
        assert.equal(await statusOf(serve.url, broken.id), 'pending');
        assert.equal(await page.getByRole('alert').count(), 0, 'no error after the allowed moves');
        assert.deepEqual(errors, [], 'script errors');
      } finally {
        await context.close();
        await serve.stop();
      }
    },
  },
  {
    name: 'board: the paused banner follows the orchestrator live, and Resume works from it',
    async run({ browser }) {
      const serve = await startServe();
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      try {
        const page = await context.newPage();
        await page.goto(`${serve.url}/tasks`);
        await waitLive(page);
        const banner = page.getByRole('status', { name: 'Orchestrator paused' });
        assert.equal(await banner.count(), 0, 'not paused yet');
        const paused = await api(serve.url, 'POST', '/api/orchestrator/pause');
        assert.equal(paused.status, 200, paused.text);
        await banner.waitFor({ timeout: T });
        await banner.getByText('The orchestrator is paused.').waitFor({ timeout: T });
        await shot(page, 'board-paused');
        await banner.getByRole('button', { name: 'Resume' }).click();
        await banner.waitFor({ state: 'detached', timeout: T });
        const status = await api(serve.url, 'GET', '/api/orchestrator/status');
        assert.equal(status.json.paused, false);
      } finally {
        await context.close();
        await serve.stop();
      }
    },
  },
  {
    name: 'cancel from the task page asks first; "Keep it" changes nothing',
    async run({ browser }) {
      const serve = await startServe();
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      try {
        const task = await createTask(serve.url, { title: 'Cancel me carefully' });
        const page = await context.newPage();
        await page.goto(`${serve.url}/tasks/${task.id}`);
        await page.getByRole('heading', { level: 1, name: /Cancel me carefully/ }).waitFor({ timeout: T });
        await page.getByRole('button', { name: 'Cancel task' }).click();
        const confirm = page.getByRole('dialog', { name: `Cancel ${task.display_id}?` });
        await confirm.waitFor({ timeout: T });
        await page.waitForTimeout(150);
        await confirm.getByRole('button', { name: 'Keep it' }).click();
        await confirm.waitFor({ state: 'detached', timeout: T });
        assert.equal(await statusOf(serve.url, task.id), 'pending', 'one click must not cancel');
        await page.getByRole('button', { name: 'Cancel task' }).click();
        await confirm.getByRole('button', { name: 'Cancel task' }).click();
        await page.getByRole('region', { name: 'History' }).getByRole('cell', { name: 'cancelled', exact: true }).waitFor({ timeout: T });
        assert.equal(await statusOf(serve.url, task.id), 'cancelled');
        assert.equal(await page.getByRole('button', { name: 'Cancel task' }).count(), 0, 'a cancelled task offers no cancel');
        await page.getByRole('button', { name: 'Reopen' }).click();
        // Pending again: it can be cancelled again, and the history says who reopened it.
        await page.getByRole('button', { name: 'Cancel task' }).waitFor({ timeout: T });
        await page.getByRole('region', { name: 'History' }).getByRole('cell', { name: 'reopened by a user' }).waitFor({ timeout: T });
        assert.equal(await statusOf(serve.url, task.id), 'pending');
      } finally {
        await context.close();
        await serve.stop();
      }
    },
  },
  {
    name: 'no sideways scroll at 390 px on the board, agents, task and session pages; screenshots at 1400 and 390 px',
    async run({ browser }) {
      const serve = await startServe();
      try {
        const base = await createTask(serve.url, { title: 'Set up the billing schema', priority: 'P1' });
        const task = await createTask(serve.url, { title: LONG, depends_on: [base.id], pass_criteria: ['the export matches the ledger'] });
        await createTask(serve.url, { title: 'A_single_word_title_without_any_spaces_that_cannot_wrap_at_a_space_anywhere', category: 'docs' });
        setTaskFields(serve.databasePath, task.id, { status: 'failed', attempts: 3, last_failure: "verification failed: 2 tests\n\nThe agent's last message:\n" });
        const sessionId = writeSessionFixture(serve.databasePath, { taskId: task.id, agentId: 'build-1', lines: 30 });
        appendLogLines(serve.databasePath, sessionId, [
          ['tool_call', JSON.stringify({ name: 'run_command', input: { command: 'cargo test --workspace --all-features -- --nocapture invoice_export_is_paginated_and_streamed_and_matches_the_ledger' } })],
          ['output', '[cargo test] running 2 tests'],
          ['tool_result', JSON.stringify({ name: 'run_command', output: 'exit 101\ntest invoice_export ... FAILED', is_error: true })],
        ]);
        for (const [width, height] of [[1400, 900], [390, 844]]) {
          const context = await browser.newContext({ viewport: { width, height }, isMobile: width < 500 });
          const errors = [];
          const page = await openPage(context, errors);
          const pages = [
            ['/tasks', page.getByRole('heading', { level: 1, name: 'Tasks' }), 'board'],
            ['/agents', page.getByRole('heading', { level: 1, name: 'Agents' }), 'agents'],
            [`/tasks/${task.id}`, page.getByRole('heading', { level: 1, name: /Rewrite the invoice export/ }), 'task'],
            [`/sessions/${sessionId}`, page.getByRole('heading', { level: 1, name: `Session #${sessionId}` }), 'session'],
          ];
          for (const [path, heading, name] of pages) {
            await page.goto(serve.url + path);
            await heading.waitFor({ timeout: T });
            await waitLive(page);
            await page.waitForLoadState('networkidle');
            await assertNoSidewaysScroll(page, `${path} at ${width} px`);
            await shot(page, `${name}-${width}`);
          }
          // The session page: the task by id and title, the command inline, no dangling heading.
          await page.getByRole('link', { name: `${task.display_id} · ${LONG}` }).waitFor({ timeout: T });
          const call = page.getByRole('log', { name: 'Session log' }).getByRole('button', { name: /Tool call: run_command cargo test --workspace/ });
          await call.waitFor({ timeout: T });
          await call.click();
          await page.getByRole('log', { name: 'Session log' }).getByText('test invoice_export ... FAILED').first().waitFor({ timeout: T });
          await assertNoSidewaysScroll(page, `session with an open tool call at ${width} px`);
          await shot(page, `session-tool-open-${width}`);
          await page.goto(`${serve.url}/tasks/${task.id}`);
          const failure = page.getByRole('region', { name: 'Why the last attempt failed' });
          await failure.waitFor({ timeout: T });
          assert.doesNotMatch(await failure.innerText(), /last message/, 'an empty "last message" heading is not shown');
          assert.deepEqual(errors, [], `script errors at ${width} px`);
          await context.close();
        }
      } finally {
        await serve.stop();
      }
    },
  },
];
