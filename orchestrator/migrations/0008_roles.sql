-- Roles as data: the evaluator's estimate of each task, validation's rejections
-- (a second one calls SIA), and SIA's proposals waiting for a person.
CREATE TABLE task_estimates (
    task_id    INTEGER PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
    size       TEXT NOT NULL CHECK (size IN ('small', 'medium', 'large')),
    reason     TEXT NOT NULL,
    agent_id   TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE validation_rejections (
    id         INTEGER PRIMARY KEY,
    task_id    INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    session_id INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
    reasons    TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX validation_rejections_by_task ON validation_rejections (task_id);

CREATE TABLE proposals (
    id          INTEGER PRIMARY KEY,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    priority    TEXT NOT NULL,
    category    TEXT NOT NULL,
    -- What made SIA look: 'schedule', 'blocked', or 'arbitration of T-3'.
    source      TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'proposed'
                CHECK (status IN ('proposed', 'accepted', 'rejected')),
    task_id     INTEGER REFERENCES tasks(id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    decided_at  TEXT
);
CREATE INDEX proposals_by_status ON proposals (status, id);

-- Sessions of the helper roles are not attempts: each says what it was for. SQLite
-- cannot change a CHECK in place, so the column is replaced (a CHECK on the column
-- itself goes with it) and renamed back.
ALTER TABLE sessions ADD COLUMN purpose_v8 TEXT NOT NULL DEFAULT 'attempt'
    CHECK (purpose_v8 IN ('attempt', 'investigation', 'estimate', 'design', 'validation', 'review'));
UPDATE sessions SET purpose_v8 = purpose WHERE purpose != 'attempt';
ALTER TABLE sessions DROP COLUMN purpose;
ALTER TABLE sessions RENAME COLUMN purpose_v8 TO purpose;
