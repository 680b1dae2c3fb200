//! Where a running session's log lines and usage go: a bounded buffer drained into the
//! store by one writer task, a batch per write, so a chatty agent costs a fraction of a
//! commit per line, never blocks on the database and never grows memory without bound.
//!
//! Log lines past the buffer's bound are dropped and counted, and the count is stored
//! as a line of its own. [`StoreSink::stored`] waits until what was pushed is settled
//! (stored, or counted as dropped): a remote worker's events are acknowledged only then,
//! so an orchestrator killed right after an acknowledgement has lost nothing. Past the session's log cap (`log_cap.rs`) output is cut, with
//! a marker where it was, and the session keeps running. Usage is never dropped: it is a sum, so reports waiting to be
//! stored fold into one total of constant size, and a failed write puts it back: it is kept
//! through any number of failed writes while the session runs.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::Duration,
};

use harness_domain::session::SessionId;
use harness_domain::session::{LogKind, Usage};
use tokio::{sync::Notify, task::JoinHandle};
use tracing::Instrument;

use super::log_cap::{Admit, LogCap};
use harness_board::Board;
use harness_engine as engine;

/// Lines waiting to be written. Past this, lines are counted and dropped.
const MAX_LINES: usize = 4096;
/// Bytes of line text waiting to be written, the other bound on the buffer.
const MAX_BYTES: usize = 8 * 1024 * 1024;
/// Most lines stored in one write, so a burst never holds the writer for long.
const BATCH_LINES: usize = 512;
/// Pause after a failed write before trying again (the database is busy or full).
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Failed writes in a row after which the sink gives up on the lines it holds. Usage
/// is kept (one sum of constant size) until it is stored, or until the session is over
/// and the writes still fail that many times.
const MAX_FAILURES: u32 = 25;

/// Log lines in the order they came.
type Lines = Vec<(LogKind, String)>;
/// Usage summed since the last batch, and its cost in USD.
type UsageSum = Option<(Usage, f64)>;

/// What waits to be stored.
#[derive(Default)]
struct Pending {
    lines: VecDeque<(LogKind, String)>,
    bytes: usize,
    /// Lines dropped since the last note about it was queued.
    dropped: u64,
    usage: UsageSum,
    /// Lines, usage reports and marks pushed so far, dropped lines included.
    pushed: u64,
    /// A remote worker's next event number, and the push it follows: stored with the
    /// batch that holds every push up to it.
    mark: Option<(u64, u64)>,
}

impl Pending {
    fn push_line(&mut self, kind: LogKind, text: String) {
        self.pushed += 1;
        if self.lines.len() >= MAX_LINES || self.bytes + text.len() > MAX_BYTES {
            self.dropped += 1;
            return;
        }
        self.bytes += text.len();
        self.lines.push_back((kind, text));
    }

    fn add_usage(&mut self, usage: Usage, cost: f64) {
        self.pushed += 1;
        let total = self.usage.get_or_insert((Usage::default(), 0.0));
        total.0.add(usage);
        total.1 += cost;
    }

    fn mark(&mut self, worker_seq: u64) {
        self.pushed += 1;
        self.mark = Some((self.pushed, worker_seq));
    }

    /// Right after [`Self::take_batch`] (which takes all usage): how many of the pushes
    /// are out of the buffer (in a batch, or dropped): all but the lines still waiting,
    /// which are the newest.
    fn taken(&self) -> u64 {
        self.pushed - self.lines.len() as u64
    }

    /// The next batch: a note about dropped lines first, then the oldest lines, and
    /// all usage so far.
    fn take_batch(&mut self) -> (Lines, UsageSum) {
        let mut lines = Vec::new();
        if self.dropped > 0 {
            lines.push((LogKind::System, dropped_note(self.dropped)));
            self.dropped = 0;
        }
        let n = self.lines.len().min(BATCH_LINES);
        for (kind, text) in self.lines.drain(..n) {
            self.bytes -= text.len();
            lines.push((kind, text));
        }
        (lines, self.usage.take())
    }

    fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.dropped == 0 && self.usage.is_none() && self.mark.is_none()
    }

    /// The mark a batch that settles `taken` pushes carries, if it is due.
    fn take_mark(&mut self, taken: u64) -> Option<u64> {
        match self.mark {
            Some((at, seq)) if at <= taken => {
                self.mark = None;
                Some(seq)
            }
            _ => None,
        }
    }
}

fn dropped_note(n: u64) -> String {
    format!("{n} log lines were dropped: the agent wrote faster than they could be stored")
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Notify,
    closed: AtomicBool,
    /// How many pushes are settled: stored, or given up and counted.
    settled: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The engine's [`engine::SessionSink`] over the board.
pub(crate) struct StoreSink {
    shared: Arc<Shared>,
    /// Unix millis of the last sign of life, for the stuck-session watchdog.
    last_activity: Arc<AtomicI64>,
    cap: LogCap,
}

/// Drains the buffer; await it after the session to be sure everything is stored.
pub(crate) struct SinkWriter {
    task: JoinHandle<()>,
    session_id: SessionId,
}

impl StoreSink {
    pub fn start(board: Board, session_id: SessionId, cap: LogCap) -> (Arc<Self>, SinkWriter) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
            settled: tokio::sync::watch::Sender::new(0),
        });
        // In the attempt's span, so the writer's logs name its task and session.
        let writer = tokio::spawn(drain(board, session_id, shared.clone()).in_current_span());
        let sink = Arc::new(Self {
            shared,
            last_activity: Arc::new(AtomicI64::new(now_millis())),
            cap,
        });
        let writer = SinkWriter {
            task: writer,
            session_id,
        };
        (sink, writer)
    }

    /// A line from the harness itself. Not capped: the harness's own lines are few,
    /// and say what happened to the attempt.
    pub fn system(&self, text: impl Into<String>) {
        self.push(LogKind::System, text.into());
    }

    /// A line of the agent's output, within the session's log cap.
    pub fn line(&self, kind: LogKind, text: impl Into<String>) {
        let text = text.into();
        match self.cap.admit(text.len()) {
            Admit::Keep => self.push(kind, text),
            Admit::Cut(marker) => self.push(LogKind::System, marker),
            Admit::Drop => self.touch(),
        }
    }

    fn push(&self, kind: LogKind, text: String) {
        self.touch();
        self.shared.lock().push_line(kind, text);
        self.shared.wake.notify_one();
    }

    /// Records that a remote worker's events before `next` are pushed: the number is
    /// stored in the same transaction as the last of them (adopt.rs reads it back).
    pub(crate) fn mark_worker_seq(&self, next: u64) {
        self.shared.lock().mark(next);
        self.shared.wake.notify_one();
    }

    /// Waits (at most `limit`) until everything pushed before the call is settled:
    /// stored, or dropped and counted. False when the limit passed first.
    pub async fn stored(&self, limit: Duration) -> bool {
        let target = self.shared.lock().pushed;
        let mut settled = self.shared.settled.subscribe();
        self.shared.wake.notify_one();
        tokio::time::timeout(limit, settled.wait_for(|n| *n >= target))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    pub(crate) fn last_activity(&self) -> Arc<AtomicI64> {
        self.last_activity.clone()
    }

    fn touch(&self) {
        self.last_activity.store(now_millis(), Ordering::Relaxed);
    }

    /// Waits until everything buffered so far is stored, then stops the writer. Lines
    /// pushed afterwards (a late callback) are not stored.
    pub async fn finish(&self, writer: SinkWriter) {
        if let Some(note) = self.cap.summary() {
            self.push(LogKind::System, note);
        }
        self.shared.closed.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        if let Err(err) = writer.task.await {
            let session_id = writer.session_id;
            tracing::error!(session_id = %session_id, %err, "the session log writer stopped; lines not yet stored are lost");
        }
    }
}

