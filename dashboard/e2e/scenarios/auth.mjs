// Token login.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { api } from '../api.mjs';
import { shot } from '../browser.mjs';
import { assertNoAlert, openPage, T, waitLive } from '../helpers.mjs';
import { startServe } from '../server.mjs';

export default [
  {
    name: 'logs in with a token (wrong token refused, session survives reload, sign out revokes the cookie)',
    async run({ browser }) {
      const token = randomBytes(24).toString('hex');
      const serve = await startServe({ token });
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      try {
        const denied = await api(serve.url, 'GET', '/api/tasks');
        assert.equal(denied.status, 401, 'the API must refuse requests without the token');
        const errors = [];
        const page = await openPage(context, errors);
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
        const [session] = (await context.cookies()).filter((c) => c.name === 'harness_session');
        assert.ok(session?.httpOnly && session.sameSite === 'Strict', 'an HttpOnly, SameSite=Strict session cookie');
        const cookie = `${session.name}=${session.value}`;
        const withCookie = () => fetch(`${serve.url}/api/tasks`, { headers: { Cookie: cookie } }).then((r) => r.status);
        assert.equal(await withCookie(), 200, 'the cookie authenticates');
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.getByLabel('API token').waitFor({ timeout: T });
        await page.reload();
        await page.getByLabel('API token').waitFor({ timeout: T });
        assert.equal(await withCookie(), 401, 'sign out revokes the session on the server, not just in this browser');
        assert.deepEqual(errors, [], 'script errors or CSP violations');
      } finally {
        await context.close();
        await serve.stop();
      }
    },
  },
];
