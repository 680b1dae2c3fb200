//! Store functions for the engine's bounds: how a session's branch was brought up to the
//! base, crash interruptions per task, per-task spend, session log caps and retention.

use rusqlite::params;

use harness_domain::session::Session;

use super::{Store, StoreError, sessions::load_session};

impl Store {
    /// Records how the session's branch was brought up to the base (`merge`).
    pub fn set_session_landing(
        &self,
        session_id: i64,
        strategy: &str,
    ) -> Result<Session, StoreError> {
        let conn = self.write();
        conn.execute(
            "UPDATE sessions SET landing = ?1 WHERE id = ?2",
            params![strategy, session_id],
        )?;
        load_session(&conn, session_id)
    }
}