/// What the writer does next.
enum Next {
    /// A batch, how many pushes are settled once it is stored, and the worker's event
    /// number it covers.
    Store(Lines, UsageSum, u64, Option<u64>),
    Wait,
    Stop,
}

impl Shared {
    fn next(&self) -> Next {
        let mut pending = self.lock();
        if !pending.is_empty() {
            let (lines, usage) = pending.take_batch();
            let taken = pending.taken();
            let seq = pending.take_mark(taken);
            Next::Store(lines, usage, taken, seq)
        } else if self.closed.load(Ordering::Acquire) {
            Next::Stop
        } else {
            Next::Wait
        }
    }

    /// A batch was not stored: its lines count as dropped, its usage goes back. When
    /// the writes keep failing the lines held are given up; the usage sum is kept for
    /// the next write while the session runs, and given up (logged) only once it is over.
    fn not_stored(
        &self,
        session_id: SessionId,
        lines: usize,
        usage: Option<(Usage, f64)>,
        seq: Option<u64>,
        give_up: bool,
    ) {
        let mut pending = self.lock();
        pending.dropped += lines as u64;
        if let Some((u, cost)) = usage {
            pending.add_usage(u, cost);
        }
        // The worker's number goes with the next batch, unless a newer one waits.
        if let (Some(seq), None) = (seq, pending.mark) {
            pending.mark = Some((0, seq));
        }
        if give_up {
            let mut usage = pending.usage.take();
            if self.closed.load(Ordering::Acquire)
                && let Some((usage, cost)) = usage.take()
            {
                tracing::error!(
                    session_id = %session_id,
                    ?usage,
                    cost,
                    "session usage could not be stored"
                );
            }
            let pushed = pending.pushed;
            *pending = Pending {
                pushed,
                usage,
                ..Pending::default()
            };
            // What was acknowledged meanwhile is lost and counted; the worker's number
            // is not advanced past it.
            drop(pending);
            self.settled.send_replace(pushed);
        }
    }
}

/// The writer task: stores batches until the sink is closed and the buffer empty.
async fn drain(board: Board, session_id: SessionId, shared: Arc<Shared>) {
    let mut failures = 0;
    loop {
        match shared.next() {
            Next::Stop => return,
            Next::Wait => shared.wake.notified().await,
            Next::Store(lines, usage, taken, seq) => {
                let count = lines.len();
                let stored = board
                    .append_session_output(session_id, lines, usage, seq)
                    .await;
                match stored {
                    Ok(()) => {
                        failures = 0;
                        shared.settled.send_if_modified(|n| {
                            let more = taken > *n;
                            *n = (*n).max(taken);
                            more
                        });
                    }
                    Err(err) => {
                        failures += 1;
                        tracing::warn!(session_id = %session_id, %err, "cannot store session output");
                        let give_up = failures >= MAX_FAILURES;
                        shared.not_stored(session_id, count, usage, seq, give_up);
                        if give_up {
                            failures = 0;
                        }
                        // Nothing left after giving up: no pause before stopping.
                        if !(give_up && shared.lock().is_empty()) {
                            tokio::time::sleep(RETRY_PAUSE).await;
                        }
                    }
                }
            }
        }
    }
}

impl engine::SessionSink for StoreSink {
    fn log(&self, kind: LogKind, content: &str) {
        self.line(kind, content);
    }

    fn usage(&self, usage: &engine::Usage, cost_usd: f64) {
        self.touch();
        let usage = Usage {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_read_tokens: usage.cache_read_input_tokens,
            cache_write_tokens: usage.cache_creation_input_tokens,
        };
        self.shared.lock().add_usage(usage, cost_usd);
        self.shared.wake.notify_one();
    }

    fn alive(&self) {
        self.touch();
    }
}

