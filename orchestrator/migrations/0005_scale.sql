-- The board at scale (a million tasks): an index for every list filter that ends in the
-- list's sort, and counts kept up to date by triggers so that totals never scan a table.

-- Tasks list in (priority, created_at, id) order; SQLite appends the rowid (= id) to
-- every index, so each index below serves its filter, the sort and a keyset page.
CREATE INDEX tasks_by_order ON tasks (priority, created_at);
DROP INDEX tasks_by_category;
CREATE INDEX tasks_by_category ON tasks (category, priority, created_at);
DROP INDEX tasks_by_agent;
CREATE INDEX tasks_by_agent ON tasks (assigned_agent, priority, created_at);

-- How many tasks have each combination of the list's exact-match filters. The table
-- stays small (statuses x priorities x categories x agents), so any total is a sum
-- over a few rows.
CREATE TABLE task_tally (
    status   TEXT NOT NULL,
    priority INTEGER NOT NULL,
    category TEXT NOT NULL,
    agent    TEXT NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (status, priority, category, agent)
) WITHOUT ROWID;

INSERT INTO task_tally (status, priority, category, agent, n)
SELECT status, priority, category, COALESCE(assigned_agent, ''), COUNT(*)
FROM tasks GROUP BY 1, 2, 3, 4;

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

-- Sessions list newest first (by id); the single-column indexes of 0001 already end
-- in the rowid. Their totals come from a tally as well.
CREATE TABLE session_tally (
    agent_id TEXT NOT NULL,
    status   TEXT NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (agent_id, status)
) WITHOUT ROWID;

INSERT INTO session_tally (agent_id, status, n)
SELECT agent_id, status, COUNT(*) FROM sessions GROUP BY 1, 2;

CREATE TRIGGER session_tally_on_insert AFTER INSERT ON sessions
BEGIN
    INSERT INTO session_tally (agent_id, status, n) VALUES (NEW.agent_id, NEW.status, 1)
    ON CONFLICT (agent_id, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER session_tally_on_delete AFTER DELETE ON sessions
BEGIN
    UPDATE session_tally SET n = n - 1 WHERE agent_id = OLD.agent_id AND status = OLD.status;
END;

CREATE TRIGGER session_tally_on_update AFTER UPDATE OF agent_id, status ON sessions
WHEN OLD.agent_id IS NOT NEW.agent_id OR OLD.status IS NOT NEW.status
BEGIN
    UPDATE session_tally SET n = n - 1 WHERE agent_id = OLD.agent_id AND status = OLD.status;
    INSERT INTO session_tally (agent_id, status, n) VALUES (NEW.agent_id, NEW.status, 1)
    ON CONFLICT (agent_id, status) DO UPDATE SET n = n + 1;
END;

-- The operations feed filtered by type pages by id: events_by_type (type, id) serves it
-- once the query names the type without an "IS NULL OR" (see store/events.rs).
