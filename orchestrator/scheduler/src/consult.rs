//! A helper role's session on a task: the evaluator's estimate, the architect's design
//! note, validation's review, SIA's review. It runs in the worktree the caller gives,
//! with the role's prompt and tools, under the same stuck watchdog, spend guard and
//! log cap as an attempt, and is recorded as a session whose `purpose` says what it
//! was for. Its end is a verdict: `complete_task`'s summary or `fail_task`'s reason.
//! It first waits for a slot of its role (helper_slots.rs).

use std::{path::Path, sync::Arc};

use harness_domain::{agent::AgentId, role::Job, session::SessionStatus, task::Task};
use tokio_util::sync::CancellationToken;

use super::{
    Engine,
    error::ConsultError,
    roles::{agent_for_job, session_tools},
    supervise::{Supervised, finish_helper_session, run_helper},
};
use harness_engine::{
    prompt::TaskBrief,
    runtime::{SessionOutcome, SessionRequest, TaskCreator},
};

/// One helper session to run.
pub(crate) struct Consult<'a> {
    pub engine: &'a Arc<Engine>,
    pub task: &'a Task,
    pub job: Job,
    /// The session's purpose: `estimate`, `design`, `validation` or `review`.
    pub purpose: &'static str,
    pub brief: TaskBrief,
    pub worktree: &'a Path,
    /// For roles with `create_task` (SIA: proposals).
    pub creator: Option<Arc<dyn TaskCreator>>,
    /// Cancelling it (the attempt's cancel) stops the session.
    pub cancel: &'a CancellationToken,
}

/// How the helper ended its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `complete_task`: its summary.
    Completed(String),
    /// `fail_task`: its reason.
    Failed(String),
}

/// Whether an agent of the role doing `job` is available, so a step can be skipped
/// quietly when nobody is configured for it.
pub async fn staffed(engine: &Engine, job: Job) -> bool {
    match engine.board.list_agents().await {
        Ok(agents) => agent_for_job(&engine.settings, &agents, job).is_some(),
        Err(_) => false,
    }
}

impl Consult<'_> {
    pub async fn run(self) -> Result<Verdict, ConsultError> {
        self.run_by().await.map(|(verdict, _)| verdict)
    }

    /// [`Consult::run`], also saying which agent gave the verdict.
    pub(crate) async fn run_by(self) -> Result<(Verdict, AgentId), ConsultError> {
        let engine = self.engine;
        // Held until the session is over: the role's and the agent's concurrency.
        let (role, agent, _slot) = super::helper_slots::wait_for_slot(
            engine,
            self.job,
            self.task,
            self.purpose,
            self.cancel,
        )
        .await?;
        let runtime =
            engine
                .runtimes
                .for_agent(&agent)
                .await
                .map_err(|source| ConsultError::Runtime {
                    role: role.name.to_string(),
                    source,
                })?;
        let session = engine
            .board
            .start_helper_session(self.task.id, &agent, self.purpose)
            .await
            .map_err(ConsultError::Start)?;
        let cancel = self.cancel.child_token();
        let creator = self
            .creator
            .filter(|_| role.tools.contains(&harness_domain::role::Tool::CreateTask));
        let request = SessionRequest {
            worktree: self.worktree.to_path_buf(),
            role_instructions: role.prompt.clone(),
            brief: self.brief,
            resume: None,
            timeout: engine.settings.session_timeout,
            cancel: cancel.clone(),
            task_creator: creator,
            tools: session_tools(role),
            // Helper roles review and estimate; a browser belongs to a task's attempt.
            browser: None,
        };
        let supervised = run_helper(
            engine,
            session.id,
            self.task.id,
            &cancel,
            runtime.as_ref(),
            request,
            Vec::new(),
        )
        .await;
        let name = role.name.to_string();
        let Supervised {
            report,
            stuck,
            spend_stop: stopped,
        } = supervised;
        let (status, result) = match report.outcome {
            SessionOutcome::Completed { summary, .. } => {
                (SessionStatus::Succeeded, Ok(Verdict::Completed(summary)))
            }
            SessionOutcome::Failed { reason } => {
                (SessionStatus::Succeeded, Ok(Verdict::Failed(reason)))
            }
            SessionOutcome::Cancelled => {
                let why = match stopped {
                    Some(stop) => ConsultError::SpendStopped(stop.reason),
                    None if stuck => ConsultError::Stuck(name),
                    None => ConsultError::Cancelled(name),
                };
                (SessionStatus::Cancelled, Err(why))
            }
            other => (
                SessionStatus::Failed,
                Err(ConsultError::Unfinished {
                    role: name,
                    outcome: format!("{other:?}"),
                }),
            ),
        };
        let reason = match &result {
            Ok(Verdict::Completed(_)) => format!("{} done", self.purpose),
            Ok(Verdict::Failed(reason)) => format!("{}: {reason}", self.purpose),
            Err(e) => e.to_string(),
        };
        finish_helper_session(&engine.board, session.id, self.task, status, reason).await;
        result.map(|verdict| (verdict, agent.id))
    }
}
