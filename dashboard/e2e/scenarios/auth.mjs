// Token login.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { api } from '../api.mjs';
import { shot } from '../browser.mjs';
import { assertNoAlert, T, waitLive } from '../helpers.mjs';
import { startServe } from '../server.mjs';

export default [
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
];
