-- Agents over the Agent Client Protocol: agents may have the runtime `acp`. SQLite
-- cannot change a CHECK in place, so the column is replaced (as 0019 did).
ALTER TABLE agents ADD COLUMN runtime_v20 TEXT NOT NULL DEFAULT 'anthropic'
    CHECK (runtime_v20 IN ('anthropic', 'openai', 'cli', 'acp'));
UPDATE agents SET runtime_v20 = runtime;
ALTER TABLE agents DROP COLUMN runtime;
ALTER TABLE agents RENAME COLUMN runtime_v20 TO runtime;