pub(crate) fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(n: u64) -> Usage {
        Usage {
            input_tokens: n,
            output_tokens: n,
            ..Usage::default()
        }
    }

    #[test]
    fn lines_past_the_bound_are_counted_and_the_count_is_stored_first() {
        let mut p = Pending::default();
        for i in 0..MAX_LINES + 3 {
            p.push_line(LogKind::Text, format!("line {i}"));
        }
        let (lines, _) = p.take_batch();
        assert_eq!(lines[0], (LogKind::System, dropped_note(3)));
        assert_eq!(lines[1].1, "line 0");
        assert_eq!(lines.len(), BATCH_LINES + 1);
    }

    #[test]
    fn a_batch_settles_every_push_but_the_lines_still_waiting() {
        let mut p = Pending::default();
        for i in 0..BATCH_LINES + 10 {
            p.push_line(LogKind::Text, format!("line {i}"));
        }
        p.add_usage(usage(1), 0.1);
        let _ = p.take_batch();
        // The usage report went with the first batch; ten lines wait.
        assert_eq!(p.taken(), (BATCH_LINES + 1) as u64);
        let _ = p.take_batch();
        assert_eq!(p.taken(), p.pushed);
    }

    #[test]
    fn a_worker_s_number_goes_with_the_batch_that_holds_its_events() {
        let mut p = Pending::default();
        for i in 0..BATCH_LINES + 1 {
            p.push_line(LogKind::Text, format!("event {i}"));
        }
        p.mark(7);
        p.push_line(LogKind::Text, "after".into());
        let _ = p.take_batch();
        let taken = p.taken();
        assert_eq!(p.take_mark(taken), None, "one of its events still waits");
        let _ = p.take_batch();
        let taken = p.taken();
        assert_eq!(p.take_mark(taken), Some(7));
        // A number alone (its events were stored before) is a batch of its own.
        p.mark(9);
        assert!(!p.is_empty());
        let (lines, _) = p.take_batch();
        assert!(lines.is_empty());
        let taken = p.taken();
        assert_eq!(p.take_mark(taken), Some(9));
        assert!(p.is_empty());
    }

    fn shared() -> Shared {
        Shared {
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
            settled: tokio::sync::watch::Sender::new(0),
        }
    }

    #[test]
    fn usage_outlasts_writes_that_keep_failing_while_the_session_runs() {
        let shared = shared();
        shared.lock().push_line(LogKind::Text, "lost".into());
        shared.lock().add_usage(usage(3), 0.25);
        let (lines, total) = shared.lock().take_batch();
        shared.not_stored(SessionId::new(1).unwrap(), lines.len(), total, None, true);
        let mut pending = shared.lock();
        assert!(
            pending.lines.is_empty() && pending.dropped == 0,
            "lines given up"
        );
        let (u, cost) = pending.usage.take().expect("the usage sum is kept");
        assert_eq!((u.input_tokens, cost), (3, 0.25));
        assert_eq!(*shared.settled.borrow(), pending.pushed);
    }

    #[test]
    fn usage_is_given_up_only_once_the_session_is_over() {
        let shared = shared();
        shared.lock().add_usage(usage(3), 0.25);
        shared.closed.store(true, Ordering::Release);
        let (lines, total) = shared.lock().take_batch();
        shared.not_stored(SessionId::new(1).unwrap(), lines.len(), total, None, true);
        assert!(shared.lock().is_empty());
    }

    #[test]
    fn usage_is_summed_however_many_reports_wait_and_never_dropped() {
        let mut p = Pending::default();
        for _ in 0..MAX_LINES * 4 {
            p.push_line(LogKind::Text, "x".into());
            p.add_usage(usage(1), 0.5);
        }
        let (_, total) = p.take_batch();
        let (u, cost) = total.unwrap();
        assert_eq!(u.input_tokens, (MAX_LINES * 4) as u64);
        assert_eq!(cost, (MAX_LINES * 2) as f64);
    }
}
