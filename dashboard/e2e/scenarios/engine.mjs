// The real engine and scheduler against a local fake of the Anthropic Messages API.
/* global window -- used inside page.evaluate callbacks, which run in the browser. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api } from '../api.mjs';
import { shot } from '../browser.mjs';
import { completeUnchanged, startFakeAnthropic } from '../fake-anthropic.mjs';
import { assertNoAlert, makeGitRepo, T, waitLive } from '../helpers.mjs';
import { startServe } from '../server.mjs';

export default [
  {
    name: 'a live session log receives lines (the engine against a local fake of the Anthropic API)',
    async run({ browser }) {
      const repo = makeGitRepo();
      const fake = await startFakeAnthropic({ turns: 8, delayMs: 1200 }) // ~10 s of work: time to open the page mid-session;
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
        const task = await api(serve.url, 'POST', '/api/tasks', { title: 'Look around the repository', description: 'E2E: the fake model lists files, writes NOTES.md, then completes.' });
        assert.equal(task.status, 201, task.text);
        // The session appears in the list by itself (session.created over the WebSocket).
        const link = page.getByRole('link', { name: /^#\d+$/ }).first();
        await link.waitFor({ timeout: 30_000 });
        await link.click();
        const log = page.getByRole('log', { name: 'Session log' });
        await log.waitFor({ timeout: T });
        const linesNow = async () => Number((await page.getByText(/^[\d,]+ lines/).innerText()).replace(/[^\d].*$/, '').replace(/,/g, ''));
        const first = await linesNow();
        await log.getByText('All done: wrote the notes.').waitFor({ timeout: 30_000 });
        const last = await linesNow();
        console.log(`    log grew from ${first} to ${last} lines while open; ${fake.requests.length} model requests`);
        assert.ok(last > first, `the open log should have grown live (${first} -> ${last})`);
        assert.equal(await page.evaluate(() => window.__notReloaded), true, 'the page reloaded');
        await log.getByRole('button', { name: 'Tool call: list_dir' }).first().click();
        await log.getByText('"path": "."').first().waitFor({ timeout: T });
        await shot(page, 'session-live');
        // The session's spend now shows on the Usage page, per day, agent and model.
        await page.getByRole('link', { name: 'Usage' }).click();
        const costChart = page.getByRole('img', { name: /Cost per day over 1 days/ });
        // The day's label and bar are drawn (a wrong data key draws an empty chart).
        await costChart.getByText(/^\d{4}-\d{2}-\d{2}$/).first().waitFor({ timeout: T });
        assert.ok((await costChart.locator('.recharts-bar-rectangle path').count()) > 0, 'the cost chart has no bar');
        await page.getByRole('cell', { name: 'claude-sonnet-4-5' }).waitFor({ timeout: T });
        await assertNoAlert(page, 'usage');
        await shot(page, 'usage-with-data');

        // The change landed on main: the card says so with the short commit, the task page with the full one.
        const done = await waitForStatus(serve.url, task.json.id, 'completed');
        assert.equal(done.outcome?.kind, 'landed', `outcome: ${JSON.stringify(done.outcome)}`);
        const head = execFileSync('git', ['rev-parse', 'main'], { cwd: repo }).toString().trim();
        assert.equal(done.outcome.commit, head, 'the landed commit is the tip of main');
        await page.getByRole('link', { name: 'Tasks' }).click();
        const card = page.getByRole('region', { name: /^completed/i }).getByRole('link', { name: /Look around the repository/ });
        const outcome = card.getByText(`landed ${head.slice(0, 7)}`);
        await outcome.waitFor({ timeout: T });
        assert.equal(await outcome.getAttribute('title'), head, 'the full commit is on hover');
        await assertNoAlert(page, 'board with a landed task');
        for (const [width, height] of [[1400, 900], [390, 844]]) {
          await page.setViewportSize({ width, height });
          await card.scrollIntoViewIfNeeded();
          await shot(page, `board-landed-${width}`);
        }
        await page.setViewportSize({ width: 1280, height: 720 });
        await card.click();
        const facts = page.locator('dl.facts');
        await facts.getByText('Outcome', { exact: true }).waitFor({ timeout: T });
        await facts.getByText(head, { exact: true }).waitFor({ timeout: T });
        await shot(page, 'task-landed');
      } finally {
        await context.close();
        await serve.stop();
        await fake.stop();
        rmSync(repo, { recursive: true, force: true });
      }
    },
  },
  {
    name: 'Stop on a running attempt\'s session page asks first, then cancels its task and ends the session',
    async run({ browser }) {
      const repo = makeGitRepo();
      // A slow agent: it is still working when the page opens and Stop is pressed.
      const fake = await startFakeAnthropic({ turns: 60, delayMs: 1000 });
      const serve = await startServe({
        env: { HARNESS_WORKSPACE: repo, ANTHROPIC_API_KEY: 'sk-e2e-not-a-real-key', ANTHROPIC_BASE_URL: fake.url, HARNESS_TICK_SECS: '0.5', HARNESS_SESSION_SPACING_SECS: '0' },
      });
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      try {
        const task = await api(serve.url, 'POST', '/api/tasks', { title: 'A long piece of work', description: 'E2E: stopped from its session page.' });
        assert.equal(task.status, 201, task.text);
        const session = await waitForRunningAttempt(serve.url, task.json.id);
        const page = await context.newPage();
        await page.goto(`${serve.url}/sessions/${session.id}`);
        await waitLive(page);
        const stop = page.getByRole('button', { name: 'Stop', exact: true });
        await stop.waitFor({ timeout: T });
        await page.getByRole('log', { name: 'Session log' }).getByText(/Step \d+: listing the repository/).first().waitFor({ timeout: T });
        await shot(page, 'session-stop-1400');
        await page.setViewportSize({ width: 390, height: 844 });
        await stop.scrollIntoViewIfNeeded();
        await shot(page, 'session-stop-390');
        await page.setViewportSize({ width: 1400, height: 900 });

        // "Keep it" changes nothing.
        await stop.click();
        let dialog = page.getByRole('dialog', { name: `Stop session #${session.id}?` });
        await dialog.getByText(`This cancels its task ${task.json.display_id}`).waitFor({ timeout: T });
        await dialog.getByText(/can be reopened later/).waitFor({ timeout: T });
        await shot(page, 'session-stop-confirm');
        await dialog.getByRole('button', { name: 'Keep it' }).click();
        await dialog.waitFor({ state: 'detached', timeout: T });
        assert.equal((await api(serve.url, 'GET', `/api/tasks/${task.json.id}`)).json.status, 'in_progress');

        await stop.click();
        dialog = page.getByRole('dialog', { name: `Stop session #${session.id}?` });
        await dialog.getByRole('button', { name: 'Stop and cancel task' }).click();
        await dialog.waitFor({ state: 'detached', timeout: T });
        await waitForStatus(serve.url, task.json.id, 'cancelled', T);
        // The session ends, and the open page shows it live: the badge changes and Stop goes away.
        const deadline = Date.now() + T;
        for (;;) {
          const after = await api(serve.url, 'GET', `/api/sessions/${session.id}`);
          if (after.json.status !== 'running') break;
          assert.ok(Date.now() < deadline, `the session still runs after its task was cancelled: ${after.text}`);
          await new Promise((r) => setTimeout(r, 200));
        }
        await page.locator('.page-header .badge').filter({ hasNotText: 'running' }).waitFor({ timeout: T });
        await stop.waitFor({ state: 'detached', timeout: T });
        await assertNoAlert(page, 'session page after Stop');
        await shot(page, 'session-stopped');
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
            ? { text: 'Thanks, done.', tool: completeUnchanged('Used the colour I was told.') }
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
    name: 'a task that fails every attempt is blocked with the failure and the diagnosis shown, and is unblocked from its page',
    async run({ browser }) {
      const repo = makeGitRepo();
      const fake = await startFakeAnthropic({
        delayMs: 200,
        // The investigator's brief starts "Diagnose why"; every other session gives up.
        script: (body) =>
          JSON.stringify(body.messages).includes('Diagnose why')
            ? { text: 'Looked into it.', tool: completeUnchanged('Diagnosis: the e2e model always gives up.') }
            : { text: 'I cannot do this.', tool: { name: 'fail_task', input: { reason: 'The e2e model gives up.' } } },
      });
      const serve = await startServe({
        env: { HARNESS_WORKSPACE: repo, ANTHROPIC_API_KEY: 'sk-e2e-not-a-real-key', ANTHROPIC_BASE_URL: fake.url, HARNESS_TICK_SECS: '0.5', HARNESS_SESSION_SPACING_SECS: '0', HARNESS_RETRY_BASE_SECS: '0' },
      });
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      try {
        const page = await context.newPage();
        const task = await api(serve.url, 'POST', '/api/tasks', { title: 'Doomed task', max_attempts: 1 });
        assert.equal(task.status, 201, task.text);
        await page.goto(`${serve.url}/tasks/${task.json.id}`);
        await waitLive(page);
        // Everything below arrives on the open page through live updates.
        await page.getByRole('region', { name: 'Why the last attempt failed' }).getByText(/The e2e model gives up/).waitFor({ timeout: 30_000 });
        await page.getByRole('region', { name: "Investigator's diagnosis" }).getByText('Diagnosis: the e2e model always gives up.').waitFor({ timeout: 30_000 });
        await shot(page, 'task-blocked-diagnosed');
        await page.getByRole('button', { name: 'Unblock' }).click();
        await assertNoAlert(page, 'task detail after unblock');
        const deadline = Date.now() + T;
        for (;;) {
          const history = await api(serve.url, 'GET', `/api/tasks/${task.json.id}/history`);
          if (history.json.items.some((h) => h.from_status === 'blocked' && h.to_status === 'pending')) break;
          assert.ok(Date.now() < deadline, `no blocked -> pending transition: ${history.text}`);
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
    name: "an agent's finding shows on its task page with the screenshot it took in headless Chromium",
    async run({ browser }) {
      const repo = makeGitRepo();
      // The agents get the browser tool group from harness.toml, as a person would give it.
      const configDir = mkdtempSync(join(tmpdir(), 'harness-e2e-config-'));
      const config = join(configDir, 'harness.toml');
      writeFileSync(config, '[agents.build-1]\ntools = ["browser"]\n\n[agents.build-2]\ntools = ["browser"]\n');
      let healthUrl = '';
      const fake = await startFakeAnthropic({
        delayMs: 100,
        script: (_body, turn) =>
          [
            { text: 'Opening the app.', tool: { name: 'browser_open', input: { url: healthUrl } } },
            { text: 'Taking a screenshot.', tool: { name: 'browser_screenshot', input: {} } },
            {
              text: 'Reporting what I saw.',
              tool: { name: 'report_finding', input: { title: 'Health page is raw JSON', detail: 'A person sees unformatted JSON.', persona: 'first-time user', screenshot: 'shot-1' } },
            },
          ][turn - 1] ?? { text: 'Done.', tool: completeUnchanged('Reported one finding.', 'The task was to try the page and report; nothing to change.') },
      });
      const serve = await startServe({
        env: { HARNESS_CONFIG: config, HARNESS_WORKSPACE: repo, ANTHROPIC_API_KEY: 'sk-e2e-not-a-real-key', ANTHROPIC_BASE_URL: fake.url, HARNESS_TICK_SECS: '0.5', HARNESS_SESSION_SPACING_SECS: '0' },
      });
      healthUrl = `${serve.apiUrl}/health`;
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      try {
        const page = await context.newPage();
        const task = await api(serve.url, 'POST', '/api/tasks', { title: 'Try the health page as a person' });
        assert.equal(task.status, 201, task.text);
        await page.goto(`${serve.url}/tasks/${task.json.id}`);
        await waitLive(page);
        // The finding arrives on the open page (finding.reported over the WebSocket).
        const findings = page.getByRole('region', { name: 'Findings' });
        await findings.getByRole('heading', { name: 'Health page is raw JSON' }).waitFor({ timeout: 60_000 });
        await findings.getByText(/As first-time user/).waitFor({ timeout: T });
        const img = findings.getByRole('img', { name: 'Screenshot: Health page is raw JSON' });
        await img.waitFor({ timeout: T });
        // The PNG loaded through the API with the page's own credentials.
        const deadline = Date.now() + T;
        while (!(await img.evaluate((el) => el.complete && el.naturalWidth > 0))) {
          assert.ok(Date.now() < deadline, 'the screenshot never loaded');
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(await img.evaluate((el) => el.naturalWidth), 1280);
        await assertNoAlert(page, 'task with a finding');
        await shot(page, 'task-finding');
      } finally {
        await context.close();
        await serve.stop();
        await fake.stop();
        rmSync(repo, { recursive: true, force: true });
        rmSync(configDir, { recursive: true, force: true });
      }
    },
  },
];

/** Polls the task until it reaches `status` (the engine gets there on its own schedule). */
async function waitForStatus(base, id, status, timeout = 60_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const r = await api(base, 'GET', `/api/tasks/${id}`);
    if (r.json?.status === status) return r.json;
    assert.ok(Date.now() < deadline, `task ${id} never reached ${status}: ${r.text}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** The task's attempt session once it runs (other sessions, such as an estimate, may come first). */
async function waitForRunningAttempt(base, taskId, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const r = await api(base, 'GET', `/api/sessions?task_id=${taskId}&status=running`);
    const attempt = r.json?.items?.find((s) => s.purpose === 'attempt');
    if (attempt) return attempt;
    assert.ok(Date.now() < deadline, `no running attempt of task ${taskId}: ${r.text}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}
