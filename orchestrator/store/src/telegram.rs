//! Telegram's durable state: the outbox of notifications, the inbox of updates and
//! their cursors.
//!
//! Notifications are derived from the operations log: one transaction reads the events
//! after `last_event_id`, inserts their outbox rows and advances the cursor, so a crash
//! can neither miss an event nor turn one into two messages.

use std::collections::BTreeMap;

use harness_domain::{
    event::Event,
    task::{Task, TaskId},
    time::Timestamp,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    Store, StoreError,
    events::{EVENT_COLUMNS, RawEvent},
    tasks::{load_task, parse_time},
};

/// A notification about to be queued for one chat.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxDraft {
    pub chat_id: i64,
    pub kind: &'static str,
    pub task_id: Option<TaskId>,
    pub text: String,
    /// `reply_markup` JSON.
    pub keyboard: Option<String>,
}

/// A queued notification.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub chat_id: i64,
    pub kind: String,
    pub task_id: Option<i64>,
    pub text: String,
    pub keyboard: Option<String>,
    pub attempts: u32,
    pub not_before: Option<Timestamp>,
}

/// A message the bot sent, found again by its Telegram message id.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    pub kind: String,
    pub task_id: Option<i64>,
    pub text: String,
}

/// For `GET /api/telegram`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboxStats {
    pub pending: u64,
    pub failed: u64,
    pub last_sent_at: Option<Timestamp>,
}

/// What the start of a run changed in Telegram's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStart {
    /// Events passed over because the last run had Telegram off.
    pub skipped_events: i64,
    /// Pending notifications given up: stale after a run without Telegram, or for a
    /// chat no longer configured.
    pub dropped: usize,
}

/// How the derivation step renders: events to drafts, and a folded flood to one text.
pub trait Render {
    fn event(&mut self, event: &Event, task: Option<&Task>) -> Vec<OutboxDraft>;
    fn summary(&self, counts: &BTreeMap<String, u64>) -> String;
}

const SUMMARY: &str = "summary";

/// Inside the transaction of a change whose event names the Telegram update that asked
/// for it (`NewEvent::telegram_update`): marks that update handled, so the change and
/// the mark commit together and a crash between them cannot make the command run again
/// after a restart.
pub(super) fn mark_handled(conn: &Connection, update_id: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE telegram_inbox SET handled_at = ?2 WHERE update_id = ?1 AND handled_at IS NULL",
    )?
    .execute(params![update_id, Timestamp::now().to_rfc3339()])?;
    Ok(())
}

/// Telegram's own tables (outbox, inbox, update offset): the only part of the store the
/// Telegram module reaches, through `Board::telegram` (harness-board). Nothing here is
/// board state, so nothing here is announced live.
pub struct TelegramTables<'a>(&'a Store);

impl Store {
    pub fn telegram(&self) -> TelegramTables<'_> {
        TelegramTables(self)
    }
}

