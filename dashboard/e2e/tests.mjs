// The end-to-end scenarios. Each gets a fresh `harness serve` on a temp database.
/* global window, document, requestAnimationFrame -- used inside page.evaluate callbacks, which run in the browser. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api } from './api.mjs';
import { shot } from './browser.mjs';
import { startFakeAnthropic } from './fake-anthropic.mjs';
import { writeSessionFixture } from './fixtures.mjs';
import { startGateway, startServe } from './server.mjs';

const T = 15_000;
const PAGES = [
  ['/', 'Overview'],
  ['/tasks', 'Tasks'],
  ['/sessions', 'Sessions'],
  ['/agents', 'Agents'],
  ['/events', 'Events'],
  ['/usage', 'Usage'],
];

/** A page that fails the test on any uncaught script error. */
async function openPage(context, errors) {
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(err.message));
  return page;
}

async function waitLive(page) {
  await page.getByRole('status', { name: 'Connection: Live' }).waitFor({ timeout: T });
}

/** Fails with the alert's text if the page shows an error; pages must load cleanly. */
async function assertNoAlert(page, where) {
  const alerts = page.getByRole('alert');
  if ((await alerts.count()) > 0) assert.fail(`${where} shows an error: ${await alerts.first().innerText()}`);
}

async function createTaskOnBoard(page, title) {
  await page.getByRole('button', { name: 'New task' }).click();
  const dialog = page.getByRole('dialog', { name: 'New task' });
  await dialog.getByLabel('Title').fill(title);
  await dialog.getByLabel('Description').fill('Created by the e2e suite.');
  await dialog.getByRole('button', { name: 'Create task' }).click();
  await dialog.waitFor({ state: 'detached', timeout: T });
}

