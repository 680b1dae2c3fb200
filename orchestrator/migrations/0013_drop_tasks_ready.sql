-- The ready query (status = 'pending', in priority and age order) walks
-- tasks_by_status (status, priority, created_at); tasks_ready (status, retry_at) only
-- cost one more page written per task write.
DROP INDEX IF EXISTS tasks_ready;
