// A local stand-in for the Anthropic Messages API (the one third-party service we cannot
// reach), speaking its real streaming wire format: `POST /v1/messages` answered with
// server-sent events. It plays a scripted agent (`script(requestBody, turn)` returns the
// turn's text and tool call). Each answer waits `delayMs`, so the session's log grows
// while a browser is watching it.
import { createServer } from 'node:http';

function sse(res, type, data) {
  res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
}

/**
 * The default script: turns listing the repository, then one writing NOTES.md (a build
 * task that changes nothing fails its attempt), then complete_task on turn `turns`.
 */
export const listThenComplete = (turns) => (_body, turn) => {
  if (turn >= turns) return { text: 'All done: wrote the notes.', tool: { name: 'complete_task', input: { summary: 'Wrote NOTES.md.' } } };
  if (turn === turns - 1) return { text: `Step ${turn}: writing the notes.`, tool: { name: 'write_file', input: { path: 'NOTES.md', content: '# Notes\n\nWritten by the e2e fake model.\n' } } };
  return { text: `Step ${turn}: listing the repository.`, tool: { name: 'list_dir', input: { path: '.' } } };
};

/** complete_task for a task that needed no change (without the reason a build task's attempt fails). */
export const completeUnchanged = (summary, why = 'The e2e model only looked; nothing needed changing.') => ({
  name: 'complete_task',
  input: { summary, no_changes_needed: why },
});

function reply(res, turn, { text, tool }) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  sse(res, 'message_start', {
    message: { id: `msg_e2e_${turn}`, type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [], stop_reason: null, usage: { input_tokens: 100 * turn, output_tokens: 1 } },
  });
  sse(res, 'content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
  sse(res, 'content_block_delta', { index: 0, delta: { type: 'text_delta', text } });
  sse(res, 'content_block_stop', { index: 0 });
  sse(res, 'content_block_start', { index: 1, content_block: { type: 'tool_use', id: `toolu_e2e_${turn}`, name: tool.name, input: {} } });
  sse(res, 'content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: JSON.stringify(tool.input) } });
  sse(res, 'content_block_stop', { index: 1 });
  sse(res, 'message_delta', { delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 20 } });
  sse(res, 'message_stop', {});
  res.end();
}

export function startFakeAnthropic({ turns = 5, delayMs = 1200, script = listThenComplete(turns) } = {}) {
  const requests = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/messages') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: `no route ${req.method} ${req.url}` } }));
        return;
      }
      const parsed = JSON.parse(body);
      requests.push(parsed);
      // The turn is one more than the assistant messages the agent has already received.
      const turn = parsed.messages.filter((m) => m.role === 'assistant').length + 1;
      setTimeout(() => reply(res, turn, script(parsed, turn)), delayMs);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}`, requests, stop: () => new Promise((r) => server.close(r)) });
    });
  });
}
