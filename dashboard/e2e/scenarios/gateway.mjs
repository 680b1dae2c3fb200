// The `harness dashboard` gateway, and losing and regaining the orchestrator.
import assert from 'node:assert/strict';
import { api } from '../api.mjs';
import { shot } from '../browser.mjs';
import { twoTabFlow, waitLive } from '../helpers.mjs';
import { startGateway, startServe } from '../server.mjs';

export default [
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
  {
    name: 'after an orchestrator restart the page reconnects by itself, resyncs and shows what changed meanwhile',
    async run({ browser }) {
      const serve = await startServe();
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      try {
        const page = await context.newPage();
        await page.goto(`${serve.url}/tasks`);
        await waitLive(page);
        await serve.restart();
        // Created while this page's socket is down; only a resync (or replay) can show it.
        const created = await api(serve.url, 'POST', '/api/tasks', { title: 'Made during the restart' });
        assert.equal(created.status, 201, created.text);
        await waitLive(page);
        await page.getByRole('region', { name: /^pending/i }).getByRole('link', { name: /Made during the restart/ }).waitFor({ timeout: 30_000 });
      } finally {
        await context.close();
        await serve.stop();
      }
    },
  },
];
