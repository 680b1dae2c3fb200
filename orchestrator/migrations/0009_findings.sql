-- Findings (issue 15): what a human-sim agent saw fail, reported on the task it tested.
-- The screenshot is a PNG file under the data directory's screenshots/, named here.
CREATE TABLE findings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    session_id  INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
    title       TEXT NOT NULL,
    detail      TEXT NOT NULL,
    persona     TEXT NOT NULL,
    screenshot  TEXT,
    created_at  TEXT NOT NULL
);

CREATE INDEX findings_by_task ON findings (task_id, id);
