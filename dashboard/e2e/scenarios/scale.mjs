// Scale: 10,000 tasks and a 100,000-line session log in a real browser.
/* global document, requestAnimationFrame -- used inside page.evaluate callbacks, which run in the browser. */
import assert from 'node:assert/strict';
import { api } from '../api.mjs';
import { shot } from '../browser.mjs';
import { writeSessionFixture } from '../fixtures.mjs';
import { seedTasks, T } from '../helpers.mjs';
import { startServe } from '../server.mjs';

export default [
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
          // Cards are measured (a title wraps to up to three lines), so reachability is the
          // index of the last card the column renders, not its height.
          const lastIndex = () => Math.max(-1, ...[...list.querySelectorAll('li')].map((li) => Number(li.dataset.index)));
          while (list.querySelectorAll('li').length > 0 && lastIndex() < want - 1 && performance.now() < deadline) {
            scroller.scrollTop = scroller.scrollHeight;
            await new Promise((r) => setTimeout(r, 50));
          }
          running = false;
          gaps.sort((a, b) => a - b);
          return { reached: lastIndex() + 1, rendered: list.querySelectorAll('li').length, p95: gaps[Math.floor(gaps.length * 0.95)], max: gaps.at(-1) };
        }, total);
        console.log(`    scrolled through ${frames.reached} cards; ${frames.rendered} in the DOM; frame gap p95 ${frames.p95?.toFixed(1)} ms, max ${frames.max?.toFixed(1)} ms`);
        assert.equal(frames.reached, total, 'every task should be reachable by scrolling the column');
        assert.ok(frames.rendered < 80, `only visible cards belong in the DOM, found ${frames.rendered}`);
        await shot(page, 'scale-10k-tasks');
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
];
