-- Telegram: the outbox of notifications, the inbox of updates, and the cursors that
-- make both survive a crash (nothing missed, nothing done twice).

-- One row. last_event_id: events up to here have been turned into outbox rows (in the
-- same transaction as those rows). update_offset: the next getUpdates offset; updates
-- below it are in telegram_inbox already.
CREATE TABLE telegram_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    last_event_id INTEGER NOT NULL,
    update_offset INTEGER NOT NULL DEFAULT 0,
    updated_at    TEXT NOT NULL
);
-- Start after the events that exist now: a new install does not replay history.
INSERT INTO telegram_state (id, last_event_id, update_offset, updated_at)
VALUES (1, COALESCE((SELECT MAX(id) FROM events), 0), 0,
        strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

CREATE TABLE telegram_outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id     INTEGER NOT NULL,
    -- completed, blocked, diagnosis, question, ... or summary (a coalesced flood)
    kind        TEXT NOT NULL,
    event_id    INTEGER,
    task_id     INTEGER,
    text        TEXT NOT NULL,
    -- reply_markup JSON (inline keyboard), or NULL
    keyboard    TEXT,
    -- summary rows: {"kind": count} of the notifications folded into it
    counts      TEXT,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  TEXT,
    message_id  INTEGER,
    error       TEXT,
    created_at  TEXT NOT NULL,
    done_at     TEXT
);
CREATE INDEX telegram_outbox_pending ON telegram_outbox (status, chat_id, id);
CREATE INDEX telegram_outbox_message ON telegram_outbox (chat_id, message_id);

-- Updates received (getUpdates or webhook), kept until handled so a crash skips none;
-- update_id is unique so none is handled twice.
CREATE TABLE telegram_inbox (
    update_id   INTEGER PRIMARY KEY,
    body        TEXT NOT NULL,
    handled_at  TEXT,
    received_at TEXT NOT NULL
);
CREATE INDEX telegram_inbox_pending ON telegram_inbox (handled_at, update_id);
