// Shared steps of the e2e scenarios.
/* global window -- used inside page.evaluate callbacks, which run in the browser. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api } from './api.mjs';
import { shot } from './browser.mjs';

export const T = 15_000;
export const PAGES = [
  ['/', 'Overview'],
  ['/tasks', 'Tasks'],
  ['/sessions', 'Sessions'],
  ['/agents', 'Agents'],
  ['/events', 'Events'],
  ['/usage', 'Usage'],
];

/** A page that fails the test on any uncaught script error or Content-Security-Policy violation. */
export async function openPage(context, errors) {
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) errors.push(msg.text());
  });
  return page;
}

export async function waitLive(page) {
  await page.getByRole('status', { name: 'Connection: Live' }).waitFor({ timeout: T });
}

/** Fails with the alert's text if the page shows an error; pages must load cleanly. */
export async function assertNoAlert(page, where) {
  const alerts = page.getByRole('alert');
  if ((await alerts.count()) > 0) assert.fail(`${where} shows an error: ${await alerts.first().innerText()}`);
}

export async function createTaskOnBoard(page, title) {
  await page.getByRole('button', { name: 'New task' }).click();
  const dialog = page.getByRole('dialog', { name: 'New task' });
  await dialog.getByLabel('Title').fill(title);
  await dialog.getByLabel('Description').fill('Created by the e2e suite.');
  await dialog.getByRole('button', { name: 'Create task' }).click();
  await dialog.waitFor({ state: 'detached', timeout: T });
}

/** A throwaway git repository for the engine to work in. */
export function makeGitRepo() {
  const dir = mkdtempSync(join(tmpdir(), 'harness-e2e-repo-'));
  const git = (...args) => execFileSync('git', ['-c', 'user.name=e2e', '-c', 'user.email=e2e@localhost', ...args], { cwd: dir, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  writeFileSync(join(dir, 'README.md'), '# e2e target\n');
  git('add', '.');
  git('commit', '-q', '-m', 'initial');
  return dir;
}

/** Creates `n` tasks through the API, eight requests at a time. */
export async function seedTasks(base, n) {
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
export async function twoTabFlow(browser, base, label) {
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
