-- What the agent engine needs to remember about tasks and sessions.

-- Retry backoff: the task is not ready before this instant.
ALTER TABLE tasks ADD COLUMN retry_at TEXT;
-- The last failed attempt's summary (verification tail and the agent's last message),
-- given to the next attempt's prompt.
ALTER TABLE tasks ADD COLUMN last_failure TEXT;
-- ask_human: the question waiting for an answer, the answer, and the paused
-- conversation (JSON) to resume with it.
ALTER TABLE tasks ADD COLUMN question TEXT;
ALTER TABLE tasks ADD COLUMN answer TEXT;
ALTER TABLE tasks ADD COLUMN paused_conversation TEXT;

ALTER TABLE sessions ADD COLUMN worktree TEXT;
ALTER TABLE sessions ADD COLUMN branch TEXT;
ALTER TABLE sessions ADD COLUMN commit_sha TEXT;
-- The tail of the verification output.
ALTER TABLE sessions ADD COLUMN verify_output TEXT;
-- Investigator sessions have no attempt of their own.
ALTER TABLE sessions ADD COLUMN purpose TEXT NOT NULL DEFAULT 'attempt'
    CHECK (purpose IN ('attempt', 'investigation'));

CREATE INDEX tasks_ready ON tasks (status, retry_at);
