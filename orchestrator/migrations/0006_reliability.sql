-- Engine reliability (issue 11): what lands is what was verified, crash loops end,
-- spend is capped per task, session logs are bounded.

-- How the attempt's branch was brought up to the base before verification (`merge`).
ALTER TABLE sessions ADD COLUMN landing TEXT;
-- Bytes and lines of the session's stored log, for its cap and for the API.
ALTER TABLE sessions ADD COLUMN log_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN log_lines INTEGER NOT NULL DEFAULT 0;

-- Sessions of this task interrupted by an orchestrator crash; past the limit the task
-- is blocked instead of being run again.
ALTER TABLE tasks ADD COLUMN crash_interruptions INTEGER NOT NULL DEFAULT 0;
-- Optional cap on what all sessions of the task may cost, in USD.
ALTER TABLE tasks ADD COLUMN max_cost_usd REAL;

CREATE INDEX sessions_reliability_ended ON sessions (ended_at) WHERE ended_at IS NOT NULL;
