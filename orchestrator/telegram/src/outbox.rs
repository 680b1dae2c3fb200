//! The sender: turns new events into outbox rows, then delivers them in order per
//! chat within Telegram's limits. A row is marked sent only after Telegram said `ok`.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use harness_domain::time::Timestamp;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{BotError, FLUSH_AT_SHUTDOWN, Inner, backoff, notify::Renderer};
use harness_board::Board;
use harness_store::telegram::OutboxRow;

/// Events turned into rows per transaction.
const EVENT_BATCH: u32 = 500;
/// Messages pending per chat before further ones fold into one summary.
pub(crate) const PER_CHAT_CAP: u32 = 20;
const PENDING_BATCH: u32 = 200;
/// About one message a second to a person, twenty a minute to a group.
const PRIVATE_GAP: Duration = Duration::from_millis(1050);
const GROUP_GAP: Duration = Duration::from_millis(3100);
/// When nothing else wakes the sender, it looks for new events this often.
const IDLE: Duration = Duration::from_secs(1);
const ERROR_CAP: Duration = Duration::from_secs(300);
const RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);
const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);

/// Where the sender is in Telegram's limits.
#[derive(Default)]
struct Pacing {
    /// Per chat: no message before this instant.
    chat_ready: HashMap<i64, Instant>,
    /// After a 429: no message to anyone before this instant.
    all_ready: Option<Instant>,
}

impl Pacing {
    fn gap(chat_id: i64) -> Duration {
        if chat_id < 0 { GROUP_GAP } else { PRIVATE_GAP }
    }
}

/// Runs until `stop`, then flushes for a moment (the "stopped" notice) and returns.
pub async fn run(inner: Arc<Inner>, board: Board, stop: CancellationToken) {
    let renderer = Renderer {
        chats: inner.settings.chat_ids.clone(),
        kinds: inner.settings.notify.clone(),
        public_url: inner.settings.public_url.clone(),
    };
    let mut pacing = Pacing::default();
    let mut live = board.live().subscribe(None).receiver;
    let mut last_prune: Option<Instant> = None;
    loop {
        derive(&board, &renderer).await;
        let next = send_due(&inner, &board, &mut pacing).await;
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(Instant::now());
            prune(&board).await;
        }
        if stop.is_cancelled() {
            flush(&inner, &board, &renderer, &mut pacing).await;
            return;
        }
        let wait = next.map_or(IDLE, |at| at.saturating_duration_since(Instant::now()));
        let new_event = async {
            loop {
                match live.recv().await {
                    Ok(message) if message.kind == "event.created" => return,
                    Ok(_) => {}
                    // Lagged: many messages, some of them events, most likely.
                    Err(_) => return,
                }
            }
        };
        tokio::select! {
            () = stop.cancelled() => {}
            () = new_event => {}
            () = tokio::time::sleep(wait.min(IDLE)) => {}
        }
    }
}

/// Events → outbox rows, one transaction per batch.
async fn derive(board: &Board, renderer: &Renderer) {
    let mut renderer = renderer.clone();
    let result = board
        .telegram(move |t| {
            while t.enqueue(EVENT_BATCH, PER_CHAT_CAP, &mut renderer)? > 0 {}
            Ok(())
        })
        .await;
    if let Err(err) = result {
        tracing::warn!(%err, "telegram: cannot queue notifications");
    }
}

/// Sends the first pending row of each chat that is due. Returns when to look again.
async fn send_due(inner: &Inner, board: &Board, pacing: &mut Pacing) -> Option<Instant> {
    let rows = match board.telegram(|t| t.pending(PENDING_BATCH)).await {
        Ok(rows) => rows,
        Err(err) => {
            tracing::warn!(%err, "telegram: cannot read the outbox");
            return None;
        }
    };
    let mut seen = HashSet::new();
    let mut next: Option<Instant> = None;
    let mut later = |at: Instant| next = Some(next.map_or(at, |n: Instant| n.min(at)));
    for row in rows.into_iter().filter(|r| seen.insert(r.chat_id)) {
        let now = Instant::now();
        if let Some(all) = pacing.all_ready.filter(|at| *at > now) {
            later(all);
            break;
        }
        if let Some(at) = row.not_before.as_ref().and_then(until) {
            later(at);
            continue;
        }
        if let Some(at) = pacing.chat_ready.get(&row.chat_id).filter(|at| **at > now) {
            later(*at);
            continue;
        }
        let gap = Pacing::gap(row.chat_id);
        pacing.chat_ready.insert(row.chat_id, Instant::now() + gap);
        deliver(inner, board, &row, pacing).await;
        later(Instant::now() + gap);
    }
    // The map only needs chats that still wait; keeps it bounded by the chat count.
    let now = Instant::now();
    pacing.chat_ready.retain(|_, at| *at > now);
    next
}

/// One sendMessage and what its answer means for the row.
async fn deliver(inner: &Inner, board: &Board, row: &OutboxRow, pacing: &mut Pacing) {
    let result = inner
        .api
        .send_message(row.chat_id, &row.text, row.keyboard.as_deref(), None)
        .await;
    let (id, chat) = (row.id, row.chat_id);
    let stored = match result {
        Ok(message) => {
            inner.worked();
            let message_id = message.message_id;
            board.telegram(move |t| t.mark_sent(id, message_id)).await
        }
        Err(err) if err.is_permanent() => {
            inner.failed(&err);
            tracing::warn!(chat, %err, "telegram: notification refused for good");
            let reason = err.to_string();
            board.telegram(move |t| t.mark_failed(id, &reason)).await
        }
        Err(err) => {
            inner.failed(&err);
            let delay = match &err {
                BotError::RetryAfter(d) => {
                    pacing.all_ready = Some(Instant::now() + *d);
                    *d
                }
                BotError::Unauthorized => Duration::from_secs(60),
                _ => backoff(row.attempts + 1, ERROR_CAP),
            };
            tracing::warn!(chat, %err, retry_in = ?delay, "telegram: notification not sent yet");
            let at = Timestamp::now().plus(chrono::TimeDelta::from_std(delay).unwrap_or_default());
            let reason = err.to_string();
            board.telegram(move |t| t.defer(id, at, &reason)).await
        }
    };
    if let Err(err) = stored {
        tracing::warn!(%err, "telegram: cannot record a delivery");
    }
}

/// At shutdown: queue what the stop raised and send what is due, for a moment.
async fn flush(inner: &Inner, board: &Board, renderer: &Renderer, pacing: &mut Pacing) {
    let deadline = Instant::now() + FLUSH_AT_SHUTDOWN;
    derive(board, renderer).await;
    while Instant::now() < deadline {
        match send_due(inner, board, pacing).await {
            Some(at) if at < deadline => tokio::time::sleep_until(at).await,
            _ => return,
        }
    }
}

async fn prune(board: &Board) {
    let Ok(age) = chrono::TimeDelta::from_std(RETENTION) else {
        return;
    };
    let before = Timestamp::now().plus(-age);
    match board.telegram(move |t| t.prune(before)).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "pruned old telegram messages"),
        Err(err) => tracing::warn!(%err, "telegram: cannot prune the outbox"),
    }
}

/// The instant a stored time is still ahead, if it is.
fn until(at: &Timestamp) -> Option<Instant> {
    let ahead = (at.datetime() - chrono::Utc::now()).to_std().ok()?;
    (!ahead.is_zero()).then(|| Instant::now() + ahead)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_paced_slower_than_people() {
        assert!(Pacing::gap(-100) >= Duration::from_secs(3));
        assert!(Pacing::gap(42) >= Duration::from_secs(1));
    }
}
