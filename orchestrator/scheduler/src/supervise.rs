//! One supervised agent session. Every session the scheduler runs on this machine (a
//! task's attempt, a helper role's consult, an investigation) runs through
//! [`Supervisor::run`]: the runtime on the session's request, a watchdog that cancels a
//! session showing no sign of life for `HARNESS_STUCK_AFTER_SECS`, the spend guard
//! (`spend.rs`) and the session's own extra watchers, all stopped when the runtime
//! returns. A remote attempt's agent runs in its worker; the orchestrator's side of it
//! (the spend guard over the events it streams) is in `remote.rs`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use harness_board::Board;
use harness_domain::{
    session::{SessionId, SessionStatus},
    task::{Task, TaskId},
};
use harness_engine::runtime::{AgentRuntime, SessionReport, SessionRequest};
use harness_store::StoreError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{
    Engine,
    log_cap::LogCap,
    sink::{StoreSink, now_millis},
    spend::SpendStop,
};

/// Whose session is supervised, and where its output goes.
pub(super) struct Supervisor<'a> {
    pub engine: &'a Arc<Engine>,
    pub sink: &'a Arc<StoreSink>,
    pub session: SessionId,
    pub task: TaskId,
    /// Cancels the session; the watchdog and the spend guard cancel through it too.
    pub cancel: &'a CancellationToken,
}

/// How a supervised session ended.
pub(super) struct Supervised {
    pub report: SessionReport,
    /// The watchdog cancelled it: no sign of life for `stuck_after`.
    pub stuck: bool,
    /// The spend guard stopped it, and why.
    pub spend_stop: Option<SpendStop>,
}

impl Supervisor<'_> {
    /// Runs `request` on `runtime` until it returns. `watchers` are the session's own
    /// extra watchers (a liveness probe, a cancel on unblock), aborted with the others.
    pub(super) async fn run(
        self,
        runtime: &dyn AgentRuntime,
        request: SessionRequest,
        watchers: Vec<JoinHandle<()>>,
    ) -> Supervised {
        let stuck = CancellationToken::new();
        let watchdog = spawn_watchdog(
            self.sink.last_activity(),
            self.engine.settings.stuck_after,
            self.cancel.clone(),
            stuck.clone(),
        );
        let spend = super::spend::watch(
            self.engine.clone(),
            self.sink.clone(),
            self.session,
            self.task,
            self.cancel.clone(),
        );
        let report = runtime.run(request, self.sink.as_ref()).await;
        watchdog.abort();
        for watcher in watchers {
            watcher.abort();
        }
        if let Some(model) = &report.model {
            tracing::debug!(model, "session used model");
        }
        Supervised {
            report,
            stuck: stuck.is_cancelled(),
            spend_stop: spend.finish(),
        }
    }
}

/// A helper role's session (a consult, an investigation), its log included: the log's
/// sink lives exactly as long as the supervised run. An attempt keeps its own sink,
/// which also carries what happens before and after its agent runs.
pub(super) async fn run_helper(
    engine: &Arc<Engine>,
    session: SessionId,
    task: TaskId,
    cancel: &CancellationToken,
    runtime: &dyn AgentRuntime,
    request: SessionRequest,
    watchers: Vec<JoinHandle<()>>,
) -> Supervised {
    let cap = LogCap::new(&engine.settings.reliability);
    let (sink, writer) = StoreSink::start(engine.board.clone(), session, cap);
    let supervised = Supervisor {
        engine,
        sink: &sink,
        session,
        task,
        cancel,
    }
    .run(runtime, request, watchers)
    .await;
    sink.finish(writer).await;
    supervised
}

/// Attempts of [`finish_helper_session`] before it gives up.
const FINISH_TRIES: u32 = 3;

/// Ends a helper session (a consultation or an investigation) with its verdict. A
/// failure that may pass (a busy or overloaded store, a batch that did not commit) is
/// retried; then it is logged as an error. A session left so stays `running` in the
/// store until the orchestrator stops or starts again: both end every session still
/// running as interrupted (`interrupt_running_sessions`, server.rs); that sweep is what
/// ends it. Meanwhile it counts against its agent's concurrency (`running_by_agent`)
/// and keeps its task's worktree from expiring (retention.rs), hence the retries.
pub(super) async fn finish_helper_session(
    board: &Board,
    session: SessionId,
    task: &Task,
    status: SessionStatus,
    reason: String,
) {
    let mut tries = 0;
    loop {
        tries += 1;
        let err = match board.finish_session(session, status, reason.clone()).await {
            Ok(_) => return,
            Err(err) => err,
        };
        let passing = matches!(
            err,
            StoreError::Busy(_)
                | StoreError::Overloaded
                | StoreError::CommitFailed(_)
                | StoreError::Unavailable(_)
        );
        if !passing || tries >= FINISH_TRIES {
            tracing::error!(
                %err,
                session = %session,
                task = %task.display_id,
                status = status.as_str(),
                "cannot finish the helper session; it shows as running until the orchestrator's next stop or start interrupts it"
            );
            return;
        }
        tracing::warn!(%err, session = %session, task = %task.display_id, "cannot finish the helper session yet; trying again");
        tokio::time::sleep(Duration::from_millis(100) * tries).await;
    }
}

/// Starts [`watch_for_silence`] in the caller's span (the attempt's, or the helper
/// session's), so a stuck session's logs name its task and session.
fn spawn_watchdog(
    last: Arc<AtomicI64>,
    limit: Duration,
    cancel: CancellationToken,
    stuck: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(watch_for_silence(last, limit, cancel, stuck).in_current_span())
}

/// Cancels the session when its sink has been silent for `limit`.
async fn watch_for_silence(
    last: Arc<std::sync::atomic::AtomicI64>,
    limit: Duration,
    cancel: CancellationToken,
    stuck: CancellationToken,
) {
    let step = (limit / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    loop {
        tokio::time::sleep(step).await;
        let silent_ms = now_millis() - last.load(Ordering::Relaxed);
        if silent_ms > i64::try_from(limit.as_millis()).unwrap_or(i64::MAX) {
            stuck.cancel();
            cancel.cancel();
            return;
        }
    }
}
