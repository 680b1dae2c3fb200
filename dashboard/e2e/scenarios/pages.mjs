// Every page renders cleanly in light, dark and phone layouts; the Settings page shows the
// server's real setup.
/* global document */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { api } from '../api.mjs';
import { shot, shotsDir } from '../browser.mjs';
import { writeSessionFixture } from '../fixtures.mjs';
import { assertNoAlert, makeGitRepo, openPage, PAGES, T, waitLive } from '../helpers.mjs';
import { startServe } from '../server.mjs';

export default [
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
          // A page load must not ask for anything that is not there (a missing favicon
          // shows up as a console error in the browser).
          const missing = [];
          page.on('response', (r) => r.status() === 404 && missing.push(r.url()));
          page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
          for (const [path, heading] of [...PAGES, [`/tasks/${created.json.id}`, /Screenshot task/], [`/sessions/${sessionId}`, `Session #${sessionId}`]]) {
            await page.goto(serve.url + path);
            await page.getByRole('heading', { level: 1, name: heading }).waitFor({ timeout: T });
            await waitLive(page);
            await page.waitForLoadState('networkidle');
            await assertNoAlert(page, `${path} (${variant})`);
            await shot(page, `${variant}-${path === '/' ? 'overview' : path.slice(1).replace(/\//g, '-')}`);
          }
          assert.deepEqual(errors, [], `script errors in ${variant}`);
          assert.deepEqual(missing, [], `404s in ${variant}`);
          await assertIcons(page, serve.url);
          await context.close();
        }
      } finally {
        await serve.stop();
      }
    },
  },
  {
    name: 'the Settings page shows the absolute data paths and secrets only as set / not set, without sideways scroll at 390 px',
    async run({ browser }) {
      const repo = makeGitRepo();
      // A long unbroken path, as a real home directory can have: it must wrap, not widen the page.
      const data = mkdtempSync(join(tmpdir(), 'harness-e2e-settings-'));
      const worktrees = join(data, 'a-rather-long-directory-name-without-any-spaces-that-must-wrap-at-phone-width', 'worktrees');
      mkdirSync(worktrees, { recursive: true });
      const serve = await startServe({
        env: {
          HARNESS_WORKSPACE: repo,
          HARNESS_WORKTREES_DIR: worktrees,
          HARNESS_VERIFY: 'test -f README.md\ngit diff --check HEAD~1',
          ANTHROPIC_API_KEY: 'sk-e2e-not-a-real-key',
          ANTHROPIC_BASE_URL: 'http://127.0.0.1:9',
        },
      });
      try {
        const summary = await api(serve.url, 'GET', '/api/settings');
        assert.equal(summary.status, 200, summary.text);
        assert.ok(isAbsolute(summary.json.database_path) && isAbsolute(summary.json.worktrees_dir), summary.text);
        assert.ok(!summary.text.includes('sk-e2e-not-a-real-key'), 'the API key itself is never served');
        for (const [width, height] of [[1400, 900], [390, 844]]) {
          const errors = [];
          const context = await browser.newContext({ viewport: { width, height }, isMobile: width < 500 });
          try {
            const page = await openPage(context, errors);
            await page.goto(`${serve.url}/`);
            await waitLive(page);
            await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
            await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor({ timeout: T });
            const value = (group, label) => page.getByRole('region', { name: group }).locator('dt', { hasText: new RegExp(`^${label}$`) }).locator('+ dd');
            await value('Data & web', 'Database').getByText(serve.databasePath, { exact: true }).waitFor({ timeout: T });
            await value('Data & web', 'Worktrees').getByText(worktrees, { exact: true }).waitFor({ timeout: T });
            assert.equal(await value('Data & web', 'API token').innerText(), 'not set');
            assert.equal(await value('Agents & roles', 'Anthropic API key').innerText(), 'set');
            assert.equal(await value('Workspace & verification', 'Workspace').innerText(), repo);
            assert.equal(await value('Workspace & verification', 'Verify').locator('li').count(), 2);
            await page.getByRole('region', { name: 'Agents & roles' }).getByRole('listitem', { name: 'Role build' }).waitFor({ timeout: T });
            for (const group of ['Sandbox & network', 'Executors', 'Telegram']) await page.getByRole('region', { name: group }).waitFor({ timeout: T });
            await assertNoAlert(page, `settings at ${width} px`);
            const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
            assert.ok(scrollWidth <= clientWidth, `settings at ${width} px scrolls sideways: scrollWidth ${scrollWidth} > clientWidth ${clientWidth}`);
            await shot(page, `settings-${width}`);
            await page.screenshot({ path: join(shotsDir, `settings-${width}-full.png`), fullPage: true });
            assert.deepEqual(errors, []);
          } finally {
            await context.close();
          }
        }
      } finally {
        await serve.stop();
        rmSync(repo, { recursive: true, force: true });
        rmSync(data, { recursive: true, force: true });
      }
    },
  },
];

/** The icon the page links to, and the /favicon.ico browsers ask for unprompted, are images. */
async function assertIcons(page, base) {
  const href = await page.locator('link[rel="icon"]').getAttribute('href');
  assert.ok(href, 'index.html links no icon');
  for (const path of [href, '/favicon.ico']) {
    const r = await page.request.get(new URL(path, base).href);
    assert.equal(r.status(), 200, `GET ${path}`);
    assert.match(r.headers()['content-type'] ?? '', /^image\//, `GET ${path} content-type`);
  }
}
