-- Where a remote session's worker runs: the Kubernetes node its pod was scheduled on,
-- or the Docker engine's host name. NULL for local sessions and until it is known.
ALTER TABLE sessions ADD COLUMN executor_node TEXT;
