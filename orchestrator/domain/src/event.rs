//! The operations log: an append-only record of what happened.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    ValidationError,
    budget::BudgetReport,
    role::Size,
    session::SessionId,
    task::{TaskId, TaskStatus},
    time::Timestamp,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

impl FromStr for Severity {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        [Self::Info, Self::Warning, Self::Error]
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| ValidationError::new("severity", format!("unknown severity '{raw}'")))
    }
}

/// An event as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub id: i64,
    /// Dotted name such as `task.created` or `budget.exceeded`.
    #[serde(rename = "type")]
    pub kind: String,
    pub severity: Severity,
    pub task_id: Option<TaskId>,
    pub agent_id: Option<String>,
    pub session_id: Option<SessionId>,
    pub message: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub at: Timestamp,
}

/// Every operations event the harness records, with its payload. The serde name is the
/// event's `type` and the fields are its `payload`, exactly as the API serves them
/// (`GET /api/events`, the `event.created` live message); Telegram and the dashboard
/// match on these variants, never on the strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", content = "payload")]
pub enum Operation {
    #[serde(rename = "task.created")]
    TaskCreated,
    #[serde(rename = "task.status_changed")]
    TaskStatusChanged { to: TaskStatus, actor: String },
    #[serde(rename = "task.deleted")]
    TaskDeleted,
    #[serde(rename = "task.answered")]
    TaskAnswered { actor: String },
    /// An attempt failed; the task is retried (`status` pending) or blocked, with an
    /// investigation to follow when `investigation`.
    #[serde(rename = "task.failed")]
    TaskFailed {
        status: TaskStatus,
        investigation: bool,
    },
    #[serde(rename = "task.question")]
    TaskQuestion { question: String },
    #[serde(rename = "task.waiting_to_land")]
    TaskWaitingToLand { reason: String },
    #[serde(rename = "task.blocked")]
    TaskBlocked(BlockedBy),
    /// Verified work on `branch` at `commit` waits for a person's review.
    #[serde(rename = "task.review_requested")]
    TaskReviewRequested { commit: String, branch: String },
    /// A person approved, asked for changes to, or rejected the work in review.
    #[serde(rename = "task.reviewed")]
    TaskReviewed {
        action: crate::review::ReviewAction,
        actor: String,
        message: Option<String>,
    },
    /// The task's verified work is in pull request `number` on the forge.
    #[serde(rename = "task.pull_request")]
    TaskPullRequest { number: u64, url: String },
    /// The harness cannot open or follow the task's pull request for now (the reason);
    /// it tries again. Said once per distinct reason.
    #[serde(rename = "task.pull_request_problem")]
    TaskPullRequestProblem { reason: String },
    /// A person sent the task's agent a message; the next attempt continues with it.
    #[serde(rename = "task.message")]
    TaskMessage { actor: String },
    #[serde(rename = "task.estimated")]
    TaskEstimated { size: Size, reason: String },
    #[serde(rename = "investigation.waiting")]
    InvestigationWaiting { reason: String },
    #[serde(rename = "helper.waiting")]
    HelperWaiting { role: String, purpose: String },
    #[serde(rename = "validation.rejected")]
    ValidationRejected { count: u32, reasons: String },
    #[serde(rename = "proposal.created")]
    ProposalCreated { proposal_id: i64 },
    #[serde(rename = "proposal.accepted")]
    ProposalAccepted { proposal_id: i64 },
    #[serde(rename = "proposal.rejected")]
    ProposalRejected { proposal_id: i64 },
    #[serde(rename = "finding.reported")]
    FindingReported,
    #[serde(rename = "agent.updated")]
    AgentUpdated,
    #[serde(rename = "session.stopped")]
    SessionStopped,
    #[serde(rename = "session.interrupted")]
    SessionInterrupted,
    #[serde(rename = "orchestrator.paused")]
    OrchestratorPaused { actor: String },
    #[serde(rename = "orchestrator.resumed")]
    OrchestratorResumed { actor: String },
    /// Sessions interrupted and tasks requeued after an unclean stop.
    #[serde(rename = "orchestrator.recovered")]
    OrchestratorRecovered,
    #[serde(rename = "orchestrator.stopped")]
    OrchestratorStopped,
    #[serde(rename = "budget.exceeded")]
    BudgetExceeded(Box<BudgetReport>),
    #[serde(rename = "ratelimit.paused")]
    RateLimitPaused { until: Timestamp },
    #[serde(rename = "ratelimit.resumed")]
    RateLimitResumed,
    /// A worktree a crash left behind: reported, never deleted silently.
    #[serde(rename = "worktree.leftover")]
    WorktreeLeftover,
}

/// Why a task is blocked, as `task.blocked` says it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum BlockedBy {
    /// Its sessions were interrupted by crashes too often (`reason` is
    /// `crash_interruptions`). First: the other shape has no required field.
    Crashes { reason: CrashInterruptions },
    /// An investigation looked at it; `diagnosis` is null when it found nothing to say.
    Investigation { diagnosis: Option<String> },
}

