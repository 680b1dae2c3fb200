//! The roles' jobs through the board: estimates, validation rejections, proposals,
//! and harness.toml's agent roles. Each is one store transaction, then its live
//! messages.

use harness_domain::{
    agent::AgentId,
    event::{NewEvent, Operation, Severity},
    proposal::{Proposal, ProposalStatus},
    role::{RoleName, Size, TaskEstimate},
    session::SessionId,
    task::{Task, TaskId},
};

use super::{Actor, Board};
use crate::live::LiveKind;
use harness_store::{NewProposal, StoreError};

impl Board {
    /// `[agents.<id>] role = …` from harness.toml, applied at startup before anyone
    /// listens (so there is nothing to announce).
    pub async fn ensure_agent_role(&self, id: AgentId, role: RoleName) -> Result<(), StoreError> {
        self.blocking(move |s| s.ensure_agent_role(&id, &role))
            .await
    }

    pub async fn record_estimate(
        &self,
        task: &Task,
        size: Size,
        reason: String,
        agent: Option<String>,
    ) -> Result<TaskEstimate, StoreError> {
        let (id, display) = (task.id, task.display_id.clone());
        let (estimate, event) = self
            .blocking(move |s| {
                s.record_estimate(id, size, &reason, agent.as_deref(), |e| {
                    NewEvent::info(
                        Operation::TaskEstimated {
                            size: e.size,
                            reason: e.reason.clone(),
                        },
                        format!("{display} is estimated {}: {}", e.size, e.reason),
                    )
                    .for_task(id)
                })
            })
            .await?;
        self.published_event(event);
        self.runs.wake();
        Ok(estimate)
    }

    pub async fn estimate(&self, task: TaskId) -> Result<Option<TaskEstimate>, StoreError> {
        self.blocking(move |s| s.estimate(task)).await
    }

    /// Records a validation rejection; returns how many the task has had.
    pub async fn record_rejection(
        &self,
        task: &Task,
        session: Option<SessionId>,
        reasons: String,
    ) -> Result<u32, StoreError> {
        let (id, display) = (task.id, task.display_id.clone());
        let (count, event) = self
            .blocking(move |s| {
                s.record_rejection(id, session, &reasons, |n| {
                    NewEvent::info(
                        Operation::ValidationRejected {
                            count: n,
                            reasons: reasons.clone(),
                        },
                        format!("validation rejected {display} (rejection {n}): {reasons}"),
                    )
                    .with_severity(Severity::Warning)
                    .for_task(id)
                })
            })
            .await?;
        self.published_event(event);
        Ok(count)
    }

    /// A task SIA proposes; it waits for a person. Callable from an agent's tool call.
    pub fn propose_now(&self, new: NewProposal) -> Result<Proposal, StoreError> {
        let (proposal, event) = self.store.create_proposal(&new, |p| {
            NewEvent::info(
                Operation::ProposalCreated { proposal_id: p.id },
                format!("SIA proposes \"{}\" ({})", p.title, p.source),
            )
        })?;
        self.published_event(event);
        Ok(proposal)
    }

    pub async fn list_proposals(
        &self,
        status: Option<ProposalStatus>,
        limit: u32,
    ) -> Result<Vec<Proposal>, StoreError> {
        self.blocking(move |s| s.list_proposals(status, limit))
            .await
    }

    /// A person accepts a proposal: its task is created (and may start).
    pub async fn accept_proposal(
        &self,
        id: i64,
        actor: impl Into<Actor>,
    ) -> Result<(Proposal, Task), StoreError> {
        let actor = actor.into();
        let (proposal, task, event) = self
            .blocking(move |s| {
                s.accept_proposal(id, actor.as_str(), |p, t| {
                    actor.stamp(
                        NewEvent::info(
                            Operation::ProposalAccepted { proposal_id: p.id },
                            format!("proposal \"{}\" accepted as {}", p.title, t.display_id),
                        )
                        .for_task(t.id),
                    )
                })
            })
            .await?;
        self.publish(LiveKind::TaskCreated(task.clone()));
        self.published_event(event);
        self.runs.wake();
        Ok((proposal, task))
    }

    pub async fn reject_proposal(&self, id: i64) -> Result<Proposal, StoreError> {
        let (proposal, event) = self
            .blocking(move |s| {
                s.reject_proposal(id, |p| {
                    NewEvent::info(
                        Operation::ProposalRejected { proposal_id: p.id },
                        format!("proposal \"{}\" rejected", p.title),
                    )
                })
            })
            .await?;
        self.published_event(event);
        Ok(proposal)
    }
}
