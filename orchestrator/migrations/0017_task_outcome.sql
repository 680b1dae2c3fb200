-- How a completed task ended, as JSON: {"kind":"landed","commit":"…"} or
-- {"kind":"no_changes"}. NULL for tasks not completed (and those completed before it).
ALTER TABLE tasks ADD COLUMN outcome TEXT;
