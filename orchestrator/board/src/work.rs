//! What the scheduler and its attempts do: claim a ready task, move it through
//! verification, settle it, park it for a human, record what the session produced.
//! The attempt asks for each transition here instead of writing and announcing it.

use std::collections::HashMap;

use harness_domain::{
    agent::Agent,
    event::{BlockedBy, CrashInterruptions, NewEvent, Operation, Severity},
    session::{Session, SessionId},
    task::{Outcome, Task, TaskId, TaskStatus},
    time::Timestamp,
};

use super::{Actor, Board, tasks::status_changed};
use crate::live::LiveKind;
use harness_store::{CrashRecovery, Failure, SessionEnd, StoreError};

/// A human's answer to the question an agent asked, taken as the agent resumes.
#[derive(Debug, Clone)]
pub struct HumanAnswer {
    pub question: String,
    pub answer: String,
    /// The paused conversation (JSON) when the runtime can resume one.
    pub paused: Option<String>,
}

impl Board {
    pub async fn paused(&self) -> Result<bool, StoreError> {
        self.blocking(|s| s.paused()).await
    }

    /// Ready tasks, P0 first then oldest, at most `limit`.
    pub async fn ready_tasks(&self, limit: u32) -> Result<Vec<Task>, StoreError> {
        self.blocking(move |s| s.ready_tasks(Timestamp::now(), limit))
            .await
    }

    /// Running sessions per agent id.
    pub async fn running_by_agent(&self) -> Result<HashMap<String, u32>, StoreError> {
        self.blocking(|s| s.running_by_agent()).await
    }

    /// Claims a ready task for `agent`: in progress, one more attempt, a running session.
    pub async fn claim(&self, id: TaskId, agent: &Agent) -> Result<(Task, Session), StoreError> {
        let (agent_id, model) = (agent.id.as_str().to_owned(), agent.model.clone());
        let (task, session) = self
            .blocking(move |s| s.claim_task(id, &agent_id, &model, Timestamp::now()))
            .await?;
        self.publish(LiveKind::TaskUpdated(task.clone()));
        self.publish(LiveKind::SessionCreated(session.clone()));
        self.runs.wake();
        Ok((task, session))
    }

    /// Back to pending without using an attempt: a rate limit, a restart, a question.
    /// `end` ends the attempt's session in the same transaction.
    pub async fn requeue(
        &self,
        id: TaskId,
        reason: impl Into<String>,
        retry_at: Option<Timestamp>,
        actor: impl Into<Actor>,
        end: Option<SessionEnd>,
    ) -> Result<Task, StoreError> {
        let (reason, actor) = (reason.into(), actor.into());
        let (task, session) = self
            .blocking(move |s| s.requeue(id, &reason, retry_at, actor.as_str(), end.as_ref()))
            .await?;
        self.announce_task(&task);
        self.announce_session(session);
        Ok(task)
    }

    pub async fn enter_verifying(&self, id: TaskId) -> Result<Task, StoreError> {
        self.transition_task(
            id,
            TaskStatus::Verifying,
            "running verification",
            Actor::SCHEDULER,
        )
        .await
    }

    /// A verified attempt: the task completed and its session ended, one transaction.
    /// `reason` names the merge commit, so history, the event and notifications carry it.
    pub async fn complete_attempt(
        &self,
        id: TaskId,
        outcome: Outcome,
        reason: String,
        end: Option<SessionEnd>,
    ) -> Result<Task, StoreError> {
        let why = reason.clone();
        let (task, event, session) = self
            .store
            .complete_attempt(
                id,
                outcome,
                why,
                Actor::SCHEDULER.as_str().to_owned(),
                end,
                move |t| status_changed(t, &reason, &Actor::SCHEDULER),
            )
            .await?;
        let task = self.status_changed(task, event)?;
        self.announce_session(session);
        Ok(task)
    }

