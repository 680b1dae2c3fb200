//! The operations log.

use harness_domain::{
    event::{Event, NewEvent},
    session::SessionId,
    task::TaskId,
    time::Timestamp,
};
use rusqlite::{Connection, Row, params};

use super::{
    Store, StoreError,
    tasks::{corrupt_value, parse_time},
};

pub(super) const EVENT_COLUMNS: &str =
    "id, type, severity, task_id, agent_id, session_id, message, payload, at";

impl Store {
    /// Records an event that is a change of its own (nothing else is written with it).
    pub fn record_event(&self, new: &NewEvent) -> Result<Event, StoreError> {
        let tx = self.write()?;
        let event = insert_event(&tx, new)?;
        tx.commit()?;
        Ok(event)
    }

    /// Events with `id > after` oldest first; without `after`, the newest `limit`
    /// (still oldest first), which is what a feed shows on first load.
    pub fn list_events(
        &self,
        after: Option<i64>,
        kind: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let conn = self.read()?;
        let order = if after.is_some() { "ASC" } else { "DESC" };
        // Two shapes rather than "?2 IS NULL OR type = ?2", which keeps SQLite from
        // using events_by_type (type, id) for a filtered feed.
        let by_type = if kind.is_some() {
            "AND type = ?2"
        } else {
            "AND ?2 IS NULL"
        };
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE id > ?1 {by_type}
             ORDER BY id {order} LIMIT ?3"
        ))?;
        let mut events = stmt
            .query_map(params![after.unwrap_or(0), kind, limit], RawEvent::from_row)?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(RawEvent::into_event)
            .collect::<Result<Vec<_>, _>>()?;
        if after.is_none() {
            events.reverse();
        }
        Ok(events)
    }

    /// Deletes events older than `before`. Returns how many went.
    ///
    /// Events are written in time order (one writer stamps them), so the ones to go are
    /// those before the first event at or after `before`, found by walking ids from the
    /// oldest: that reads the pruned rows and one more, with no index on time. Should the
    /// clock ever step back, an old event past that point waits for a later prune; none
    /// newer than `before` is ever deleted.
    pub fn prune_events(&self, before: Timestamp) -> Result<usize, StoreError> {
        let tx = self.write()?;
        let pruned = tx.execute(
            "DELETE FROM events WHERE id < COALESCE(
                 (SELECT id FROM events WHERE at >= ?1 ORDER BY id LIMIT 1),
                 (SELECT MAX(id) + 1 FROM events))",
            [before.to_rfc3339()],
        )?;
        tx.commit()?;
        Ok(pruned)
    }
}

/// Writes one operations event on `conn`: inside the transaction of the change it
/// describes, so the change and its event commit (or roll back) together.
pub(super) fn insert_event(conn: &Connection, new: &NewEvent) -> Result<Event, StoreError> {
    let at = Timestamp::now();
    let (kind, payload) = new.operation.encode();
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO events (type, severity, task_id, agent_id, session_id, message, payload, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        )?
        .query_row(params![
            kind,
            new.severity.as_str(),
            new.task_id.map(TaskId::get),
            new.agent_id,
            new.session_id.map(SessionId::get),
            new.message,
            payload.to_string(),
            at.to_rfc3339()
        ],
        |r| r.get(0),
    )?;
    if let Some(update) = new.telegram_update {
        super::telegram::mark_handled(conn, update)?;
    }
    Ok(Event {
        id,
        kind,
        severity: new.severity,
        task_id: new.task_id,
        agent_id: new.agent_id.clone(),
        session_id: new.session_id,
        message: new.message.clone(),
        payload,
        at,
    })
}

pub(super) struct RawEvent {
    pub(super) id: i64,
    kind: String,
    severity: String,
    task_id: Option<i64>,
    agent_id: Option<String>,
    session_id: Option<i64>,
    message: String,
    payload: String,
    at: String,
}

impl RawEvent {
    pub(super) fn from_row(r: &Row) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            kind: r.get(1)?,
            severity: r.get(2)?,
            task_id: r.get(3)?,
            agent_id: r.get(4)?,
            session_id: r.get(5)?,
            message: r.get(6)?,
            payload: r.get(7)?,
            at: r.get(8)?,
        })
    }

    pub(super) fn into_event(self) -> Result<Event, StoreError> {
        Ok(Event {
            id: self.id,
            kind: self.kind,
            severity: self
                .severity
                .parse()
                .map_err(|_| corrupt_value("events.severity", &self.severity))?,
            task_id: self.task_id.map(TaskId::new).transpose()?,
            agent_id: self.agent_id,
            session_id: self.session_id.map(SessionId::new).transpose()?,
            message: self.message,
            payload: serde_json::from_str(&self.payload)
                .map_err(|e| corrupt_value("events.payload", e))?,
            at: parse_time(&self.at)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_at(store: &Store, at: &str) -> i64 {
        let at = Timestamp::parse(at).unwrap().to_rfc3339();
        let tx = store.write().unwrap();
        let id = tx
            .query_row(
                "INSERT INTO events (type, severity, message, payload, at)
                 VALUES ('task.created', 'info', 'e', '{}', ?1) RETURNING id",
                [&at],
                |r| r.get(0),
            )
            .unwrap();
        tx.commit().unwrap();
        id
    }

    fn remaining(store: &Store) -> Vec<i64> {
        let events = store.list_events(Some(0), None, 100).unwrap();
        events.iter().map(|e| e.id).collect()
    }

    #[test]
    fn pruning_takes_the_events_before_the_cut_and_none_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("h.db")).unwrap();
        let days = [1, 2, 3, 4];
        let ids: Vec<i64> = days
            .iter()
            .map(|d| event_at(&store, &format!("2026-11-0{d}T12:00:00Z")))
            .collect();
        let cut = |raw: &str| Timestamp::parse(raw).unwrap();

        assert_eq!(store.prune_events(cut("2026-11-01T00:00:00Z")).unwrap(), 0);
        assert_eq!(store.prune_events(cut("2026-11-03T12:00:00Z")).unwrap(), 2);
        assert_eq!(remaining(&store), ids[2..]);
        // A clock that stepped back: the older event after a newer one waits, and
        // nothing at or after the cut goes.
        let stepped_back = event_at(&store, "2026-11-02T00:00:00Z");
        assert_eq!(store.prune_events(cut("2026-11-04T00:00:00Z")).unwrap(), 1);
        assert_eq!(remaining(&store), [ids[3], stepped_back]);
        assert_eq!(store.prune_events(cut("2026-12-01T00:00:00Z")).unwrap(), 2);
        assert!(remaining(&store).is_empty());
    }
}
