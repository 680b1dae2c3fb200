-- Where a session runs: its executor (local, docker, kubernetes, process) and the
-- container, pod or process name there. NULL for sessions from before executors.
ALTER TABLE sessions ADD COLUMN executor TEXT;
ALTER TABLE sessions ADD COLUMN executor_name TEXT;
