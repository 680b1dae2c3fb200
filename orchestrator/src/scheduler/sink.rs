//! Where a running session's log lines and usage go: a bounded queue drained into the
//! store by one writer task, so a chatty agent never blocks on the database and never
//! grows memory without bound.

use std::sync::{
    Arc,
    atomic::{AtomicI64, AtomicU64, Ordering},
};

use harness_domain::session::{LogKind, Usage};
use tokio::{sync::mpsc, task::JoinHandle};

use super::log_cap::{Admit, LogCap};
use crate::{board::Board, engine};

/// Lines waiting to be written. Past this, lines are counted and dropped.
const QUEUE: usize = 4096;

enum Entry {
    Log(LogKind, String),
    Usage(Usage, f64),
    /// Everything before this is stored; the writer stops.
    Close,
}

/// The engine's [`engine::SessionSink`] over the board.
pub struct StoreSink {
    tx: mpsc::Sender<Entry>,
    dropped: AtomicU64,
    /// Unix millis of the last sign of life, for the stuck-session watchdog.
    last_activity: Arc<AtomicI64>,
    cap: LogCap,
}

/// Drains the queue; await it after the session to be sure every line is stored.
pub struct SinkWriter(JoinHandle<()>);

impl StoreSink {
    pub fn start(board: Board, session_id: i64, cap: LogCap) -> (Arc<Self>, SinkWriter) {
        let (tx, mut rx) = mpsc::channel(QUEUE);
        let writer = tokio::spawn(async move {
            while let Some(entry) = rx.recv().await {
                let result = match entry {
                    Entry::Log(kind, text) => {
                        board.append_log(session_id, kind, text).await.map(drop)
                    }
                    Entry::Usage(usage, cost) => board
                        .add_session_usage(session_id, usage, cost)
                        .await
                        .map(drop),
                    Entry::Close => break,
                };
                if let Err(err) = result {
                    tracing::warn!(session_id, %err, "cannot store session output");
                }
            }
        });
        let sink = Arc::new(Self {
            tx,
            dropped: AtomicU64::new(0),
            last_activity: Arc::new(AtomicI64::new(now_millis())),
            cap,
        });
        (sink, SinkWriter(writer))
    }

    /// A line from the harness itself.
    /// Not capped: the harness's own lines are few, and say what happened to the attempt.
    pub fn system(&self, text: impl Into<String>) {
        self.enqueue(Entry::Log(LogKind::System, text.into()));
    }

    pub fn line(&self, kind: LogKind, text: impl Into<String>) {
        self.push(Entry::Log(kind, text.into()));
    }

    pub fn last_activity(&self) -> Arc<AtomicI64> {
        self.last_activity.clone()
    }

    fn push(&self, entry: Entry) {
        self.last_activity.store(now_millis(), Ordering::Relaxed);
        // The session log's cap (log_cap.rs): a marker where output was cut.
        let entry = match entry {
            Entry::Log(kind, text) => match self.cap.admit(text.len()) {
                Admit::Keep => Entry::Log(kind, text),
                Admit::Cut(marker) => Entry::Log(LogKind::System, marker),
                Admit::Drop => return,
            },
            other => other,
        };
        self.enqueue(entry);
    }

    fn enqueue(&self, entry: Entry) {
        self.last_activity.store(now_millis(), Ordering::Relaxed);
        if self.tx.try_send(entry).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until everything queued so far is stored, then stops the writer. Lines
    /// pushed afterwards (a late callback) are dropped.
    pub async fn finish(&self, writer: SinkWriter) {
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            let note = format!(
                "{dropped} log lines were dropped: the agent wrote faster than they could be stored"
            );
            let _ = self.tx.send(Entry::Log(LogKind::System, note)).await;
        }
        if let Some(note) = self.cap.summary() {
            let _ = self.tx.send(Entry::Log(LogKind::System, note)).await;
        }
        let _ = self.tx.send(Entry::Close).await;
        let _ = writer.0.await;
    }
}

impl engine::SessionSink for StoreSink {
    fn log(&self, kind: LogKind, content: &str) {
        self.push(Entry::Log(kind, content.to_owned()));
    }

    fn usage(&self, usage: &engine::Usage, cost_usd: f64) {
        let usage = Usage {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_read_tokens: usage.cache_read_input_tokens,
            cache_write_tokens: usage.cache_creation_input_tokens,
        };
        self.push(Entry::Usage(usage, cost_usd));
    }

    fn alive(&self) {
        self.last_activity.store(now_millis(), Ordering::Relaxed);
    }
}

pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