impl TelegramTables<'_> {
    /// Turns up to `limit` new events into outbox rows in one transaction. A chat with
    /// `cap` messages pending gets further ones folded into a single summary row.
    /// Returns how many events were read (0: the cursor is at the newest event).
    pub fn enqueue(
        &self,
        limit: u32,
        cap: u32,
        render: &mut dyn Render,
    ) -> Result<usize, StoreError> {
        // Most calls find nothing new: a read, without taking the writer.
        let (cursor, newest): (i64, i64) = self.0.read()?.query_row(
            "SELECT last_event_id, (SELECT COALESCE(MAX(id), 0) FROM events)
             FROM telegram_state WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if newest <= cursor {
            return Ok(0);
        }
        let tx = self.0.write()?;
        let cursor: i64 = tx.query_row(
            "SELECT last_event_id FROM telegram_state WHERE id = 1",
            [],
            |r| r.get(0),
        )?;
        let events = {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))?;
            stmt.query_map(params![cursor, limit], RawEvent::from_row)?
                .collect::<Result<Vec<_>, _>>()?
        };
        let Some(last) = events.last().map(|e| e.id) else {
            return Ok(0);
        };
        let now = Timestamp::now().to_rfc3339();
        let read = events.len();
        for raw in events {
            let event = raw.into_event()?;
            let task = match event.task_id {
                Some(id) => load_task(&tx, id).ok(),
                None => None,
            };
            for draft in render.event(&event, task.as_ref()) {
                queue_draft(&tx, &draft, event.id, cap, &now, render)?;
            }
        }
        tx.execute(
            "UPDATE telegram_state SET last_event_id = ?1, updated_at = ?2 WHERE id = 1",
            params![last, now],
        )?;
        tx.commit()?;
        Ok(read)
    }

    /// Records at startup whether this run has Telegram on (`chats` are its chats), in
    /// one transaction. On after a run with it off: the cursor moves to the newest event
    /// and notifications still pending from before are given up, so nothing that
    /// happened while it was off arrives late with live buttons. On: pending rows for
    /// chats no longer configured are given up too.
    pub fn start_run(&self, active: bool, chats: &[i64]) -> Result<RunStart, StoreError> {
        let tx = self.0.write()?;
        let now = Timestamp::now().to_rfc3339();
        let (was_active, cursor, newest): (bool, i64, i64) = tx.query_row(
            "SELECT active, last_event_id, (SELECT COALESCE(MAX(id), 0) FROM events)
             FROM telegram_state WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let mut start = RunStart::default();
        if active && !was_active {
            start.skipped_events = (newest - cursor).max(0);
            tx.execute(
                "UPDATE telegram_state SET last_event_id = MAX(last_event_id, ?1) WHERE id = 1",
                [newest],
            )?;
            start.dropped += tx.execute(
                "UPDATE telegram_outbox SET status = 'failed', done_at = ?1,
                        error = 'Telegram was off before it was sent'
                 WHERE status = 'pending'",
                [&now],
            )?;
        }
        if active {
            let waiting: Vec<i64> = tx
                .prepare("SELECT DISTINCT chat_id FROM telegram_outbox WHERE status = 'pending'")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for chat in waiting.into_iter().filter(|c| !chats.contains(c)) {
                start.dropped += tx.execute(
                    "UPDATE telegram_outbox SET status = 'failed', done_at = ?2,
                            error = 'the chat is no longer in TELEGRAM_CHAT_ID'
                     WHERE status = 'pending' AND chat_id = ?1",
                    params![chat, now],
                )?;
            }
        }
        tx.execute(
            "UPDATE telegram_state SET active = ?1, updated_at = ?2 WHERE id = 1",
            params![active, now],
        )?;
        tx.commit()?;
        Ok(start)
    }

    /// Pending rows in queue order (oldest first), due or not.
    pub fn pending(&self, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
        let conn = self.0.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, chat_id, kind, task_id, text, keyboard, attempts, not_before
             FROM telegram_outbox WHERE status = 'pending' ORDER BY id LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok((
                    OutboxRow {
                        id: r.get(0)?,
                        chat_id: r.get(1)?,
                        kind: r.get(2)?,
                        task_id: r.get(3)?,
                        text: r.get(4)?,
                        keyboard: r.get(5)?,
                        attempts: r.get(6)?,
                        not_before: None,
                    },
                    r.get::<_, Option<String>>(7)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(mut row, at)| {
                row.not_before = at.as_deref().map(parse_time).transpose()?;
                Ok(row)
            })
            .collect()
    }

    /// Telegram answered `ok`: the row is done.
    pub fn mark_sent(&self, id: i64, message_id: i64) -> Result<(), StoreError> {
        let tx = self.0.write()?;
        tx.execute(
            "UPDATE telegram_outbox SET status = 'sent', message_id = ?2, error = NULL,
                    attempts = attempts + 1, done_at = ?3 WHERE id = ?1",
            params![id, message_id, Timestamp::now().to_rfc3339()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// An error that will not change (chat not found, bot blocked): never retried.
    pub fn mark_failed(&self, id: i64, reason: &str) -> Result<(), StoreError> {
        let tx = self.0.write()?;
        tx.execute(
            "UPDATE telegram_outbox SET status = 'failed', error = ?2, attempts = attempts + 1,
                    done_at = ?3 WHERE id = ?1",
            params![id, reason, Timestamp::now().to_rfc3339()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A passing error: tried again at `not_before`.
    pub fn defer(&self, id: i64, not_before: Timestamp, reason: &str) -> Result<(), StoreError> {
        let tx = self.0.write()?;
        tx.execute(
            "UPDATE telegram_outbox SET not_before = ?2, error = ?3, attempts = attempts + 1
             WHERE id = ?1",
            params![id, not_before.to_rfc3339(), reason],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The notification behind a message the bot sent (for buttons and replies).
    pub fn sent_message(
        &self,
        chat_id: i64,
        message_id: i64,
    ) -> Result<Option<SentMessage>, StoreError> {
        Ok(self
            .0
            .read()?
            .query_row(
                "SELECT kind, task_id, text FROM telegram_outbox
                 WHERE chat_id = ?1 AND message_id = ?2",
                params![chat_id, message_id],
                |r| {
                    Ok(SentMessage {
                        kind: r.get(0)?,
                        task_id: r.get(1)?,
                        text: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn stats(&self) -> Result<OutboxStats, StoreError> {
        let conn = self.0.read()?;
        let (pending, failed, last): (u64, u64, Option<String>) = conn.query_row(
            "SELECT (SELECT COUNT(*) FROM telegram_outbox WHERE status = 'pending'),
                    (SELECT COUNT(*) FROM telegram_outbox WHERE status = 'failed'),
                    (SELECT MAX(done_at) FROM telegram_outbox WHERE status = 'sent')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(OutboxStats {
            pending,
            failed,
            last_sent_at: last.as_deref().map(parse_time).transpose()?,
        })
    }

    /// Deletes sent and failed rows, and handled updates, finished before `before`.
    pub fn prune(&self, before: Timestamp) -> Result<usize, StoreError> {
        let tx = self.0.write()?;
        let at = before.to_rfc3339();
        let n = tx.execute(
            "DELETE FROM telegram_outbox WHERE status IN ('sent', 'failed') AND done_at < ?1",
            [&at],
        )? + tx.execute(
            "DELETE FROM telegram_inbox WHERE handled_at IS NOT NULL AND handled_at < ?1",
            [&at],
        )?;
        tx.commit()?;
        Ok(n)
    }

    /// The `offset` for the next getUpdates.
    pub fn update_offset(&self) -> Result<i64, StoreError> {
        Ok(self.0.read()?.query_row(
            "SELECT update_offset FROM telegram_state WHERE id = 1",
            [],
            |r| r.get(0),
        )?)
    }

    /// Stores received updates (`update_id`, raw JSON) and moves the offset past them,
    /// in one transaction. An update seen before is ignored. Returns how many were new.
    pub fn receive(&self, updates: &[(i64, String)]) -> Result<usize, StoreError> {
        let tx = self.0.write()?;
        let now = Timestamp::now().to_rfc3339();
        let mut new = 0;
        for (id, body) in updates {
            new += tx.execute(
                "INSERT OR IGNORE INTO telegram_inbox (update_id, body, received_at)
                 VALUES (?1, ?2, ?3)",
                params![id, body, now],
            )?;
        }
        if let Some(max) = updates.iter().map(|(id, _)| *id).max() {
            tx.execute(
                "UPDATE telegram_state SET update_offset = MAX(update_offset, ?1), updated_at = ?2
                 WHERE id = 1",
                params![max + 1, now],
            )?;
        }
        tx.commit()?;
        Ok(new)
    }

    /// Received updates not handled yet, oldest first.
    pub fn unhandled(&self, limit: u32) -> Result<Vec<(i64, String)>, StoreError> {
        let conn = self.0.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT update_id, body FROM telegram_inbox WHERE handled_at IS NULL
             ORDER BY update_id LIMIT ?1",
        )?;
        Ok(stmt
            .query_map([limit], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?)
    }

    pub fn mark_handled(&self, update_id: i64) -> Result<(), StoreError> {
        let tx = self.0.write()?;
        tx.execute(
            "UPDATE telegram_inbox SET handled_at = ?2 WHERE update_id = ?1",
            params![update_id, Timestamp::now().to_rfc3339()],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// Inserts `draft`, or folds it into the chat's pending summary row once the chat has
/// `cap` messages pending.
fn queue_draft(
    tx: &Connection,
    draft: &OutboxDraft,
    event_id: i64,
    cap: u32,
    now: &str,
    render: &dyn Render,
) -> Result<(), StoreError> {
    let pending: u32 = tx.query_row(
        "SELECT COUNT(*) FROM telegram_outbox WHERE chat_id = ?1 AND status = 'pending'",
        [draft.chat_id],
        |r| r.get(0),
    )?;
    if pending < cap {
        tx.execute(
            "INSERT INTO telegram_outbox (chat_id, kind, event_id, task_id, text, keyboard, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                draft.chat_id,
                draft.kind,
                event_id,
                draft.task_id.map(TaskId::get),
                draft.text,
                draft.keyboard,
                now
            ],
        )?;
        return Ok(());
    }
    let summary: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, counts FROM telegram_outbox
             WHERE chat_id = ?1 AND status = 'pending' AND kind = ?2 ORDER BY id DESC LIMIT 1",
            params![draft.chat_id, SUMMARY],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                ))
            },
        )
        .optional()?;
    let (id, mut counts) = match summary {
        Some((id, json)) => (Some(id), serde_json::from_str(&json).unwrap_or_default()),
        None => (None, BTreeMap::new()),
    };
    *counts.entry(draft.kind.to_owned()).or_insert(0u64) += 1;
    let text = render.summary(&counts);
    let json = serde_json::to_string(&counts).unwrap_or_default();
    match id {
        Some(id) => tx.execute(
            "UPDATE telegram_outbox SET text = ?2, counts = ?3, event_id = ?4 WHERE id = ?1",
            params![id, text, json, event_id],
        )?,
        None => tx.execute(
            "INSERT INTO telegram_outbox (chat_id, kind, event_id, text, counts, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![draft.chat_id, SUMMARY, event_id, text, json, now],
        )?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use harness_domain::event::NewEvent;
    use harness_domain::event::Operation;

    use super::*;

    /// One message per event to chat 1; summaries say how many were folded.
    struct EveryEvent;

    impl Render for EveryEvent {
        fn event(&mut self, event: &Event, _task: Option<&Task>) -> Vec<OutboxDraft> {
            vec![OutboxDraft {
                chat_id: 1,
                kind: "created",
                task_id: None,
                text: event.message.clone(),
                keyboard: None,
            }]
        }

        fn summary(&self, counts: &BTreeMap<String, u64>) -> String {
            format!("{} more", counts.values().sum::<u64>())
        }
    }

    impl Store {
        fn count_tasks_for_test(&self) -> i64 {
            let conn = self.read().unwrap();
            conn.query_row("SELECT COUNT(*) FROM tasks", [], |r| r.get(0))
                .unwrap()
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("h.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn a_flood_is_folded_into_one_summary_after_the_cap() {
        let (_dir, store) = store();
        for i in 0..250 {
            store
                .record_event(&NewEvent::info(
                    Operation::TaskCreated,
                    format!("event {i}"),
                ))
                .unwrap();
        }
        while store.telegram().enqueue(100, 10, &mut EveryEvent).unwrap() > 0 {}
        let pending = store.telegram().pending(1000).unwrap();
        assert_eq!(pending.len(), 11);
        assert_eq!(pending[0].text, "event 0");
        assert_eq!(pending[9].text, "event 9");
        assert_eq!(pending[10].kind, "summary");
        assert_eq!(pending[10].text, "240 more");
    }

    #[test]
    fn each_event_is_queued_once_even_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        {
            let (store, _) = Store::open(&path).unwrap();
            store
                .record_event(&NewEvent::info(Operation::TaskCreated, "one"))
                .unwrap();
            assert_eq!(
                store.telegram().enqueue(100, 10, &mut EveryEvent).unwrap(),
                1
            );
            store
                .record_event(&NewEvent::info(Operation::TaskCreated, "two"))
                .unwrap();
        }
        let (store, _) = Store::open(&path).unwrap();
        assert_eq!(
            store.telegram().enqueue(100, 10, &mut EveryEvent).unwrap(),
            1
        );
        assert_eq!(
            store.telegram().enqueue(100, 10, &mut EveryEvent).unwrap(),
            0
        );
        let texts: Vec<String> = store
            .telegram()
            .pending(10)
            .unwrap()
            .into_iter()
            .map(|r| r.text)
            .collect();
        assert_eq!(texts, ["one", "two"]);
    }

    #[test]
    fn events_before_telegram_existed_are_not_replayed() {
        let (_dir, store) = store();
        // The migration set the cursor at the newest event then; a fresh database has none.
        assert_eq!(
            store.telegram().enqueue(100, 10, &mut EveryEvent).unwrap(),
            0
        );
    }

    fn queued_texts(store: &Store) -> Vec<String> {
        while store.telegram().enqueue(100, 50, &mut EveryEvent).unwrap() > 0 {}
        let pending = store.telegram().pending(100).unwrap();
        pending.into_iter().map(|r| r.text).collect()
    }

    #[test]
    fn events_while_telegram_was_off_are_not_sent_when_it_is_turned_on() {
        let (_dir, store) = store();
        let event = |m: &str| {
            store
                .record_event(&NewEvent::info(Operation::TaskCreated, m))
                .unwrap()
        };
        store.telegram().start_run(true, &[1]).unwrap();
        event("on, unsent");
        // Queued but not delivered when the run ended.
        assert_eq!(queued_texts(&store), ["on, unsent"]);
        let off = store.telegram().start_run(false, &[]).unwrap();
        assert_eq!(off, RunStart::default(), "turning it off changes nothing");
        event("while off");
        let on = store.telegram().start_run(true, &[1]).unwrap();
        assert_eq!(
            on,
            RunStart {
                skipped_events: 1,
                dropped: 1
            }
        );
        assert!(queued_texts(&store).is_empty());
        assert_eq!(store.telegram().stats().unwrap().failed, 1);
        event("on again");
        // A restart with it still on keeps the cursor (a kill -9 loses nothing).
        assert_eq!(
            store.telegram().start_run(true, &[1]).unwrap(),
            RunStart::default()
        );
        event("after a restart");
        assert_eq!(queued_texts(&store), ["on again", "after a restart"]);
    }

    #[test]
    fn pending_messages_for_a_chat_no_longer_configured_are_given_up() {
        let (_dir, store) = store();
        store.telegram().start_run(true, &[1]).unwrap();
        store
            .record_event(&NewEvent::info(Operation::TaskCreated, "to chat 1"))
            .unwrap();
        assert_eq!(queued_texts(&store).len(), 1);
        let changed = store.telegram().start_run(true, &[2]).unwrap();
        assert_eq!(changed.dropped, 1);
        assert!(store.telegram().pending(10).unwrap().is_empty());
    }

    fn unhandled_ids(store: &Store) -> Vec<i64> {
        let left = store.telegram().unhandled(10).unwrap();
        left.into_iter().map(|(id, _)| id).collect()
    }

    #[test]
    fn a_change_asked_for_by_an_update_marks_it_handled_in_the_same_transaction() {
        let (_dir, store) = store();
        store
            .telegram()
            .receive(&[(7, "{}".to_owned()), (8, "{}".to_owned())])
            .unwrap();
        let stamped = |id: i64| {
            NewEvent::info(Operation::TaskCreated, "from a chat").asked_by_update(Some(id))
        };
        // The change and its event roll back (a crash before the commit): the update
        // stays to be handled after the restart.
        {
            let tx = store.write().unwrap();
            super::super::events::insert_event(&tx, &stamped(7)).unwrap();
            drop(tx);
        }
        assert_eq!(unhandled_ids(&store), [7, 8]);
        assert_eq!(store.count_tasks_for_test(), 0);
        // Committed: the task exists and the update is handled, in one commit.
        let title = harness_domain::task::Title::parse("from a chat").unwrap();
        let new = harness_domain::task::NewTask::titled(title);
        store
            .create_task(&new, "telegram:ada", |t| stamped(7).for_task(t.id))
            .unwrap();
        assert_eq!(unhandled_ids(&store), [8]);
        assert_eq!(store.count_tasks_for_test(), 1);
    }

    #[test]
    fn an_update_received_twice_is_stored_once_and_moves_the_offset() {
        let (_dir, store) = store();
        let batch = vec![(7, "{}".to_owned()), (8, "{}".to_owned())];
        assert_eq!(store.telegram().receive(&batch).unwrap(), 2);
        assert_eq!(store.telegram().receive(&batch[1..]).unwrap(), 0);
        assert_eq!(store.telegram().update_offset().unwrap(), 9);
        store.telegram().mark_handled(7).unwrap();
        let left: Vec<i64> = store
            .telegram()
            .unhandled(10)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(left, [8]);
    }
}
