-- Every new task has no agent, yet each create wrote a page of both agent indexes.
-- A filter on an agent always names one (`assigned_agent = ?`), which a partial index
-- on the assigned tasks answers; tasks enter these indexes when they are claimed.
DROP INDEX IF EXISTS tasks_by_agent;
CREATE INDEX tasks_by_agent ON tasks (assigned_agent, priority, created_at)
    WHERE assigned_agent IS NOT NULL;
DROP INDEX IF EXISTS tasks_by_status_agent;
CREATE INDEX tasks_by_status_agent ON tasks (status, assigned_agent, priority, created_at)
    WHERE assigned_agent IS NOT NULL;
-- Events are appended in time order under the one writer, so pruning walks them in id
-- order from the oldest; an index on their time cost every change one more page.
DROP INDEX IF EXISTS events_by_time;
