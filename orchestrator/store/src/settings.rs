//! Orchestrator state that must survive restarts.

use harness_domain::{
    event::{Event, NewEvent},
    time::Timestamp,
};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, events::insert_event};

const PAUSED: &str = "orchestrator.paused";

impl Store {
    pub fn paused(&self) -> Result<bool, StoreError> {
        let value: Option<String> = self
            .read()?
            .query_row("SELECT value FROM settings WHERE key = ?1", [PAUSED], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(value.as_deref() == Some("true"))
    }

    /// Pauses or resumes, with the `note` that says so, in one transaction.
    pub fn set_paused(&self, paused: bool, note: &NewEvent) -> Result<Event, StoreError> {
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            params![PAUSED, paused.to_string(), Timestamp::now().to_rfc3339()],
        )?;
        let event = insert_event(&tx, note)?;
        tx.commit()?;
        Ok(event)
    }
}
