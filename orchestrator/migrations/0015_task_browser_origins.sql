-- A task's browser_origins (issue 15): origins beyond loopback its browser may open,
-- added to its agent's role's. A JSON array of `scheme://host[:port]` strings.
ALTER TABLE tasks ADD COLUMN browser_origins TEXT NOT NULL DEFAULT '[]';
