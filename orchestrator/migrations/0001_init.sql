-- The task board, agents, sessions and the operations log.
-- Timestamps are UTC RFC 3339 text with milliseconds ("2026-11-27T18:00:00.123Z"),
-- written by the application; text order is time order.

CREATE TABLE agents (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL,
    model           TEXT NOT NULL,
    runtime         TEXT NOT NULL CHECK (runtime IN ('anthropic', 'cli')),
    max_concurrency INTEGER NOT NULL CHECK (max_concurrency BETWEEN 1 AND 16),
    enabled         INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    status          TEXT NOT NULL,
    status_reason   TEXT,
    last_heartbeat  TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE tasks (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    display_id     TEXT UNIQUE,
    title          TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    category       TEXT NOT NULL,
    priority       INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 4),
    status         TEXT NOT NULL CHECK (status IN
        ('pending', 'in_progress', 'verifying', 'completed', 'failed', 'blocked', 'cancelled')),
    pass_criteria  TEXT NOT NULL DEFAULT '[]',
    assigned_agent TEXT REFERENCES agents(id) ON DELETE SET NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    max_attempts   INTEGER NOT NULL DEFAULT 3,
    diagnosis      TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX tasks_by_status ON tasks (status, priority, created_at);
CREATE INDEX tasks_by_category ON tasks (category);
CREATE INDEX tasks_by_agent ON tasks (assigned_agent);

-- A task waits for every task it depends on. Deleting a task that others wait for
-- is refused (RESTRICT), so no dependency ever dangles.
CREATE TABLE task_dependencies (
    task_id    INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    depends_on INTEGER NOT NULL REFERENCES tasks(id) ON DELETE RESTRICT,
    PRIMARY KEY (task_id, depends_on)
) WITHOUT ROWID;
CREATE INDEX task_dependencies_reverse ON task_dependencies (depends_on);

CREATE TABLE task_history (
    id          INTEGER PRIMARY KEY,
    task_id     INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX task_history_by_task ON task_history (task_id, id);

-- Sessions outlive their task (task_id becomes NULL) so that spend stays counted.
CREATE TABLE sessions (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id            INTEGER REFERENCES tasks(id) ON DELETE SET NULL,
    agent_id           TEXT NOT NULL REFERENCES agents(id),
    model              TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN
        ('running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
    started_at         TEXT NOT NULL,
    ended_at           TEXT,
    exit_reason        TEXT,
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd           REAL NOT NULL DEFAULT 0
);
CREATE INDEX sessions_by_task ON sessions (task_id);
CREATE INDEX sessions_by_agent ON sessions (agent_id);
CREATE INDEX sessions_by_status ON sessions (status);
CREATE INDEX sessions_by_start ON sessions (started_at);

CREATE TABLE session_logs (
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    content    TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;

CREATE TRIGGER session_logs_are_append_only BEFORE UPDATE ON session_logs
BEGIN
    SELECT RAISE(ABORT, 'session logs are append-only');
END;

-- The operations log. Rows are removed only by retention, never changed.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    type       TEXT NOT NULL,
    severity   TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'error')),
    task_id    INTEGER,
    agent_id   TEXT,
    session_id INTEGER,
    message    TEXT NOT NULL,
    payload    TEXT NOT NULL DEFAULT 'null',
    at         TEXT NOT NULL
);
CREATE INDEX events_by_type ON events (type, id);
CREATE INDEX events_by_time ON events (at);

CREATE TRIGGER events_are_append_only BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

-- Orchestrator state that must survive a restart, such as the paused flag.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
