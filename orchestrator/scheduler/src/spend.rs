//! Spend limits enforced while a session runs, not only before it starts: the session
//! cap (`HARNESS_SESSION_MAX_USD`), the task's cap (`max_cost_usd`) and the budget (daily/monthly limits). Usage is
//! recorded per message as it streams, so the guard sees it within a poll step; when a
//! limit is crossed it says so (session log, `session.stopped` event, live) and stops
//! the session, unless `HARNESS_BUDGET_OVERRUN=finish` lets budget crossings finish.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use harness_domain::session::SessionId;
use harness_domain::task::TaskId;
use tokio_util::sync::CancellationToken;

use super::{Engine, error::AttemptError, sink::StoreSink};
use harness_board::budget::{BudgetLimits, BudgetReport};
use harness_config::Overrun;

/// Why the guard stopped a session.
#[derive(Debug, Clone)]
pub(crate) struct SpendStop {
    pub reason: String,
    /// The session's own cap uses an attempt; a budget crossing is not the task's fault.
    pub uses_attempt: bool,
}

/// A running guard; abort it when the session ends.
pub(crate) struct SpendGuard {
    pub stopped: Arc<OnceLock<SpendStop>>,
    handle: tokio::task::JoinHandle<()>,
}

impl SpendStop {
    /// The attempt's error: failed (the session's or task's cap) or requeued (budget).
    pub(crate) fn into_error(self) -> AttemptError {
        AttemptError::SpendStopped {
            reason: self.reason,
            uses_attempt: self.uses_attempt,
        }
    }
}

impl SpendGuard {
    /// Stops the guard and returns why it stopped the session, if it did.
    pub fn finish(self) -> Option<SpendStop> {
        self.handle.abort();
        self.stopped.get().cloned()
    }
}

/// Watches the session's spend and the budget until aborted.
pub fn watch(
    engine: Arc<Engine>,
    sink: Arc<StoreSink>,
    session_id: SessionId,
    task_id: TaskId,
    cancel: CancellationToken,
) -> SpendGuard {
    let stopped = Arc::new(OnceLock::new());
    // In the caller's span: the stop is logged with the attempt's task and session.
    let handle = tokio::spawn(tracing::Instrument::in_current_span({
        let stopped = stopped.clone();
        async move {
            let step = engine.settings.tick.min(Duration::from_millis(500));
            loop {
                let stop = match task_crossed(&engine, task_id).await {
                    Some(stop) => Some(stop),
                    None => crossed(&engine, session_id).await,
                };
                let Some(stop) = stop else {
                    tokio::time::sleep(step).await;
                    continue;
                };
                sink.system(&stop.reason);
                engine
                    .board
                    .record_spend_stop(task_id, session_id, stop.reason.clone())
                    .await;
                // This task is the only one that sets it, once, just before it ends.
                let _ = stopped.set(stop);
                cancel.cancel();
                return;
            }
        }
    }));
    SpendGuard { stopped, handle }
}

/// The task's own cap (`max_cost_usd`), over all its sessions. Read at every step: a
/// cap changed while the session runs (`PATCH /api/tasks/{id}`) holds at once.
async fn task_crossed(engine: &Engine, task_id: TaskId) -> Option<SpendStop> {
    let id = task_id;
    let cap = engine.board.get_task(id).await.ok()?.max_cost_usd?;
    let spent = engine.board.task_cost_usd(id).await.ok()?;
    (spent >= cap).then(|| SpendStop {
        reason: format!(
            "stopped at the task's cost limit: ${spent:.4} spent by its sessions, max_cost_usd is ${cap}"
        ),
        uses_attempt: true,
    })
}

/// The first limit the running session has crossed, if any.
async fn crossed(engine: &Engine, session_id: SessionId) -> Option<SpendStop> {
    let reliability = &engine.settings.reliability;
    if let Some(max) = reliability.session_max_usd
        && let Ok(session) = engine.board.get_session(session_id).await
        && session.cost_usd >= max
    {
        return Some(SpendStop {
            reason: format!(
                "stopped at the session cost limit: ${:.4} spent, HARNESS_SESSION_MAX_USD is ${max}",
                session.cost_usd
            ),
            uses_attempt: true,
        });
    }
    if reliability.budget_overrun == Overrun::Stop && engine.budget != BudgetLimits::default() {
        let totals = engine.board.budget_totals().await.ok()?;
        if BudgetReport::new(totals, engine.budget).exceeded {
            return Some(SpendStop {
                reason: "stopped: a budget limit was crossed while the session ran \
                         (HARNESS_BUDGET_OVERRUN=finish lets sessions finish)"
                    .into(),
                uses_attempt: false,
            });
        }
    }
    None
}
