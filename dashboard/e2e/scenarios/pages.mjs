// Every page renders cleanly in light, dark and phone layouts.
import assert from 'node:assert/strict';
import { api } from '../api.mjs';
import { shot } from '../browser.mjs';
import { writeSessionFixture } from '../fixtures.mjs';
import { assertNoAlert, openPage, PAGES, T, waitLive } from '../helpers.mjs';
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
