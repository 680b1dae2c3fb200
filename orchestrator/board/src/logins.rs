//! Dashboard logins (`auth_sessions`). They change no board state anyone watches, so
//! nothing here is published live; they are board methods so the store stays private.

use harness_domain::time::Timestamp;

use super::Board;
use harness_store::StoreError;

impl Board {
    /// True when `id_hash` is a login made with this token that has not expired.
    pub async fn login_valid(
        &self,
        id_hash: String,
        fingerprint: String,
    ) -> Result<bool, StoreError> {
        self.blocking(move |s| s.auth_session_valid(&id_hash, &fingerprint))
            .await
    }

    /// Records a login; the store keeps at most `max_live` of them.
    pub async fn record_login(
        &self,
        id_hash: String,
        fingerprint: String,
        expires_at: Timestamp,
        max_live: u32,
    ) -> Result<(), StoreError> {
        self.blocking(move |s| s.insert_auth_session(&id_hash, &fingerprint, expires_at, max_live))
            .await
    }

    /// Ends a login. True when there was one.
    pub async fn end_login(&self, id_hash: String) -> Result<bool, StoreError> {
        self.blocking(move |s| s.delete_auth_session(&id_hash))
            .await
    }
}