    /// A failed attempt: retried after a backoff, or blocked. The decision, its history,
    /// the `task.failed` event and the session's `end` are one transaction.
    pub async fn settle_failure(
        &self,
        id: TaskId,
        failure: Failure,
        end: Option<SessionEnd>,
        actor: impl Into<Actor>,
    ) -> Result<Task, StoreError> {
        let actor = actor.into();
        let investigate = failure.investigate;
        let session_id = end.as_ref().map(|e| e.id);
        let (task, event, session) = self
            .blocking(move |s| {
                s.settle_failure(id, &failure, actor.as_str(), end.as_ref(), |t| {
                    let mut note = NewEvent::info(
                        // Retried or blocked, and whether a diagnosis will follow: what
                        // a notification needs to say.
                        Operation::TaskFailed {
                            status: t.status,
                            investigation: investigate && t.status == TaskStatus::Blocked,
                        },
                        format!(
                            "{} attempt {} failed: {}",
                            t.display_id, t.attempts, failure.reason
                        ),
                    )
                    .with_severity(Severity::Warning)
                    .for_task(t.id);
                    if let Some(session) = session_id {
                        note = note.for_session(session);
                    }
                    note
                })
            })
            .await?;
        self.publish(LiveKind::TaskUpdated(task.clone()));
        self.published_event(event);
        self.announce_session(session);
        self.runs.wake();
        Ok(task)
    }

    pub(super) fn announce_session(&self, session: Option<Session>) {
        if let Some(session) = session {
            self.publish(LiveKind::SessionUpdated(session));
        }
    }

    /// An agent asks a human: the question and the conversation to resume are stored
    /// with the `task.question` event.
    pub async fn ask_question(
        &self,
        id: TaskId,
        session_id: SessionId,
        question: String,
        paused: Option<String>,
    ) -> Result<Task, StoreError> {
        let (task, event) = self
            .blocking(move |s| {
                s.ask_question(id, &question, paused.as_deref(), |t| {
                    NewEvent::info(
                        Operation::TaskQuestion {
                            question: question.clone(),
                        },
                        format!("{} asks: {question}", t.display_id),
                    )
                    .with_severity(Severity::Warning)
                    .for_task(t.id)
                    .for_session(session_id)
                })
            })
            .await?;
        self.publish(LiveKind::TaskUpdated(task.clone()));
        self.published_event(event);
        Ok(task)
    }

    /// The task's verified work waits to land, and why (`Outcome::WaitingToLand`), with
    /// its `task.waiting_to_land` event. Said again when the reason changes.
    pub async fn wait_to_land(
        &self,
        id: TaskId,
        session_id: SessionId,
        reason: String,
    ) -> Result<Task, StoreError> {
        let (task, event) = self
            .blocking(move |s| {
                s.wait_to_land(id, &reason, |t| {
                    NewEvent::info(
                        Operation::TaskWaitingToLand {
                            reason: reason.clone(),
                        },
                        format!("{} is verified and waits to land: {reason}", t.display_id),
                    )
                    .with_severity(Severity::Warning)
                    .for_task(t.id)
                    .for_session(session_id)
                })
            })
            .await?;
        self.publish(LiveKind::TaskUpdated(task.clone()));
        if let Some(event) = event {
            self.published_event(event);
        }
        Ok(task)
    }

    /// The answer waiting for the agent. It stays on the task until an attempt that
    /// resumed with it is merged or fails ([`Board::complete_attempt`],
    /// [`Board::settle_failure`]).
    pub async fn waiting_answer(&self, id: TaskId) -> Result<Option<HumanAnswer>, StoreError> {
        let taken = self.blocking(move |s| s.waiting_answer(id)).await?;
        Ok(taken.map(|(question, answer, paused)| HumanAnswer {
            question,
            answer,
            paused,
        }))
    }

