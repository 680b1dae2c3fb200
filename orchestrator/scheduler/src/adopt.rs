//! Re-adoption at startup: a remote attempt whose worker outlived the previous run of
//! the orchestrator (a restart, an upgrade, a crash) is followed on, not recovered as a
//! crash. Its session is still `running` (server.rs leaves such sessions alone); this
//! rebuilds the attempt from the database (task, agent, role, branch, assignment),
//! finds its worker through the executor, registers its grant before the server serves
//! (so the worker's next request is accepted with the credential it holds), and runs it
//! as if this run had launched it (remote.rs). A worker that does not come back within
//! the heartbeat timeout is lost: requeued and counted as a crash.
//!
//! Then the sweep removes every other leftover of the previous run.

use std::collections::BTreeSet;

use harness_domain::{
    agent::AgentId,
    session::{Session, SessionId, SessionStatus},
    task::TaskId,
};

use super::{
    Scheduler,
    attempt::{Attempt, Claimed},
    remote,
    remote::Adopted,
    roles,
};
use harness_board::Actor;
use harness_executor::ExecutorKind;
use harness_store::{SessionEnd, SessionFilter};
use harness_worker::Grant;

/// Running sessions looked at, at most (far above any executor's `max_concurrent`).
const MAX_ADOPTED: u32 = 1000;

/// Why a running remote attempt cannot be followed on.
#[derive(Debug, thiserror::Error)]
enum AdoptError {
    #[error("its executor {0:?} is not available")]
    NoExecutor(Option<String>),
    #[error("its worker's name was never recorded")]
    NoWorkerName,
    #[error("its task is gone")]
    NoTask,
    #[error("cannot read the board: {0}")]
    Store(#[from] harness_store::StoreError),
    #[error("its agent {0} is unknown")]
    Agent(String),
    #[error("its agent's role is unknown")]
    Role,
    #[error("its agent cannot run: {0}")]
    Runtime(#[from] super::error::Unready),
    #[error("cannot rebuild its assignment: {0}")]
    Assignment(#[from] super::error::AttemptError),
    #[error(transparent)]
    Executor(#[from] harness_executor::ExecutorError),
}

impl Scheduler {
    /// Re-adopts every running remote attempt, then sweeps the other leftovers. Call
    /// before the server serves and before [`Scheduler::run`].
    pub async fn adopt(&mut self) {
        // Without remote executors (none configured, or none reachable) every running
        // session left by the previous run is given up below.
        let remote = self.engine.remote.clone();
        let filter = SessionFilter {
            status: Some(SessionStatus::Running),
            limit: MAX_ADOPTED,
            ..SessionFilter::default()
        };
        let running = match self.engine.board.list_sessions(filter).await {
            Ok(page) => page.items,
            Err(err) => {
                tracing::warn!(%err, "cannot list the running sessions to re-adopt");
                Vec::new()
            }
        };
        let mut kept = BTreeSet::new();
        for session in running {
            let id = session.id;
            let task = session.task_id;
            match self.adopt_one(session).await {
                Ok(name) => {
                    tracing::info!(session = %id, worker = %name, "re-adopted a remote worker");
                    kept.insert(id.get());
                }
                Err(err) => self.give_up(id, task, &err).await,
            }
        }
        if let Some(remote) = remote {
            remote.sweep(&kept).await;
        }
    }

    /// Rebuilds the attempt of `session`, registers its grant and runs it. Returns the
    /// worker's name.
    async fn adopt_one(&mut self, session: Session) -> Result<String, AdoptError> {
        let engine = self.engine.clone();
        let remote = engine.remote.clone().ok_or(AdoptError::NoExecutor(None))?;
        let executor = ExecutorKind::ALL
            .into_iter()
            .find(|k| session.executor.as_deref() == Some(k.as_str()))
            .filter(|k| remote.backends.contains_key(k))
            .ok_or_else(|| AdoptError::NoExecutor(session.executor.clone()))?;
        let settings = engine
            .settings
            .executors
            .remote(executor)
            .cloned()
            .ok_or_else(|| AdoptError::NoExecutor(session.executor.clone()))?;
        let name = session
            .executor_name
            .clone()
            .ok_or(AdoptError::NoWorkerName)?;
        let task_id = session.task_id.ok_or(AdoptError::NoTask)?;
        let board = &engine.board;
        let task = board.get_task(task_id).await?;
        let agent_id = AgentId::parse(&session.agent_id)
            .map_err(|_| AdoptError::Agent(session.agent_id.clone()))?;
        let agent = board
            .get_agent(agent_id)
            .await
            .map_err(|_| AdoptError::Agent(session.agent_id.clone()))?;
        let role = roles::role_of(&engine.settings, &agent)
            .cloned()
            .ok_or(AdoptError::Role)?;
        let size = board.estimate(task.id).await.ok().flatten().map(|e| e.size);
        let runtime = engine.runtimes.for_agent_with_model(&agent, None).await?;
        let span = super::attempt_span(&task, &session, &agent);
        let attempt = Attempt::new(Claimed {
            engine: engine.clone(),
            cancel: board.runs().register(task.id),
            task,
            session,
            agent,
            role,
            size,
            runtime,
            executor,
        });
        let found = async {
            let backend = remote
                .backends
                .get(&executor)
                .ok_or_else(|| AdoptError::NoExecutor(Some(executor.to_string())))?;
            let (assignment, git_dir) = remote::prepare_remote(&attempt, None, &settings).await?;
            let handle = backend.adopt(attempt.session().id.get(), &name).await?;
            // Where the worker's resend starts to be new: its events before are stored.
            let stored = board.session_worker_seq(attempt.session().id).await?;
            Ok::<_, AdoptError>((assignment, git_dir, handle, stored))
        }
        .await;
        let (assignment, git_dir, handle, stored) = match found {
            Ok(found) => found,
            Err(err) => {
                board.runs().finished(attempt.task().id);
                return Err(err);
            }
        };
        let cancel = tokio_util::sync::CancellationToken::new();
        let subtasks = attempt.task_creator();
        let (grant, receiver) = Grant::adopted(assignment, git_dir, cancel, subtasks, stored);
        remote.grants.insert(grant);
        self.spawn(attempt, Some(Adopted { handle, receiver }), span);
        Ok(name)
    }

    /// A running session that cannot be followed on: interrupted, and its task
    /// requeued and counted like the crash it is.
    async fn give_up(&self, session: SessionId, task: Option<TaskId>, err: &AdoptError) {
        let board = &self.engine.board;
        let reason = format!("the orchestrator restarted and cannot follow its worker on: {err}");
        tracing::warn!(session = %session, "{reason}");
        let end = SessionEnd {
            id: session,
            status: SessionStatus::Interrupted,
            reason: reason.clone(),
        };
        let Some(task) = task else {
            if let Err(e) = board.finish_session(session, end.status, end.reason).await {
                tracing::warn!(%e, "cannot interrupt the session");
            }
            return;
        };
        let max = self.engine.settings.reliability.max_crash_interruptions;
        let cause = format!("{reason}; counted as a crash");
        let recovered = super::crashes::recover_task(
            board,
            &self.engine.settings,
            task,
            max,
            Actor::STARTUP,
            &cause,
            Some(end),
        )
        .await;
        if let Err(e) = recovered {
            tracing::warn!(%e, "cannot requeue the task");
        }
    }
}
