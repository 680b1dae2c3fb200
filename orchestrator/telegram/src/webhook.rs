//! Webhook mode: `setWebhook` with a secret at start; each delivery is checked against
//! that secret in constant time, stored (deduplicated by `update_id`) and answered at
//! once. The handler task does the work, so Telegram never waits on a board call.

use std::time::Duration;

use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use super::{Inner, backoff, pause, updates::update_id};
use harness_board::Board;
use harness_config::{Secret, TelegramMode};

const ERROR_CAP: Duration = Duration::from_secs(300);

/// Why a webhook delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the Telegram webhook is not enabled (TELEGRAM_MODE=webhook)")]
    NotWebhookMode,
    #[error("wrong or missing X-Telegram-Bot-Api-Secret-Token")]
    BadSecret,
    #[error("not a Telegram update: {0}")]
    NotAnUpdate(String),
    #[error("cannot store the update: {0}")]
    Store(String),
}

/// Registers the webhook, retrying with a capped backoff until Telegram accepts it.
pub async fn register(inner: &Inner, url: &str, secret: &Secret, stop: &CancellationToken) {
    let mut failures = 0;
    loop {
        match inner.api.set_webhook(url, secret).await {
            Ok(()) => {
                tracing::info!(%url, "telegram webhook set");
                return;
            }
            Err(err) => {
                inner.failed(&err);
                failures += 1;
                tracing::warn!(%err, "telegram: setWebhook failed");
                if !pause(backoff(failures, ERROR_CAP), stop).await {
                    return;
                }
            }
        }
    }
}

pub async fn receive(
    inner: &Inner,
    board: &Board,
    secret: Option<&str>,
    body: &[u8],
) -> Result<(), WebhookError> {
    let TelegramMode::Webhook {
        secret: expected, ..
    } = &inner.settings.mode
    else {
        return Err(WebhookError::NotWebhookMode);
    };
    let given = secret.unwrap_or("").as_bytes();
    if !bool::from(given.ct_eq(expected.expose().as_bytes())) {
        return Err(WebhookError::BadSecret);
    }
    let update: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::NotAnUpdate(e.to_string()))?;
    let id = update_id(&update)
        .ok_or_else(|| WebhookError::NotAnUpdate("no integer update_id".into()))?;
    let row = vec![(id, update.to_string())];
    board
        .telegram(move |t| t.receive(&row))
        .await
        .map_err(|e| WebhookError::Store(e.to_string()))?;
    inner.inbox.notify_one();
    Ok(())
}
