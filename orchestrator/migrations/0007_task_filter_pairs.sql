-- Two-column task filters on a big board (issue 10). A filter on status and category,
-- or on status and agent, used one single-column index and read every row of that
-- column until it found a page: on a million tasks, half a second when the two are
-- correlated (every blocked task has one priority; no pending task has an agent).
-- With both columns in front of the list order, such a page is an index range.
CREATE INDEX tasks_by_status_category ON tasks (status, category, priority, created_at);
CREATE INDEX tasks_by_status_agent ON tasks (status, assigned_agent, priority, created_at);