/// The one `reason` of [`BlockedBy::Crashes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CrashInterruptions {
    CrashInterruptions,
}

impl Operation {
    /// The event's `type` and `payload` as stored and served (null for an event
    /// without one).
    pub fn encode(&self) -> (String, serde_json::Value) {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        let kind = match value.get("type") {
            Some(serde_json::Value::String(kind)) => kind.clone(),
            _ => String::new(),
        };
        let payload = value
            .get_mut("payload")
            .map(serde_json::Value::take)
            .unwrap_or_default();
        (kind, payload)
    }

    /// The operation of a stored event; `None` for a type this build does not know (an
    /// older database's) or a payload that does not fit it.
    pub fn decode(kind: &str, payload: &serde_json::Value) -> Option<Self> {
        let bare = || serde_json::from_value(serde_json::json!({ "type": kind })).ok();
        if payload.is_null() {
            return bare();
        }
        serde_json::from_value(serde_json::json!({ "type": kind, "payload": payload }))
            .ok()
            // Older builds wrote `{"telegram_update": …}` as the payload of an event
            // that has none.
            .or_else(bare)
    }
}

impl Event {
    /// What this event says, typed; `None` for a type this build does not know.
    pub fn operation(&self) -> Option<Operation> {
        Operation::decode(&self.kind, &self.payload)
    }
}

/// An event about to be recorded.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub operation: Operation,
    pub severity: Severity,
    pub task_id: Option<TaskId>,
    pub agent_id: Option<String>,
    pub session_id: Option<SessionId>,
    pub message: String,
    /// The Telegram update that asked for the change, if one did: the store marks it
    /// handled in the change's transaction, so the command cannot run twice.
    pub telegram_update: Option<i64>,
}

impl NewEvent {
    pub fn info(operation: Operation, message: impl Into<String>) -> Self {
        Self {
            operation,
            severity: Severity::Info,
            task_id: None,
            agent_id: None,
            session_id: None,
            message: message.into(),
            telegram_update: None,
        }
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn for_task(mut self, id: TaskId) -> Self {
        self.task_id = Some(id);
        self
    }

    pub fn for_agent(mut self, id: impl Into<String>) -> Self {
        self.agent_id = Some(id.into());
        self
    }

    pub fn for_session(mut self, id: SessionId) -> Self {
        self.session_id = Some(id);
        self
    }

    /// Names the Telegram update that asked for the change (see `telegram_update`).
    pub fn asked_by_update(mut self, update: Option<i64>) -> Self {
        self.telegram_update = update;
        self
    }
}

#[cfg(test)]
mod operation_tests {
    use super::*;
    use crate::budget::{BudgetLimits, BudgetReport, BudgetTotals};

    fn round_trip(op: Operation) -> (String, serde_json::Value) {
        let (kind, payload) = op.encode();
        assert_eq!(
            Operation::decode(&kind, &payload),
            Some(op),
            "{kind} {payload}"
        );
        (kind, payload)
    }

    #[test]
    fn an_operation_is_stored_as_the_type_and_payload_the_api_served_before() {
        assert_eq!(
            round_trip(Operation::TaskStatusChanged {
                to: TaskStatus::Completed,
                actor: "api".into()
            }),
            (
                "task.status_changed".into(),
                serde_json::json!({"to": "completed", "actor": "api"})
            )
        );
        assert_eq!(
            round_trip(Operation::TaskCreated),
            ("task.created".into(), serde_json::Value::Null)
        );
        assert_eq!(
            round_trip(Operation::TaskBlocked(BlockedBy::Crashes {
                reason: CrashInterruptions::CrashInterruptions
            })),
            (
                "task.blocked".into(),
                serde_json::json!({"reason": "crash_interruptions"})
            )
        );
        assert_eq!(
            round_trip(Operation::TaskBlocked(BlockedBy::Investigation {
                diagnosis: None
            })),
            (
                "task.blocked".into(),
                serde_json::json!({"diagnosis": null})
            )
        );
        let report = BudgetReport::new(BudgetTotals::default(), BudgetLimits::default());
        let (_, payload) = round_trip(Operation::BudgetExceeded(Box::new(report)));
        assert_eq!(payload["today"]["cost_usd"], 0.0);
    }

    #[test]
    fn an_unknown_type_or_a_payload_that_does_not_fit_decodes_to_none() {
        assert_eq!(
            Operation::decode("task.renamed", &serde_json::Value::Null),
            None
        );
        assert_eq!(
            Operation::decode("task.question", &serde_json::json!({"q": 1})),
            None
        );
        // Extra keys written by older builds (`telegram_update`) are ignored.
        assert_eq!(
            Operation::decode(
                "proposal.created",
                &serde_json::json!({"proposal_id": 7, "telegram_update": 3})
            ),
            Some(Operation::ProposalCreated { proposal_id: 7 })
        );
        assert_eq!(
            Operation::decode("task.created", &serde_json::json!({"telegram_update": 3})),
            Some(Operation::TaskCreated)
        );
    }
}
