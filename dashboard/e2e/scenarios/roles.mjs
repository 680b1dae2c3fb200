// Roles as data: the Roles view shows a role from harness.toml with its prompt, tools,
// agents and status, the browser role as unconfigured without Chromium, and SIA's
// proposed task, which a person accepts into a real task.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api } from '../api.mjs';
import { shot } from '../browser.mjs';
import { completeUnchanged, startFakeAnthropic } from '../fake-anthropic.mjs';
import { assertNoAlert, makeGitRepo, T } from '../helpers.mjs';
import { startServe } from '../server.mjs';

const PROMPT = 'You are a design agent. Sketch screens in docs/design.md.';
const PROPOSAL = 'Add a contributing guide';

// SIA proposes one task, then completes; any other agent completes at once (saying why it changed nothing).
const script = (body, turn) => {
  const sia = JSON.stringify(body.system ?? '').includes('strategic ideation');
  if (sia && turn === 1) return { text: 'Proposing.', tool: { name: 'create_task', input: { title: PROPOSAL, priority: 'P2' } } };
  return { text: 'Done.', tool: completeUnchanged('done') };
};

export default [
  {
    name: 'the Roles view shows each role with its prompt, tools, agents and status, and a proposed task is accepted',
    async run({ browser }) {
      const repo = makeGitRepo();
      const config = join(repo, '..', `harness-e2e-roles-${process.pid}.toml`);
      writeFileSync(
        config,
        [
          'sia_every_hours = 0.0005',
          '[roles.designer]',
          `prompt = "${PROMPT}"`,
          'tools = ["read_file", "write_file"]',
          'categories = ["design"]',
          '[agents.designer-1]',
          'role = "designer"',
          '[agents.sia-1]',
          'role = "sia"',
          '',
        ].join('\n'),
      );
      const fake = await startFakeAnthropic({ delayMs: 50, script });
      const serve = await startServe({
        env: {
          HARNESS_CONFIG: config,
          HARNESS_WORKSPACE: repo,
          ANTHROPIC_API_KEY: 'sk-e2e-not-a-real-key',
          ANTHROPIC_BASE_URL: fake.url,
          HARNESS_TICK_SECS: '0.5',
          HARNESS_SESSION_SPACING_SECS: '0',
          HARNESS_CHROMIUM: join(repo, 'no-chromium-here'),
        },
      });
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      try {
        // SIA reviews the board on its schedule once there is a task on it.
        const seed = await api(serve.url, 'POST', '/api/tasks', { title: 'Seed the board' });
        assert.equal(seed.status, 201, seed.text);
        const page = await context.newPage();
        await page.goto(`${serve.url}/roles`);
        const designer = page.getByRole('row', { name: 'Role designer' });
        await designer.waitFor({ timeout: T });
        await designer.getByText('read_file, write_file').waitFor({ timeout: T });
        await designer.getByText('designer-1').waitFor({ timeout: T });
        await designer.getByText('Ready').waitFor({ timeout: T });
        await designer.getByText('Prompt').click();
        await designer.getByText(PROMPT).waitFor({ timeout: T });
        const sim = page.getByRole('row', { name: 'Role human-sim' });
        await sim.getByText('Unconfigured').waitFor({ timeout: T });
        await sim.getByText(/needs Chromium/).waitFor({ timeout: T });

        // The proposal waits: it is not a task until a person accepts it.
        const deadline = Date.now() + 30_000;
        let proposals;
        do {
          proposals = await api(serve.url, 'GET', '/api/proposals?status=proposed');
          if (proposals.json.items.length) break;
          await new Promise((r) => setTimeout(r, 200));
        } while (Date.now() < deadline);
        assert.ok(proposals.json.items.length > 0, 'SIA proposed nothing within 30 s');
        const before = await api(serve.url, 'GET', `/api/tasks?q=${encodeURIComponent(PROPOSAL)}`);
        assert.equal(before.json.items.length, 0, 'a proposal is not a task yet');
        await api(serve.url, 'POST', '/api/orchestrator/pause');
        await page.reload();
        const item = page.getByRole('listitem', { name: `Proposal ${PROPOSAL}` }).first();
        await item.waitFor({ timeout: T });
        await shot(page, 'roles');
        await item.getByRole('button', { name: 'Accept' }).click();
        await item.getByText('Accepted').waitFor({ timeout: T });
        const after = await api(serve.url, 'GET', `/api/tasks?q=${encodeURIComponent(PROPOSAL)}`);
        assert.equal(after.json.items.length, 1, 'the accepted proposal is a task');
        await assertNoAlert(page, 'roles');

        // The estimate on a task, marked by a person from its page.
        await page.goto(`${serve.url}/tasks/${seed.json.id}`);
        await page.getByLabel('Mark size').selectOption('large');
        await page.getByText('large', { exact: true }).waitFor({ timeout: T });
        const estimate = await api(serve.url, 'GET', `/api/tasks/${seed.json.id}/estimate`);
        assert.equal(estimate.json.estimate.size, 'large');
        await assertNoAlert(page, 'task estimate');
      } finally {
        await context.close();
        await serve.stop();
        await fake.stop();
        rmSync(repo, { recursive: true, force: true });
        rmSync(config, { force: true });
      }
    },
  },
];
