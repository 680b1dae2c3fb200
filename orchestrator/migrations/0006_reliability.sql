-- Engine reliability (issue 11): what lands is what was verified, crash loops end,
-- spend is capped per task, session logs are pruned.

-- How the attempt's branch was brought up to the base before verification (`merge`).
ALTER TABLE sessions ADD COLUMN landing TEXT;

-- Sessions of this task interrupted by an orchestrator crash; past the limit the task
-- is blocked instead of being run again.
ALTER TABLE tasks ADD COLUMN crash_interruptions INTEGER NOT NULL DEFAULT 0;

-- Optional cap on what all sessions of the task may cost together, in USD.
ALTER TABLE tasks ADD COLUMN max_cost_usd REAL;

-- Log retention finds ended sessions by their end.
CREATE INDEX sessions_reliability_ended ON sessions (ended_at) WHERE ended_at IS NOT NULL;
