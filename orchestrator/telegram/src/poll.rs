//! Polling mode: `deleteWebhook`, then `getUpdates` long polling from the stored offset.
//! Each batch is stored and the offset advanced in one transaction before any of it is
//! handled, so a restart neither skips nor repeats an update.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use super::{BotError, Inner, backoff, pause, updates::update_id};
use harness_board::Board;

const ERROR_CAP: Duration = Duration::from_secs(60);

pub async fn run(inner: Arc<Inner>, board: Board, stop: CancellationToken) {
    let mut failures = 0u32;
    while let Err(err) = inner.api.delete_webhook().await {
        inner.failed(&err);
        failures += 1;
        tracing::warn!(%err, "telegram: deleteWebhook failed; polling waits for it");
        if !pause(delay(&err, failures), &stop).await {
            return;
        }
    }
    failures = 0;
    loop {
        let offset = match board.telegram(|t| t.update_offset()).await {
            Ok(offset) => offset,
            Err(err) => {
                tracing::warn!(%err, "telegram: cannot read the update offset");
                if !pause(ERROR_CAP, &stop).await {
                    return;
                }
                continue;
            }
        };
        let result = tokio::select! {
            () = stop.cancelled() => return,
            r = inner.api.get_updates(offset, inner.settings.poll_timeout) => r,
        };
        match result {
            Ok(updates) => {
                if failures > 0 {
                    inner.worked();
                    failures = 0;
                }
                store(&inner, &board, updates).await;
            }
            Err(err) => {
                inner.failed(&err);
                failures += 1;
                tracing::warn!(%err, "telegram: getUpdates failed");
                if matches!(err, BotError::Unavailable { code: 409, .. }) {
                    // Someone set a webhook since: polling and a webhook exclude each other.
                    if let Err(err) = inner.api.delete_webhook().await {
                        tracing::warn!(%err, "telegram: deleteWebhook failed; getUpdates keeps failing until the webhook is gone");
                    }
                }
                if !pause(delay(&err, failures), &stop).await {
                    return;
                }
            }
        }
    }
}

async fn store(inner: &Inner, board: &Board, updates: Vec<serde_json::Value>) {
    let rows: Vec<(i64, String)> = updates
        .iter()
        .filter_map(|u| Some((update_id(u)?, u.to_string())))
        .collect();
    if rows.is_empty() {
        return;
    }
    match board.telegram(move |t| t.receive(&rows)).await {
        Ok(_) => inner.inbox.notify_one(),
        Err(err) => tracing::warn!(%err, "telegram: cannot store updates; they come again"),
    }
}

fn delay(err: &BotError, failures: u32) -> Duration {
    match err {
        BotError::RetryAfter(d) => *d,
        BotError::Unauthorized => ERROR_CAP,
        _ => backoff(failures, ERROR_CAP),
    }
}
