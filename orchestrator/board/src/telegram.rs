//! Telegram's own tables (outbox, inbox, update offset). They hold no board state, so
//! nothing here is published live; the closure gets only those tables, never the store.

use super::Board;
use harness_store::{StoreError, telegram::TelegramTables};

impl Board {
    /// Runs `f` on Telegram's tables on the blocking pool.
    pub async fn telegram<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(TelegramTables<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.blocking(move |s| f(s.telegram())).await
    }
}
