-- Review before landing (landing policy `review`).
--
-- A task may wait in the new status `review`. SQLite cannot change a CHECK in place, so
-- the status column is replaced (as 0008 did for sessions.purpose): the indexes and
-- triggers that name it go first and come back unchanged.
DROP TRIGGER task_tally_on_insert;
DROP TRIGGER task_tally_on_delete;
DROP TRIGGER task_tally_on_update;
DROP INDEX tasks_by_status;
DROP INDEX tasks_by_status_category;
DROP INDEX tasks_by_status_agent;

ALTER TABLE tasks ADD COLUMN status_v18 TEXT NOT NULL DEFAULT 'pending' CHECK (status_v18 IN
    ('pending', 'in_progress', 'verifying', 'review', 'completed', 'failed', 'blocked', 'cancelled'));
UPDATE tasks SET status_v18 = status;
ALTER TABLE tasks DROP COLUMN status;
ALTER TABLE tasks RENAME COLUMN status_v18 TO status;

CREATE INDEX tasks_by_status ON tasks (status, priority, created_at);
CREATE INDEX tasks_by_status_category ON tasks (status, category, priority, created_at);
CREATE INDEX tasks_by_status_agent ON tasks (status, assigned_agent, priority, created_at)
    WHERE assigned_agent IS NOT NULL;

CREATE TRIGGER task_tally_on_insert AFTER INSERT ON tasks
BEGIN
    INSERT INTO task_tally (status, priority, category, agent, n)
    VALUES (NEW.status, NEW.priority, NEW.category, COALESCE(NEW.assigned_agent, ''), 1)
    ON CONFLICT (status, priority, category, agent) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER task_tally_on_delete AFTER DELETE ON tasks
BEGIN
    UPDATE task_tally SET n = n - 1
    WHERE status = OLD.status AND priority = OLD.priority AND category = OLD.category
      AND agent = COALESCE(OLD.assigned_agent, '');
    DELETE FROM task_tally
    WHERE status = OLD.status AND priority = OLD.priority AND category = OLD.category
      AND agent = COALESCE(OLD.assigned_agent, '') AND n <= 0;
END;

CREATE TRIGGER task_tally_on_update AFTER UPDATE OF status, priority, category, assigned_agent
ON tasks
WHEN OLD.status IS NOT NEW.status OR OLD.priority IS NOT NEW.priority
  OR OLD.category IS NOT NEW.category OR OLD.assigned_agent IS NOT NEW.assigned_agent
BEGIN
    UPDATE task_tally SET n = n - 1
    WHERE status = OLD.status AND priority = OLD.priority AND category = OLD.category
      AND agent = COALESCE(OLD.assigned_agent, '');
    DELETE FROM task_tally
    WHERE status = OLD.status AND priority = OLD.priority AND category = OLD.category
      AND agent = COALESCE(OLD.assigned_agent, '') AND n <= 0;
    INSERT INTO task_tally (status, priority, category, agent, n)
    VALUES (NEW.status, NEW.priority, NEW.category, COALESCE(NEW.assigned_agent, ''), 1)
    ON CONFLICT (status, priority, category, agent) DO UPDATE SET n = n + 1;
END;

-- The task's landing policy, overriding its role's; NULL: the role's.
ALTER TABLE tasks ADD COLUMN land TEXT CHECK (land IN ('auto', 'review', 'pull_request'));
-- A person's change request or message for the next attempt (it continues the agent's
-- conversation, kept in paused_conversation, with it).
ALTER TABLE tasks ADD COLUMN follow_up TEXT;
-- The reviewed commit a person approved: the next attempt lands it without an agent.
ALTER TABLE tasks ADD COLUMN approved_commit TEXT;
-- The pull request the task's verified work is in (land = pull_request), as JSON:
-- {"number","url","commit","pushed_at","fix_rounds"}. Kept after it is merged or closed.
ALTER TABLE tasks ADD COLUMN pull_request TEXT;

-- Comments on lines of a task's diff, kept across its attempts.
CREATE TABLE review_comments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    line        INTEGER NOT NULL CHECK (line >= 1),
    end_line    INTEGER CHECK (end_line IS NULL OR end_line >= line),
    side        TEXT NOT NULL CHECK (side IN ('old', 'new')),
    body        TEXT NOT NULL,
    author      TEXT NOT NULL,
    commit_sha  TEXT NOT NULL,
    line_text   TEXT NOT NULL,
    outdated    INTEGER NOT NULL DEFAULT 0 CHECK (outdated IN (0, 1)),
    resolved    INTEGER NOT NULL DEFAULT 0 CHECK (resolved IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX review_comments_by_task ON review_comments (task_id, id);
