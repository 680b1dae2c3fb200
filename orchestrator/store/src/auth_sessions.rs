//! Dashboard logins (`auth_sessions`): hashed ids with an expiry, revoked on logout.

use harness_domain::time::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

impl Store {
    /// Records a login, drops expired ones, and keeps at most `max_live` (the oldest
    /// go first), so the table stays bounded whatever a client does. Both strings are
    /// hashes: the store never sees the cookie or the token.
    pub fn insert_auth_session(
        &self,
        id_hash: &str,
        token_fingerprint: &str,
        expires_at: Timestamp,
        max_live: u32,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().to_rfc3339();
        let tx = self.write()?;
        tx.execute("DELETE FROM auth_sessions WHERE expires_at <= ?1", [&now])?;
        tx.execute(
            "INSERT INTO auth_sessions (id_hash, token_fingerprint, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![id_hash, token_fingerprint, now, expires_at.to_rfc3339()],
        )?;
        tx.execute(
            "DELETE FROM auth_sessions WHERE id_hash NOT IN
               (SELECT id_hash FROM auth_sessions ORDER BY created_at DESC, rowid DESC LIMIT ?1)",
            [max_live],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// True when `id_hash` is a login made with this token that has not expired.
    pub fn auth_session_valid(
        &self,
        id_hash: &str,
        token_fingerprint: &str,
    ) -> Result<bool, StoreError> {
        let found: Option<i64> = self
            .read()?
            .query_row(
                "SELECT 1 FROM auth_sessions
                 WHERE id_hash = ?1 AND token_fingerprint = ?2 AND expires_at > ?3",
                params![id_hash, token_fingerprint, Timestamp::now().to_rfc3339()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// Ends a login. True when there was one.
    pub fn delete_auth_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let tx = self.write()?;
        let n = tx.execute("DELETE FROM auth_sessions WHERE id_hash = ?1", [id_hash])?;
        tx.commit()?;
        Ok(n > 0)
    }
}
