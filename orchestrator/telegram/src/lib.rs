//! Telegram: notifications to a phone and commands from it.
//!
//! Nothing here is on the path of a request or of the scheduler: the outbox sender,
//! the update poller and the update handler are their own tasks, every Bot API call
//! has a timeout, and everything they keep is bounded.
//!
//! - `api.rs`: the Bot API client (the token never leaves it in a URL or an error)
//! - `notify.rs`: which events become messages, and their escaped HTML
//! - `outbox.rs`: events → outbox rows (durable cursor) → sendMessage, paced
//! - `updates.rs`: received updates → commands, button presses, replies
//! - `commands.rs`: the command parser and its board actions
//! - `poll.rs` / `webhook.rs`: how updates arrive

mod api;
mod commands;
mod notify;
mod outbox;
mod poll;
mod updates;
mod webhook;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use harness_domain::time::Timestamp;
use serde::Serialize;
use tokio::{sync::Notify, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

pub use api::BotError;
pub use webhook::WebhookError;

use harness_board::Board;
use harness_board::budget::BudgetLimits;
use harness_config::{TelegramMode, TelegramSettings};

/// How long the sender may keep going at shutdown (the "stopped" notice).
const FLUSH_AT_SHUTDOWN: Duration = Duration::from_secs(2);

/// `GET /api/telegram`. Never holds the token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TelegramStatus {
    /// A bot token is set.
    pub configured: bool,
    /// `polling` or `webhook`; absent when not configured.
    pub mode: Option<String>,
    /// From getMe; absent until Telegram accepted the token.
    pub bot_username: Option<String>,
    /// How many chats notifications go to.
    pub chats: usize,
    /// The last thing that went wrong talking to Telegram, if it has not worked since.
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
    /// Notifications waiting to be sent.
    pub outbox_pending: u64,
    /// Notifications Telegram refused for good (kept until pruned).
    pub outbox_failed: u64,
    /// When Telegram last accepted a notification.
    pub last_delivery_at: Option<Timestamp>,
}

#[derive(Debug, Default)]
struct Health {
    bot_username: Option<String>,
    last_error: Option<String>,
    last_error_at: Option<Timestamp>,
}

/// Shared by the Telegram tasks.
struct Inner {
    settings: TelegramSettings,
    api: api::BotApi,
    health: Mutex<Health>,
    /// Nudged when an update was stored (poll or webhook).
    inbox: Notify,
}

impl Inner {
    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a failure for the status; logged by the caller (without the token).
    fn failed(&self, error: &BotError) {
        let mut h = self.health();
        h.last_error = Some(error.to_string());
        h.last_error_at = Some(Timestamp::now());
    }

    fn worked(&self) {
        let mut h = self.health();
        h.last_error = None;
        h.last_error_at = None;
    }
}

/// The Telegram side of the application. Cheap to clone; inert when not configured.
#[derive(Clone, Default)]
pub struct Telegram {
    inner: Option<Arc<Inner>>,
}

/// What the Telegram tasks need from the rest of the harness.
#[derive(Clone)]
pub struct Context {
    pub board: Board,
    pub budget: BudgetLimits,
    pub started_at: Timestamp,
}

/// The running tasks; [`Running::finish`] stops them at shutdown.
pub struct Running {
    outbox_stop: CancellationToken,
    outbox: JoinHandle<()>,
    others: Vec<JoinHandle<()>>,
}

impl Telegram {
    /// Builds the client when a token is set. Nothing is sent until [`Telegram::start`].
    pub fn new(settings: Option<&TelegramSettings>) -> Result<Self, BotError> {
        let Some(settings) = settings else {
            return Ok(Self::default());
        };
        let api = api::BotApi::new(&settings.api_url, settings.token.clone())?;
        Ok(Self {
            inner: Some(Arc::new(Inner {
                settings: settings.clone(),
                api,
                health: Mutex::new(Health::default()),
                inbox: Notify::new(),
            })),
        })
    }

    /// Starts the sender, the update handler and (in polling mode) the poller. `stop`
    /// ends the poller and handler; the sender keeps going until [`Running::finish`].
    pub fn start(&self, ctx: Context, stop: CancellationToken) -> Option<Running> {
        let inner = self.inner.clone()?;
        tracing::info!(
            mode = inner.settings.mode.as_str(),
            chats = inner.settings.chat_ids.len(),
            "telegram on"
        );
        let outbox_stop = CancellationToken::new();
        let outbox = tokio::spawn(outbox::run(
            inner.clone(),
            ctx.board.clone(),
            outbox_stop.clone(),
        ));
        let mut others = vec![tokio::spawn(updates::run(
            inner.clone(),
            ctx.clone(),
            stop.clone(),
        ))];
        let setup = {
            let inner = inner.clone();
            async move {
                introduce(&inner).await;
                match &inner.settings.mode {
                    TelegramMode::Polling => poll::run(inner.clone(), ctx.board, stop).await,
                    TelegramMode::Webhook { url, secret } => {
                        webhook::register(&inner, url, secret, &stop).await
                    }
                }
            }
        };
        others.push(tokio::spawn(setup));
        Some(Running {
            outbox_stop,
            outbox,
            others,
        })
    }

