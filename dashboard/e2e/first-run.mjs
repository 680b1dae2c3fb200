// The browser half of scripts/first-run-e2e, which follows the README's "Use it" as a
// newcomer would. Two commands:
//
//   node first-run.mjs fake
//     Starts the Messages API stand-in on 127.0.0.1, port 0, playing an agent that adds
//     multiply() to calc.py and a test for it (write_file), then calls complete_task.
//     The evaluator's and validation's sessions get a plain complete_task. Prints
//     "listening <url>" and runs until SIGTERM; each request is logged to stderr.
//
//   node first-run.mjs browse
//     With FIRST_RUN_URL, FIRST_RUN_TOKEN, FIRST_RUN_TITLE and FIRST_RUN_LABEL: opens the
//     dashboard in Chromium, signs in with the token, creates the task in the "New task"
//     dialog (a title and a pass criterion), waits for its card in the Completed column,
//     opens the task page and takes screenshots (artifacts/screenshots/first-run-*.png).
//     Prints one JSON line {"id": <task id>} on success.
import { api } from './api.mjs';
import { launch, shot } from './browser.mjs';
import { startFakeAnthropic } from './fake-anthropic.mjs';
import { assertNoAlert, openPage, T, waitLive } from './helpers.mjs';

/** What the agent adds: a function and its test. scripts/first-run-e2e checks for both. */
export const CALC = 'def add(a, b):\n    return a + b\n\n\ndef multiply(a, b):\n    return a * b\n';
export const TEST_MULTIPLY = [
  'import unittest',
  '',
  'from calc import multiply',
  '',
  '',
  'class TestMultiply(unittest.TestCase):',
  '    def test_multiply(self):',
  '        self.assertEqual(multiply(6, 7), 42)',
  '',
  '',
  "if __name__ == '__main__':",
  '    unittest.main()',
  '',
].join('\n');

/** The first user message of a session: the brief that says which session it is. */
function brief(body) {
  const first = body.messages.find((m) => m.role === 'user');
  return JSON.stringify(first?.content ?? '') + JSON.stringify(body.system ?? '');
}

function script(body, turn) {
  const text = brief(body);
  if (text.includes('Estimate the size of')) return { text: 'A small change.', tool: { name: 'complete_task', input: { summary: 'small: one function and its test.' } } };
  if (text.includes('Review the change for')) return { text: 'The diff does what the task asks.', tool: { name: 'complete_task', input: { summary: 'Approved: multiply() and its test are there.' } } };
  if (!text.includes('multiply')) return { text: 'Nothing for me here.', tool: { name: 'complete_task', input: { summary: 'Nothing to do.' } } };
  if (turn === 1) return { text: 'Adding multiply() to calc.py.', tool: { name: 'write_file', input: { path: 'calc.py', content: CALC } } };
  if (turn === 2) return { text: 'Adding a test for multiply().', tool: { name: 'write_file', input: { path: 'test_multiply.py', content: TEST_MULTIPLY } } };
  return { text: 'Added multiply() with a test.', tool: { name: 'complete_task', input: { summary: 'Added multiply() to calc.py and test_multiply.py.' } } };
}

async function fake() {
  const stub = await startFakeAnthropic({ delayMs: 200, script });
  let seen = 0;
  const timer = setInterval(() => {
    for (; seen < stub.requests.length; seen++) {
      const body = stub.requests[seen];
      const turn = body.messages.filter((m) => m.role === 'assistant').length + 1;
      console.error(`fake-anthropic: request ${seen + 1} (turn ${turn}): ${brief(body).slice(0, 120)}`);
    }
  }, 200);
  console.log(`listening ${stub.url}`);
  const stop = async () => {
    clearInterval(timer);
    await stub.stop();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

async function browse() {
  const url = need('FIRST_RUN_URL');
  const token = need('FIRST_RUN_TOKEN');
  const title = need('FIRST_RUN_TITLE');
  const label = need('FIRST_RUN_LABEL');
  const browser = await launch();
  const errors = [];
  let page;
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await openPage(context, errors);
    await page.goto(`${url}/`);
    // A token is set, so the dashboard asks for it first.
    const input = page.getByLabel('API token');
    await input.waitFor({ timeout: T });
    await input.fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor({ timeout: T });
    await waitLive(page);
    await assertNoAlert(page, 'overview after signing in');

    await page.getByRole('link', { name: 'Tasks', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor({ timeout: T });
    await page.getByRole('button', { name: 'New task' }).click();
    const dialog = page.getByRole('dialog', { name: 'New task' });
    await dialog.getByLabel('Title').fill(title);
    await dialog.getByLabel('Description').fill('Add multiply(a, b) to calc.py, with a unittest.');
    await dialog.getByLabel('Pass criteria (one per line)').fill('python3 -m unittest passes');
    await dialog.getByRole('button', { name: 'Create task' }).click();
    await dialog.waitFor({ state: 'detached', timeout: T });

    // The card moves to Completed by itself (live updates); bounded at 90 s.
    const titled = new RegExp(title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    const card = page.getByRole('list', { name: 'completed tasks' }).getByRole('link', { name: titled });
    try {
      await card.waitFor({ timeout: 90_000 });
    } catch (err) {
      await shot(page, `first-run-${label}-board-timeout`);
      const tasks = await api(url, 'GET', '/api/tasks', undefined, token);
      const mine = tasks.json?.items?.find((t) => t.title === title);
      throw new Error(`the task did not reach Completed on the board within 90 s (API: ${JSON.stringify(mine ?? tasks.text).slice(0, 1500)})`, { cause: err });
    }
    await assertNoAlert(page, 'board');
    await shot(page, `first-run-${label}-board`);
    await card.click();
    await page.getByRole('heading', { level: 1, name: titled }).waitFor({ timeout: T });
    await page.locator('.facts .badge[data-status="completed"]').waitFor({ timeout: T });
    await assertNoAlert(page, 'task page');
    await shot(page, `first-run-${label}-task`);
    const id = Number(new URL(page.url()).pathname.split('/').pop());
    if (errors.length) throw new Error(`script errors or CSP violations: ${errors.join('; ')}`);
    console.log(JSON.stringify({ id }));
  } catch (err) {
    if (page) await shot(page, `first-run-${label}-failure`).catch(() => {});
    throw err;
  } finally {
    await browser.close();
  }
}

const command = process.argv[2];
const commands = { fake, browse };
if (!commands[command]) {
  console.error('usage: node first-run.mjs fake|browse');
  process.exit(2);
}
commands[command]().catch((err) => {
  console.error(`first-run.mjs ${command}: ${err.stack ?? err}`);
  process.exit(1);
});
