-- The own agent loop on an OpenAI-compatible endpoint: agents may have the runtime
-- `openai`. SQLite cannot change a CHECK in place, so the column is replaced (as 0018
-- did for tasks.status); no index or trigger names it.
ALTER TABLE agents ADD COLUMN runtime_v19 TEXT NOT NULL DEFAULT 'anthropic'
    CHECK (runtime_v19 IN ('anthropic', 'openai', 'cli'));
UPDATE agents SET runtime_v19 = runtime;
ALTER TABLE agents DROP COLUMN runtime;
ALTER TABLE agents RENAME COLUMN runtime_v19 TO runtime;
