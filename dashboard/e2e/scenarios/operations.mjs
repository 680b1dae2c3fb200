// Agents, orchestrator controls and the event stream.
/* global document -- used inside page.evaluate callbacks, which run in the browser. */
import assert from 'node:assert/strict';
import { api } from '../api.mjs';
import { assertNoAlert, T, waitLive } from '../helpers.mjs';
import { startServe } from '../server.mjs';

export default [
  {
    name: 'an agent is disabled and its concurrency changed from the Agents page; the orchestrator paused from the Overview',
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
        // The runtimes the agents run on, as the server reports them.
        const runtimes = (await api(serve.url, 'GET', '/api/runtimes')).json.items;
        const own = runtimes.find((r) => r.runtime === agent.runtime && r.agents.includes(agent.id));
        assert.ok(own, `the agent's runtime should be listed: ${JSON.stringify(runtimes)}`);
        const row = page.getByRole('region', { name: 'Runtimes' }).getByRole('row', { name: `Runtime ${own.runtime}${own.command.length ? ` ${own.command[0]}` : ''}` });
        await row.getByRole('cell', { name: own.credentials, exact: true }).waitFor({ timeout: T });
        // Concurrency: an out-of-range value shows the server's message; a valid one is saved.
        await page.getByRole('button', { name: `Edit ${agent.name}` }).click();
        const dialog = page.getByRole('dialog', { name: `Edit ${agent.name}` });
        await dialog.getByLabel('Max concurrency').fill('0');
        await dialog.getByRole('button', { name: 'Save' }).click();
        const bad = await api(serve.url, 'PATCH', `/api/agents/${agent.id}`, { max_concurrency: 0 });
        assert.ok(bad.status >= 400, `max_concurrency 0 should be refused, got ${bad.status}`);
        await dialog.getByRole('alert').getByText(bad.json.error.message).waitFor({ timeout: T });
        await dialog.getByLabel('Max concurrency').fill('3');
        await dialog.getByRole('button', { name: 'Save' }).click();
        await dialog.waitFor({ state: 'detached', timeout: T });
        assert.equal((await api(serve.url, 'GET', `/api/agents/${agent.id}`)).json.max_concurrency, 3);
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
];
