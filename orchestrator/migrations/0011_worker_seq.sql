-- A remote worker's event sequence number stored so far (the next one expected),
-- written in the same transaction as its events, so an orchestrator restarted after
-- storing a batch but before acknowledging it skips the worker's resend. NULL for
-- local sessions and workers that have sent nothing.
ALTER TABLE sessions ADD COLUMN worker_seq INTEGER;