    /// A task is blocked: the investigator's diagnosis (when there is one) and the
    /// `task.blocked` event, in one transaction.
    pub async fn record_blocked(
        &self,
        task: &Task,
        diagnosis: Option<String>,
    ) -> Result<Task, StoreError> {
        let (id, attempts, title) = (task.id, task.attempts, task.title.clone());
        let (task, event) = self
            .blocking(move |s| {
                s.record_blocked(id, diagnosis.as_deref(), |t| {
                    NewEvent::info(
                        Operation::TaskBlocked(BlockedBy::Investigation {
                            diagnosis: diagnosis.clone(),
                        }),
                        format!(
                            "{} is blocked after {attempts} attempts: {title}",
                            t.display_id
                        ),
                    )
                    .with_severity(Severity::Error)
                    .for_task(t.id)
                })
            })
            .await?;
        self.publish(LiveKind::TaskUpdated(task.clone()));
        self.published_event(event);
        Ok(task)
    }

    /// Where a session runs: its executor and, remotely, the container/pod/process and
    /// the node or engine host. `None` keeps what was recorded.
    pub async fn record_executor(
        &self,
        session_id: SessionId,
        executor: &'static str,
        name: Option<String>,
        node: Option<String>,
    ) -> Result<Session, StoreError> {
        let session = self
            .blocking(move |s| {
                s.set_session_executor(session_id, executor, name.as_deref(), node.as_deref())
            })
            .await?;
        self.publish(LiveKind::SessionUpdated(session.clone()));
        Ok(session)
    }

    /// The branch a remote session works on (it has no worktree here).
    pub async fn record_branch(
        &self,
        session_id: SessionId,
        branch: String,
    ) -> Result<Session, StoreError> {
        let session = self
            .blocking(move |s| s.set_session_git(session_id, None, Some(&branch), None))
            .await?;
        self.publish(LiveKind::SessionUpdated(session.clone()));
        Ok(session)
    }

    /// Where a session works: its worktree and branch.
    pub async fn record_worktree(
        &self,
        session_id: SessionId,
        worktree: String,
        branch: String,
    ) -> Result<Session, StoreError> {
        let session = self
            .blocking(move |s| s.set_session_git(session_id, Some(&worktree), Some(&branch), None))
            .await?;
        self.publish(LiveKind::SessionUpdated(session.clone()));
        Ok(session)
    }

    /// The investigation of a blocked task waits (pause, budget, no free slot): its
    /// `investigation.waiting` event, once per reason.
    pub async fn record_investigation_waiting(&self, task: &Task, why: &'static str) {
        self.note(
            NewEvent::info(
                Operation::InvestigationWaiting { reason: why.into() },
                format!("the investigation of {} waits: {why}", task.display_id),
            )
            .for_task(task.id),
        )
        .await;
    }

    /// A helper session (purpose `validation`, `estimate`, …) of `task` waits for its
    /// role's agents: every one is at its concurrency. A `helper.waiting` event.
    pub async fn record_helper_waiting(&self, task: &Task, role: &str, purpose: &'static str) {
        self.note(
            NewEvent::info(
                Operation::HelperWaiting {
                    role: role.into(),
                    purpose: purpose.into(),
                },
                format!(
                    "the {purpose} of {} waits: every {role} agent is busy",
                    task.display_id
                ),
            )
            .for_task(task.id),
        )
        .await;
    }

    /// Where an investigation works: its throwaway worktree (no branch of its own).
    pub async fn record_investigation_worktree(
        &self,
        session_id: SessionId,
        worktree: String,
    ) -> Result<Session, StoreError> {
        let session = self
            .blocking(move |s| s.set_session_git(session_id, Some(&worktree), None, None))
            .await?;
        self.publish(LiveKind::SessionUpdated(session.clone()));
        Ok(session)
    }

    /// The commit a session produced.
    pub async fn record_commit(
        &self,
        session_id: SessionId,
        sha: String,
    ) -> Result<Session, StoreError> {
        let session = self
            .blocking(move |s| s.set_session_git(session_id, None, None, Some(&sha)))
            .await?;
        self.publish(LiveKind::SessionUpdated(session.clone()));
        Ok(session)
    }