    /// The status for `GET /api/telegram`.
    pub async fn status(&self, board: &Board) -> TelegramStatus {
        let Some(inner) = &self.inner else {
            return TelegramStatus {
                configured: false,
                mode: None,
                bot_username: None,
                chats: 0,
                last_error: None,
                last_error_at: None,
                outbox_pending: 0,
                outbox_failed: 0,
                last_delivery_at: None,
            };
        };
        let stats = board.telegram(|t| t.stats()).await.unwrap_or_default();
        let h = inner.health();
        TelegramStatus {
            configured: true,
            mode: Some(inner.settings.mode.as_str().to_owned()),
            bot_username: h.bot_username.clone(),
            chats: inner.settings.chat_ids.len(),
            last_error: h.last_error.clone(),
            last_error_at: h.last_error_at,
            outbox_pending: stats.pending,
            outbox_failed: stats.failed,
            last_delivery_at: stats.last_sent_at,
        }
    }

    /// A webhook delivery: checks the secret, stores the update, nudges the handler.
    pub async fn receive_webhook(
        &self,
        board: &Board,
        secret: Option<&str>,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        let inner = self.inner.as_ref().ok_or(WebhookError::NotWebhookMode)?;
        webhook::receive(inner, board, secret, body).await
    }
}

impl Running {
    /// Stops the poller and handler, and gives the sender a moment to deliver what the
    /// shutdown itself raised.
    pub async fn finish(self) {
        for task in &self.others {
            task.abort();
        }
        self.outbox_stop.cancel();
        if tokio::time::timeout(FLUSH_AT_SHUTDOWN + Duration::from_secs(1), self.outbox)
            .await
            .is_err()
        {
            tracing::warn!("telegram sender did not stop in time; the rest is sent at next start");
        }
    }
}

/// At startup, before this run raises any event: records whether Telegram is on, and
/// when it was off in the last run, starts after the events raised meanwhile (see
/// [`harness_store::telegram::TelegramTables::start_run`]).
pub async fn record_run(
    board: &Board,
    settings: Option<&TelegramSettings>,
) -> Result<(), harness_store::StoreError> {
    let chats = settings.map(|s| s.chat_ids.clone()).unwrap_or_default();
    let active = settings.is_some();
    let start = board.telegram(move |t| t.start_run(active, &chats)).await?;
    if start.skipped_events > 0 || start.dropped > 0 {
        tracing::info!(
            skipped_events = start.skipped_events,
            dropped = start.dropped,
            "telegram turned on: earlier events and stale messages are not sent"
        );
    }
    Ok(())
}

/// getMe and setMyCommands. A refused token does not stop the server: the status and
/// the log say what to do, and the other tasks keep trying.
async fn introduce(inner: &Inner) {
    match inner.api.get_me().await {
        Ok(me) => {
            tracing::info!(
                bot = me.username.as_deref().unwrap_or("?"),
                "telegram bot ready"
            );
            inner.health().bot_username = me.username;
        }
        Err(err) => {
            inner.failed(&err);
            tracing::error!(%err, "telegram: getMe failed; notifications wait until it works");
            return;
        }
    }
    if let Err(err) = inner.api.set_my_commands(commands::MENU).await {
        inner.failed(&err);
        tracing::warn!(%err, "telegram: setMyCommands failed");
    }
}

/// Sleeps `delay` unless `stop` comes first. False when stopped.
async fn pause(delay: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = stop.cancelled() => false,
    }
}

/// Tries for a direct answer (a command's reply, a button's toast or edit), which do
/// not go through the outbox.
const DIRECT_TRIES: u32 = 3;
/// The longest 429 wait a direct answer sits out; past it the answer is dropped.
const DIRECT_MAX_WAIT: Duration = Duration::from_secs(60);

/// Runs a direct Bot API call, obeying a 429's `retry_after` and backing off briefly
/// on a 5xx, a bounded number of times. A refusal is final at once, and so is a network
/// error (the message may have arrived: sending it again could show it twice).
async fn retrying<T, F, Fut>(mut call: F) -> Result<T, BotError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BotError>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        let err = match call().await {
            Ok(v) => return Ok(v),
            Err(err) => err,
        };
        let wait = match &err {
            BotError::RetryAfter(d) if *d <= DIRECT_MAX_WAIT => *d,
            BotError::Unavailable { .. } => backoff(tries - 1, Duration::from_secs(5)),
            _ => return Err(err),
        };
        if tries >= DIRECT_TRIES {
            return Err(err);
        }
        tracing::debug!(%err, ?wait, "telegram: answer not sent yet, trying again");
        tokio::time::sleep(wait).await;
    }
}

/// Exponential backoff for the `n`th failure in a row, capped.
fn backoff(n: u32, cap: Duration) -> Duration {
    Duration::from_secs(1u64 << n.min(10)).min(cap)
}
