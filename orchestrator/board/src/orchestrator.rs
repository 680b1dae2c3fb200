//! The orchestrator's own state (pause, budget), operations events that are changes
//! of their own, and the database's upkeep (probe, pruning, checkpoint).

use std::collections::BTreeMap;

use harness_domain::{
    event::{Event, NewEvent, Operation},
    time::Timestamp,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Actor, Board};
use crate::budget::BudgetReport;
use crate::live::LiveKind;
use harness_store::{BudgetTotals, StoreError};

/// The orchestrator's own state, as served and broadcast.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrchestratorStatus {
    pub paused: bool,
    pub version: &'static str,
    pub started_at: Timestamp,
    #[schema(value_type = BTreeMap<String, u64>)]
    pub task_counts: BTreeMap<&'static str, u64>,
}

impl Board {
    pub async fn orchestrator_status(
        &self,
        started_at: Timestamp,
    ) -> Result<OrchestratorStatus, StoreError> {
        let (paused, task_counts) = self
            .blocking(|s| Ok((s.paused()?, s.task_counts()?)))
            .await?;
        Ok(OrchestratorStatus {
            paused,
            version: env!("CARGO_PKG_VERSION"),
            started_at,
            task_counts,
        })
    }

    /// Pauses or resumes starting sessions; the flag and its event are one transaction.
    pub async fn set_paused(
        &self,
        paused: bool,
        started_at: Timestamp,
        actor: impl Into<Actor>,
    ) -> Result<OrchestratorStatus, StoreError> {
        let actor = actor.into();
        let by = actor.as_str().to_owned();
        let note = actor.stamp(if paused {
            NewEvent::info(
                Operation::OrchestratorPaused { actor: by },
                "orchestrator paused: no new sessions start",
            )
        } else {
            NewEvent::info(
                Operation::OrchestratorResumed { actor: by },
                "orchestrator resumed",
            )
        });
        let event = self.blocking(move |s| s.set_paused(paused, &note)).await?;
        self.runs.wake();
        let status = self.orchestrator_status(started_at).await?;
        self.publish(LiveKind::OrchestratorUpdated(status.clone()));
        self.published_event(event);
        Ok(status)
    }

    pub async fn budget_totals(&self) -> Result<BudgetTotals, StoreError> {
        self.blocking(|s| s.budget_totals(Timestamp::now())).await
    }

    /// Spend crossed a limit (either way). Nothing is stored: the report is computed.
    pub fn announce_budget(&self, report: BudgetReport) {
        self.publish(LiveKind::BudgetUpdated(report));
    }

    /// Records an operations event that is a change of its own (a leftover worktree,
    /// a recovery, a budget crossing) and broadcasts it after it commits. A failure is
    /// logged, not returned: the event reports, it does not decide.
    pub async fn note(&self, event: NewEvent) -> Option<Event> {
        match self.blocking(move |s| s.record_event(&event)).await {
            Ok(event) => {
                self.published_event(event.clone());
                Some(event)
            }
            Err(err) => {
                tracing::warn!(%err, "cannot record event");
                None
            }
        }
    }

    pub async fn list_events(
        &self,
        after: Option<i64>,
        kind: Option<String>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        self.blocking(move |s| s.list_events(after, kind.as_deref(), limit))
            .await
    }

    /// Deletes events older than `before`. Returns how many went.
    pub async fn prune_events(&self, before: Timestamp) -> Result<usize, StoreError> {
        self.blocking(move |s| s.prune_events(before)).await
    }

    /// Deletes the logs of sessions that ended before `before` (`HARNESS_SESSION_LOG_RETENTION_DAYS`).
    /// Returns the lines deleted.
    pub async fn prune_session_logs(&self, before: Timestamp) -> Result<usize, StoreError> {
        self.blocking(move |s| s.prune_session_logs(before)).await
    }

    /// A cheap liveness probe of the database, for `/health`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(|s| s.ping()).await
    }

    /// Folds the WAL into the main file, at shutdown.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        self.blocking(|s| s.checkpoint()).await
    }
}
