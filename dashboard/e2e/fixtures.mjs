// Sessions are created only by the engine and the API cannot create them, so the scale
// test for the session log writes a finished session straight into the server's temp
// database (after its migrations ran). Reading goes through the real API and browser.
// Replace with the server's own helper once it has one. Uses python3's sqlite3 because
// Node 20 has no SQLite module.
import { execFileSync } from 'node:child_process';

const SCRIPT = `
import json, sqlite3, sys
db, task_id, agent_id, lines = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
con = sqlite3.connect(db, timeout=10)
at = '2026-11-27T18:00:00.000Z'
cur = con.execute("INSERT INTO sessions (task_id, agent_id, model, status, started_at, ended_at, exit_reason, input_tokens, output_tokens, cost_usd) VALUES (?, ?, 'claude-sonnet-4-5', 'succeeded', ?, '2026-11-27T18:20:00.000Z', 'checks passed', 120000, 30000, 0.81)", (task_id, agent_id, at))
sid = cur.lastrowid
def row(seq):
    k = seq % 5
    if k == 0: return (sid, seq, at, 'text', f'Thinking about step {seq}.')
    if k == 1: return (sid, seq, at, 'tool_call', json.dumps({'name': 'read_file', 'input': {'path': f'src/mod_{seq}.rs'}}))
    if k == 2: return (sid, seq, at, 'tool_result', json.dumps({'name': 'read_file', 'output': f'fn f{seq}() {{}}', 'is_error': False}))
    if k == 3: return (sid, seq, at, 'output', f'test result: ok. {seq} passed')
    return (sid, seq, at, 'system', f'checkpoint {seq}')
con.executemany("INSERT INTO session_logs (session_id, seq, at, kind, content) VALUES (?, ?, ?, ?, ?)", (row(s) for s in range(1, lines - 1)))
con.execute("INSERT INTO session_logs VALUES (?, ?, ?, 'commit', 'abc1234 Make the tests pass')", (sid, lines - 1, at))
con.execute("INSERT INTO session_logs VALUES (?, ?, ?, 'diff', ?)", (sid, lines, at, '--- a/src/lib.rs\\n+++ b/src/lib.rs\\n@@ -1 +1 @@\\n-old\\n+new'))
con.commit()
print(sid)
`;

/** Writes a finished session with `lines` log lines; returns its id. */
export function writeSessionFixture(databasePath, { taskId, agentId, lines }) {
  const out = execFileSync('python3', ['-c', SCRIPT, databasePath, String(taskId), agentId, String(lines)], { encoding: 'utf8' });
  return Number(out.trim());
}

const TASK_SCRIPT = `
import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=10)
fields = json.loads(sys.argv[3])
con.execute("UPDATE tasks SET " + ", ".join(f"{k} = ?" for k in fields) + " WHERE id = ?", (*fields.values(), int(sys.argv[2])))
con.commit()
`;

/**
 * Puts a task in a state only the engine reaches (failed, waiting out a retry) by writing
 * its row. Nothing is published: load the page after calling it.
 */
export function setTaskFields(databasePath, taskId, fields) {
  execFileSync('python3', ['-c', TASK_SCRIPT, databasePath, String(taskId), JSON.stringify(fields)]);
}

const LOG_SCRIPT = `
import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=10)
sid = int(sys.argv[2])
seq = con.execute("SELECT COALESCE(MAX(seq), 0) FROM session_logs WHERE session_id = ?", (sid,)).fetchone()[0]
for kind, content in json.loads(sys.argv[3]):
    seq += 1
    con.execute("INSERT INTO session_logs (session_id, seq, at, kind, content) VALUES (?, ?, '2026-11-27T18:30:00.000Z', ?, ?)", (sid, seq, kind, content))
con.commit()
`;

/** Appends `[kind, content]` lines to a session's stored log. */
export function appendLogLines(databasePath, sessionId, lines) {
  execFileSync('python3', ['-c', LOG_SCRIPT, databasePath, String(sessionId), JSON.stringify(lines)]);
}
