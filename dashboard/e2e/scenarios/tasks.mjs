// The task board and the task detail page.
/* global document -- used inside page.evaluate callbacks, which run in the browser. */
import assert from 'node:assert/strict';
import { api } from '../api.mjs';
import { shot } from '../browser.mjs';
import { openPage, T, twoTabFlow, waitLive } from '../helpers.mjs';
import { startServe } from '../server.mjs';

export default [
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
    name: 'task detail: a dependency picked in the dialog shows both ways; deleting it is refused with the reason; cancel is recorded in history',
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
        // Deleting a task others depend on is refused (409) with the server's reason.
        await page.getByRole('button', { name: 'Delete' }).click();
        await page.getByRole('dialog', { name: /^Delete T-/ }).getByRole('button', { name: 'Delete task' }).click();
        const refusal = await api(serve.url, 'DELETE', `/api/tasks/${base.json.id}`);
        assert.equal(refusal.status, 409, refusal.text);
        await page.getByRole('alert').getByText(refusal.json.error.message).waitFor({ timeout: T });
        await page.getByRole('button', { name: 'Cancel task' }).click();
        await page.getByRole('dialog', { name: /^Cancel T-/ }).getByRole('button', { name: 'Cancel task' }).click();
        const history = page.getByRole('region', { name: 'History' });
        await history.getByRole('cell', { name: 'cancelled', exact: true }).waitFor({ timeout: T });
        assert.equal(await page.getByRole('alert').count(), 1, 'only the delete refusal should be shown');
        await shot(page, 'task-detail-cancelled');
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
        // The dialog's scroll lock injects a style element: the CSP must allow it.
        const errors = [];
        const page = await openPage(context, errors);
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
        assert.deepEqual(errors, [], 'script errors or CSP violations');
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
    name: 'search and filters narrow the board, and live in the URL',
    async run({ browser }) {
      const serve = await startServe();
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      try {
        for (const [title, priority, category] of [['Fix login redirect', 'P0', 'bug'], ['Fix logout button', 'P3', 'bug'], ['Write onboarding docs', 'P1', 'docs']]) {
          const r = await api(serve.url, 'POST', '/api/tasks', { title, priority, category });
          assert.equal(r.status, 201, r.text);
        }
        const page = await context.newPage();
        await page.goto(`${serve.url}/tasks`);
        const pending = page.getByRole('region', { name: /^pending/i });
        await pending.getByRole('link', { name: /Write onboarding docs/ }).waitFor({ timeout: T });
        await page.getByLabel('Search').fill('fix');
        await pending.getByRole('link', { name: /Write onboarding docs/ }).waitFor({ state: 'detached', timeout: T });
        assert.equal(await pending.getByRole('link').count(), 2);
        await page.getByLabel('Priority').selectOption('P0');
        await pending.getByRole('link', { name: /Fix logout button/ }).waitFor({ state: 'detached', timeout: T });
        await pending.getByRole('link', { name: /Fix login redirect/ }).waitFor({ timeout: T });
        assert.match(page.url(), /q=fix/);
        assert.match(page.url(), /priority=P0/);
        await page.reload();
        await pending.getByRole('link', { name: /Fix login redirect/ }).waitFor({ timeout: T });
        assert.equal(await pending.getByRole('link').count(), 1);
        await shot(page, 'tasks-filtered');
      } finally {
        await context.close();
        await serve.stop();
      }
    },
  },
];