/** A throwaway git repository for the engine to work in. */
function makeGitRepo() {
  const dir = mkdtempSync(join(tmpdir(), 'harness-e2e-repo-'));
  const git = (...args) => execFileSync('git', ['-c', 'user.name=e2e', '-c', 'user.email=e2e@localhost', ...args], { cwd: dir, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  writeFileSync(join(dir, 'README.md'), '# e2e target\n');
  git('add', '.');
  git('commit', '-q', '-m', 'initial');
  return dir;
}

/** Creates `n` tasks through the API, eight requests at a time. */
async function seedTasks(base, n) {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const k = next++;
      const r = await api(base, 'POST', '/api/tasks', { title: `Scale task ${k}`, priority: `P${k % 5}`, category: k % 2 ? 'bug' : 'feature' });
      assert.equal(r.status, 201, r.text);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/** Opens the board in two tabs, creates a task in one and waits for it in the other. */
async function twoTabFlow(browser, base, label) {
  const errors = [];
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  try {
    const [a, b] = [await openPage(context, errors), await openPage(context, errors)];
    for (const p of [a, b]) {
      await p.goto(`${base}/tasks`);
      await waitLive(p);
    }
    await b.evaluate(() => {
      window.__notReloaded = true;
    });
    const title = `Live task ${label} ${Date.now()}`;
    await createTaskOnBoard(a, title);
    const pending = b.getByRole('region', { name: /^pending/i });
    await pending.getByRole('link', { name: new RegExp(title) }).waitFor({ timeout: T });
    assert.equal(await b.evaluate(() => window.__notReloaded), true, 'second tab reloaded');
    await shot(b, `${label}-second-tab`);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
}

export const tests = [
  {
    name: 'visits every page (light, dark, phone) and saves screenshots',
    async run({ browser }) {
      const serve = await startServe();
      try {
        const created = await api(serve.url, 'POST', '/api/tasks', { title: 'Screenshot task', description: 'For the detail page.', pass_criteria: ['cargo test passes'] });
        assert.equal(created.status, 201, created.text);
        const sessionId = writeSessionFixture(serve.databasePath, { taskId: created.json.id, agentId: 'build-1', lines: 40 });
        const variants = [
          ['light', { viewport: { width: 1280, height: 720 }, colorScheme: 'light' }],
          ['dark', { viewport: { width: 1280, height: 720 }, colorScheme: 'dark' }],
          ['phone', { viewport: { width: 390, height: 844 }, colorScheme: 'light', isMobile: true }],
        ];
        for (const [variant, options] of variants) {
          const errors = [];
          const context = await browser.newContext(options);
          const page = await openPage(context, errors);
          for (const [path, heading] of [...PAGES, [`/tasks/${created.json.id}`, /Screenshot task/], [`/sessions/${sessionId}`, `Session #${sessionId}`]]) {
            await page.goto(serve.url + path);
            await page.getByRole('heading', { level: 1, name: heading }).waitFor({ timeout: T });
            await waitLive(page);
            await page.waitForLoadState('networkidle');
            await assertNoAlert(page, `${path} (${variant})`);
            await shot(page, `${variant}-${path === '/' ? 'overview' : path.slice(1).replace(/\//g, '-')}`);
          }
          assert.deepEqual(errors, [], `script errors in ${variant}`);
          await context.close();
        }
      } finally {
        await serve.stop();
      }
    },
  },
  {
    name: 'a task created on the board appears in a second tab without reload',
    async run({ browser }) {
      const serve = await startServe();
      try {
        await twoTabFlow(browser, serve.url, 'serve');
      } finally {
        await serve.stop();
      }
    },
  },
  {
    name: 'task detail: a dependency picked in the dialog shows both ways; cancel is recorded in history',
    async run({ browser }) {
      const serve = await startServe();
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      try {
        const base = await api(serve.url, 'POST', '/api/tasks', { title: 'Foundation work' });
        assert.equal(base.status, 201, base.text);
        const page = await context.newPage();
        await page.goto(`${serve.url}/tasks`);
        await page.getByRole('button', { name: 'New task' }).click();
        const dialog = page.getByRole('dialog', { name: 'New task' });
        await dialog.getByLabel('Title').fill('Builds on the foundation');
        await dialog.getByLabel('Find a task to depend on').fill('Foundation');
        await dialog.getByRole('checkbox', { name: /Foundation work/ }).check();
        await dialog.getByRole('button', { name: 'Create task' }).click();
        await dialog.waitFor({ state: 'detached', timeout: T });
        await page.getByRole('link', { name: /Builds on the foundation/ }).click();
        const deps = page.getByRole('region', { name: 'Dependencies' });
        await deps.getByRole('link', { name: /Foundation work/ }).waitFor({ timeout: T });
        await deps.getByRole('link', { name: /Foundation work/ }).click();
        await page.getByRole('heading', { level: 1, name: /Foundation work/ }).waitFor({ timeout: T });
        await page.getByRole('region', { name: 'Dependencies' }).getByRole('link', { name: /Builds on the foundation/ }).waitFor({ timeout: T });
        await page.getByRole('button', { name: 'Edit' }).click();
        const edit = page.getByRole('dialog', { name: /^Edit T-/ });
        await edit.getByLabel('Title').fill('Foundation work, renamed');
        await edit.getByRole('button', { name: 'Save' }).click();
        await page.getByRole('heading', { level: 1, name: /Foundation work, renamed/ }).waitFor({ timeout: T });
        await page.getByRole('button', { name: 'Cancel task' }).click();
        const history = page.getByRole('region', { name: 'History' });
        await history.getByRole('cell', { name: 'cancelled', exact: true }).waitFor({ timeout: T });
        await assertNoAlert(page, 'task detail');
        await shot(page, 'task-detail-cancelled');
      } finally {
        await context.close();
        await serve.stop();
      }
    },
  },
  {
    name: 'the board stays light with 10,000 tasks: few cards in the DOM, every page reachable by scrolling',
    async run({ browser }) {
      const serve = await startServe();
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      try {
        const total = Number(process.env.E2E_SCALE_TASKS ?? 10_000);
        const seeded = Date.now();
        await seedTasks(serve.url, total);
        console.log(`    seeded ${total} tasks in ${Date.now() - seeded} ms`);
        const page = await context.newPage();
        const opened = Date.now();
        await page.goto(`${serve.url}/tasks`);
        const column = page.getByRole('list', { name: 'pending tasks' });
        await column.getByRole('listitem').first().waitFor({ timeout: T });
        console.log(`    first cards visible ${Date.now() - opened} ms after navigation`);
        const frames = await page.evaluate(async (want) => {
          const list = document.querySelector('ul[aria-label="pending tasks"]');
          const scroller = list.parentElement;
          const gaps = [];
          let last = performance.now();
          let running = true;
          const tick = (t) => {
            gaps.push(t - last);
            last = t;
            if (running) requestAnimationFrame(tick);
          };
          requestAnimationFrame(tick);
          const deadline = performance.now() + 120_000;
          while (list.querySelectorAll('li').length > 0 && parseInt(list.style.height, 10) < want * 92 && performance.now() < deadline) {
            scroller.scrollTop = scroller.scrollHeight;
            await new Promise((r) => setTimeout(r, 50));
          }
          running = false;
          gaps.sort((a, b) => a - b);
          return { loadedHeight: parseInt(list.style.height, 10), rendered: list.querySelectorAll('li').length, p95: gaps[Math.floor(gaps.length * 0.95)], max: gaps.at(-1) };
        }, total);
        console.log(`    scrolled through ${frames.loadedHeight / 92} cards; ${frames.rendered} in the DOM; frame gap p95 ${frames.p95?.toFixed(1)} ms, max ${frames.max?.toFixed(1)} ms`);
        assert.equal(frames.loadedHeight / 92, total, 'every task should be reachable by scrolling the column');
        assert.ok(frames.rendered < 80, `only visible cards belong in the DOM, found ${frames.rendered}`);
        await shot(page, 'scale-10k-tasks');
      } finally {
        await context.close();
        await serve.stop();
      }
    },
  },
  {
    name: 'an agent is disabled from the Agents page and the orchestrator paused from the Overview',
    async run({ browser }) {
      const serve = await startServe();
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      try {
        const agents = await api(serve.url, 'GET', '/api/agents');
        const agent = agents.json.items[0];
        assert.ok(agent, 'the server should come with agents');
        const page = await context.newPage();
        await page.goto(`${serve.url}/agents`);
        const toggle = page.getByRole('switch', { name: `Enable ${agent.name}` });
        await toggle.waitFor({ timeout: T });
        const before = agent.enabled;
        await toggle.click();
        await page.waitForFunction(
          ([name, want]) => document.querySelector(`[aria-label="Enable ${name}"]`)?.getAttribute('aria-checked') === String(want),
          [agent.name, !before],
          { timeout: T },
        );
        const after = await api(serve.url, 'GET', `/api/agents/${agent.id}`);
        assert.equal(after.json.enabled, !before, 'the server should have stored the toggle');
        await page.goto(serve.url);
        await page.getByRole('button', { name: 'Pause' }).click();
        await page.getByRole('button', { name: 'Resume' }).waitFor({ timeout: T });
        const status = await api(serve.url, 'GET', '/api/orchestrator/status');
        assert.equal(status.json.paused, true);
        await page.getByRole('button', { name: 'Resume' }).click();
        await page.getByRole('button', { name: 'Pause' }).waitFor({ timeout: T });
        await assertNoAlert(page, 'overview');
      } finally {
        await context.close();
        await serve.stop();
      }
    },
  },
  {
    name: 'the Events page streams new events live and filters by type',
    async run({ browser }) {
      const serve = await startServe();
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      try {
        const page = await context.newPage();
        await page.goto(`${serve.url}/events`);
        await waitLive(page);
        const title = `Evented task ${Date.now()}`;
        const created = await api(serve.url, 'POST', '/api/tasks', { title });
        assert.equal(created.status, 201, created.text);
        const feed = page.getByRole('log', { name: 'Event feed' });
        await feed.getByText(title).first().waitFor({ timeout: T });
        await page.getByLabel('Type (exact)').fill('agent.updated');
        await feed.getByText('No events yet.').waitFor({ timeout: T });
        await assertNoAlert(page, 'events');
      } finally {
        await context.close();
        await serve.stop();
      }
    },
  },
  {
    name: 'keyboard only: open the new-task dialog, create a task, close with Escape',
    async run({ browser }) {
      const serve = await startServe();
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      try {
        const page = await context.newPage();
        await page.goto(`${serve.url}/tasks`);
        await waitLive(page);
        // Tab from the top of the page until the "New task" button has focus.
        for (let i = 0; i < 30; i++) {
          await page.keyboard.press('Tab');
          if (await page.evaluate(() => document.activeElement?.textContent === 'New task')) break;
        }
        await page.keyboard.press('Enter');
        const dialog = page.getByRole('dialog', { name: 'New task' });
        await dialog.waitFor({ timeout: T });
        assert.equal(await page.evaluate(() => document.activeElement?.closest('label')?.textContent?.trim()), 'Title', 'focus should start in Title');
        await page.keyboard.type('Typed without a mouse');
        await page.keyboard.press('Enter');
        await dialog.waitFor({ state: 'detached', timeout: T });
        await page.getByRole('link', { name: /Typed without a mouse/ }).waitFor({ timeout: T });
        await page.getByRole('button', { name: 'New task' }).focus();
        await page.keyboard.press('Enter');
        await dialog.waitFor({ timeout: T });
        await page.keyboard.press('Escape');
        await dialog.waitFor({ state: 'detached', timeout: T });
      } finally {
        await context.close();
        await serve.stop();
      }
    },
  },
  {
    name: "an API error is shown with the server's message",
    async run({ browser }) {
      const serve = await startServe();
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      try {
        const title = 'x'.repeat(300);
        const direct = await api(serve.url, 'POST', '/api/tasks', { title });
        assert.ok(direct.status === 422 || direct.status === 400, `expected 400/422 for a 300-char title, got ${direct.status}`);
        const message = direct.json?.error?.message;
        assert.ok(message, `error body has no message: ${direct.text}`);
        const page = await context.newPage();
        await page.goto(`${serve.url}/tasks`);
        await page.getByRole('button', { name: 'New task' }).click();
        const dialog = page.getByRole('dialog', { name: 'New task' });
        await dialog.getByLabel('Title').fill(title);
        await dialog.getByRole('button', { name: 'Create task' }).click();
        const alert = dialog.getByRole('alert');
        await alert.waitFor({ timeout: T });
        assert.match(await alert.innerText(), new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
        await shot(page, 'api-error');
      } finally {
        await context.close();
        await serve.stop();
      }
    },
  },
  {
    name: 'logs in with a token (wrong token refused, session survives reload, sign out)',
    async run({ browser }) {
      const token = randomBytes(24).toString('hex');
      const serve = await startServe({ token });
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      try {
        const denied = await api(serve.url, 'GET', '/api/tasks');
        assert.equal(denied.status, 401, 'the API must refuse requests without the token');
        const page = await context.newPage();
        await page.goto(serve.url);
        const input = page.getByLabel('API token');
        await input.waitFor({ timeout: T });
        await shot(page, 'login');
        await input.fill('not-the-token');
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByRole('alert').waitFor({ timeout: T });
        await input.fill(token);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor({ timeout: T });
        await waitLive(page);
        await assertNoAlert(page, 'overview after login');
        await page.reload();
        await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor({ timeout: T });
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.getByLabel('API token').waitFor({ timeout: T });
        await page.reload();
        await page.getByLabel('API token').waitFor({ timeout: T });
      } finally {
        await context.close();
        await serve.stop();
      }
    },
  },
  {
    name: 'a 100,000-line session log in a real browser: bounded DOM, tool calls expand, ends with commit and diff',
    async run({ browser }) {
      const serve = await startServe();
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      try {
        const lines = Number(process.env.E2E_SCALE_LOG_LINES ?? 100_000);
        const task = await api(serve.url, 'POST', '/api/tasks', { title: 'Task with a long session' });
        const agents = await api(serve.url, 'GET', '/api/agents');
        const sessionId = writeSessionFixture(serve.databasePath, { taskId: task.json.id, agentId: agents.json.items[0].id, lines });
        const page = await context.newPage();
        const opened = Date.now();
        await page.goto(`${serve.url}/sessions/${sessionId}`);
        await page.getByText(`${lines.toLocaleString('en-US')} lines`).waitFor({ timeout: 60_000 });
        console.log(`    ${lines} lines loaded and shown ${Date.now() - opened} ms after navigation`);
        const log = page.getByRole('log', { name: 'Session log' });
        // Auto-scroll starts at the end: the commit and the diff are the last lines.
        await log.getByText('abc1234 Make the tests pass').waitFor({ timeout: T });
        await log.getByText('+new').waitFor({ timeout: T });
        await shot(page, 'session-log-end');
        await page.getByRole('button', { name: 'Pause auto-scroll' }).click();
        const stats = await page.evaluate(async () => {
          const scroller = document.querySelector('[role="log"][aria-label="Session log"]');
          const gaps = [];
          let last = performance.now();
          let running = true;
          const tick = (t) => {
            gaps.push(t - last);
            last = t;
            if (running) requestAnimationFrame(tick);
          };
          requestAnimationFrame(tick);
          for (let i = 0; i < 60; i++) {
            scroller.scrollTop = scroller.scrollHeight * (1 - i / 59);
            await new Promise((r) => requestAnimationFrame(() => r()));
          }
          running = false;
          gaps.sort((a, b) => a - b);
          return { rows: scroller.querySelectorAll('.log-line').length, p95: gaps[Math.floor(gaps.length * 0.95)], max: gaps.at(-1), top: scroller.scrollTop };
        });
        console.log(`    scrolled end to start: ${stats.rows} rows in the DOM; frame gap p95 ${stats.p95?.toFixed(1)} ms, max ${stats.max?.toFixed(1)} ms`);
        assert.ok(stats.rows > 0 && stats.rows < 300, `only visible lines belong in the DOM, found ${stats.rows}`);
        const call = log.getByRole('button', { name: 'Tool call: read_file' }).first();
        await call.click();
        assert.equal(await call.getAttribute('aria-expanded'), 'true');
        await log.getByText(/"path": "src\/mod_/).first().waitFor({ timeout: T });
        await shot(page, 'session-log-start-expanded');
      } finally {
        await context.close();
        await serve.stop();
      }
    },
  },
  {
    name: 'a live session log receives lines (the engine against a local fake of the Anthropic API)',
    async run({ browser }) {
      const repo = makeGitRepo();
      const fake = await startFakeAnthropic({ turns: 5, delayMs: 1200 });
      const serve = await startServe({
        env: {
          HARNESS_WORKSPACE: repo,
          ANTHROPIC_API_KEY: 'sk-e2e-not-a-real-key',
          ANTHROPIC_BASE_URL: fake.url,
          HARNESS_TICK_SECS: '0.5',
          HARNESS_SESSION_SPACING_SECS: '0',
        },
      });
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      try {
        const page = await context.newPage();
        await page.goto(`${serve.url}/sessions`);
        await waitLive(page);
        await page.evaluate(() => {
          window.__notReloaded = true;
        });
        const task = await api(serve.url, 'POST', '/api/tasks', { title: 'Look around the repository', description: 'E2E: the fake model lists files, then completes.' });
        assert.equal(task.status, 201, task.text);
        // The session appears in the list by itself (session.created over the WebSocket).
        const link = page.getByRole('link', { name: /^#\d+$/ }).first();
        await link.waitFor({ timeout: 30_000 });
        await link.click();
        const log = page.getByRole('log', { name: 'Session log' });
        await log.waitFor({ timeout: T });
        const linesNow = async () => Number((await page.getByText(/^[\d,]+ lines/).innerText()).replace(/[^\d].*$/, '').replace(/,/g, ''));
        const first = await linesNow();
        await log.getByText('All done: nothing needed changing.').waitFor({ timeout: 30_000 });
        const last = await linesNow();
        console.log(`    log grew from ${first} to ${last} lines while open; ${fake.requests.length} model requests`);
        assert.ok(last > first, `the open log should have grown live (${first} -> ${last})`);
        assert.equal(await page.evaluate(() => window.__notReloaded), true, 'the page reloaded');
        await log.getByRole('button', { name: 'Tool call: list_dir' }).first().click();
        await log.getByText('"path": "."').first().waitFor({ timeout: T });
        await shot(page, 'session-live');
      } finally {
        await context.close();
        await serve.stop();
        await fake.stop();
        rmSync(repo, { recursive: true, force: true });
      }
    },
  },
  {
    name: "an agent's question is answered in the task's answer box and reaches the agent",
    async run({ browser, skip }) {
      const repo = makeGitRepo();
      const answer = `Use blue ${Date.now()}`;
      const fake = await startFakeAnthropic({
        delayMs: 300,
        script: (body) =>
          JSON.stringify(body.messages).includes(answer)
            ? { text: 'Thanks, done.', tool: { name: 'complete_task', input: { summary: 'Used the colour I was told.' } } }
            : { text: 'I need a decision.', tool: { name: 'ask_human', input: { question: 'Which colour should the button be?' } } },
      });
      const serve = await startServe({
        env: { HARNESS_WORKSPACE: repo, ANTHROPIC_API_KEY: 'sk-e2e-not-a-real-key', ANTHROPIC_BASE_URL: fake.url, HARNESS_TICK_SECS: '0.5', HARNESS_SESSION_SPACING_SECS: '0' },
      });
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      try {
        const probe = await api(serve.url, 'POST', '/api/tasks/999999/answer', { answer: 'x' });
        if (probe.status === 405) return skip('the server has no POST /api/tasks/{id}/answer route yet (405)');
        const task = await api(serve.url, 'POST', '/api/tasks', { title: 'Style the button' });
        assert.equal(task.status, 201, task.text);
        const page = await context.newPage();
        await page.goto(`${serve.url}/tasks/${task.json.id}`);
        await waitLive(page);
        // The question arrives on the open page through task.updated.
        const box = page.getByRole('region', { name: 'Question waiting for an answer' });
        await box.getByText('Which colour should the button be?').waitFor({ timeout: 30_000 });
        await shot(page, 'task-question');
        await box.getByLabel('Your answer').fill(answer);
        await box.getByRole('button', { name: 'Send answer' }).click();
        await box.waitFor({ state: 'detached', timeout: T });
        await assertNoAlert(page, 'task detail after answering');
        const deadline = Date.now() + 30_000;
        while (!fake.requests.some((r) => JSON.stringify(r.messages).includes(answer))) {
          assert.ok(Date.now() < deadline, 'the agent never received the answer');
          await new Promise((r) => setTimeout(r, 200));
        }
      } finally {
        await context.close();
        await serve.stop();
        await fake.stop();
        rmSync(repo, { recursive: true, force: true });
      }
    },
  },
  {
    name: 'the same flow through the `harness dashboard` gateway, and "orchestrator unreachable" when it stops',
    async run({ browser }) {
      const serve = await startServe();
      let gateway;
      try {
        gateway = await startGateway(serve.apiUrl);
        const index = await fetch(gateway.url + '/');
        assert.equal(index.status, 200);
        await twoTabFlow(browser, gateway.url, 'gateway');
        const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
        const page = await context.newPage();
        await page.goto(`${gateway.url}/tasks`);
        await waitLive(page);
        await serve.stop();
        const still = await fetch(gateway.url + '/');
        assert.equal(still.status, 200, "the gateway's own / must answer while the upstream is down");
        await page.getByRole('status', { name: 'Connection: Orchestrator unreachable' }).waitFor({ timeout: 30_000 });
        await shot(page, 'gateway-unreachable');
        await context.close();
      } finally {
        await gateway?.stop();
        await serve.stop();
      }
    },
  },
];