    /// The tail of the verification output.
    pub async fn record_verify_output(
        &self,
        session_id: SessionId,
        output: String,
    ) -> Result<Session, StoreError> {
        let session = self
            .blocking(move |s| s.set_verify_output(session_id, &output))
            .await?;
        self.publish(LiveKind::SessionUpdated(session.clone()));
        Ok(session)
    }

    /// Starts the investigator's session on a blocked task.
    pub async fn start_investigation(
        &self,
        id: TaskId,
        agent: &Agent,
    ) -> Result<Session, StoreError> {
        let (agent_id, model) = (agent.id.as_str().to_owned(), agent.model.clone());
        let session = self
            .blocking(move |s| s.start_investigation(id, &agent_id, &model))
            .await?;
        self.publish(LiveKind::SessionCreated(session.clone()));
        Ok(session)
    }

    /// A helper role's session on a task (evaluator, architect, validation, SIA).
    pub async fn start_helper_session(
        &self,
        id: TaskId,
        agent: &Agent,
        purpose: &'static str,
    ) -> Result<Session, StoreError> {
        let (agent_id, model) = (agent.id.as_str().to_owned(), agent.model.clone());
        let session = self
            .blocking(move |s| s.start_helper_session(id, &agent_id, &model, purpose))
            .await?;
        self.publish(LiveKind::SessionCreated(session.clone()));
        Ok(session)
    }

    /// How the session's branch was brought up to the base (landing.rs).
    pub async fn record_landing(
        &self,
        session_id: SessionId,
        strategy: &'static str,
    ) -> Result<Session, StoreError> {
        let session = self
            .blocking(move |s| s.set_session_landing(session_id, strategy))
            .await?;
        self.publish(LiveKind::SessionUpdated(session.clone()));
        Ok(session)
    }

    /// The remote landing rounds the task used in a row (`Store::landings_in_a_row`).
    pub async fn landings_in_a_row(
        &self,
        id: TaskId,
        landing: &'static str,
        limit: u32,
    ) -> Result<u32, StoreError> {
        self.blocking(move |s| s.landings_in_a_row(id, landing, limit))
            .await
    }

    /// What all sessions of a task have cost so far, in USD (the task's spend cap).
    pub async fn task_cost_usd(&self, id: TaskId) -> Result<f64, StoreError> {
        self.blocking(move |s| s.task_cost_usd(id)).await
    }

    /// Recovery of a task a crash interrupted: back to pending without using an
    /// attempt, or blocked at `max` crash interruptions. The change, its history,
    /// (when blocked) the `task.blocked` event and the session's `end` are one
    /// transaction.
    pub async fn recover_after_crash(
        &self,
        id: TaskId,
        max: u32,
        actor: impl Into<Actor>,
        cause: String,
        end: Option<SessionEnd>,
    ) -> Result<CrashRecovery, StoreError> {
        let actor = actor.into();
        let (recovered, event, session) = self
            .blocking(move |s| {
                let end = end.as_ref();
                s.recover_after_crash(id, max, actor.as_str(), &cause, end, |t, reason| {
                    NewEvent::info(
                        Operation::TaskBlocked(BlockedBy::Crashes {
                            reason: CrashInterruptions::CrashInterruptions,
                        }),
                        format!("{} is blocked: {reason}", t.display_id),
                    )
                    .with_severity(Severity::Error)
                    .for_task(t.id)
                })
            })
            .await?;
        match &recovered {
            CrashRecovery::Requeued(task) | CrashRecovery::Blocked(task) => {
                self.publish(LiveKind::TaskUpdated(task.clone()));
            }
            CrashRecovery::Unchanged(_) => {}
        }
        if let Some(event) = event {
            self.published_event(event);
        }
        self.announce_session(session);
        self.runs.wake();
        Ok(recovered)
    }

    /// Whether any session (an attempt or an investigation) is running on the task.
    pub async fn has_running_session(&self, id: TaskId) -> Result<bool, StoreError> {
        self.blocking(move |s| s.has_running_session(id)).await
    }
}
