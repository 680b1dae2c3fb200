-- Whether the last run had Telegram on. A run that turns it on after a run without it
-- moves last_event_id to the newest event first, so what happened while it was off is
-- not replayed as stale messages with live buttons.
ALTER TABLE telegram_state ADD COLUMN active INTEGER NOT NULL DEFAULT 0;
-- An installation that already talks to Telegram keeps its cursor.
UPDATE telegram_state SET active = 1
WHERE EXISTS (SELECT 1 FROM telegram_outbox) OR EXISTS (SELECT 1 FROM telegram_inbox)
   OR update_offset > 0;
