//! The board: every change to tasks, agents, sessions and orchestrator state.
//!
//! This is the one write path above the store. Each method commits through the store,
//! records an operations event where one is due, and publishes the change on the live
//! bus, so HTTP handlers and (later) the scheduler cannot forget either step.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use harness_domain::{
    agent::{Agent, AgentId, AgentPatch, AgentStatus},
    event::{Event, NewEvent, Severity},
    session::{LogKind, LogLine, Session, SessionStatus, Usage},
    task::{NewTask, Task, TaskId, TaskPatch, TaskStatus, TaskTransition},
    time::Timestamp,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    live::LiveBus,
    store::{BudgetTotals, Page, SessionFilter, Store, StoreError, TaskFilter},
};

/// Who asked for a change: written to task history and events.
pub const ACTOR_API: &str = "api";

/// The board service. Cheap to clone.
#[derive(Clone)]
pub struct Board {
    store: Arc<Store>,
    live: Arc<LiveBus>,
    runs: Arc<Runs>,
}

/// What the scheduler needs to hear from the board: a nudge when something changed,
/// and a way to stop the session working on a task.
#[derive(Default)]
pub struct Runs {
    wake: Notify,
    running: Mutex<HashMap<i64, CancellationToken>>,
}

impl Runs {
    /// Wakes the scheduler (coalesced: many nudges, one pass).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Registers the session working on `task`; its token is cancelled by [`Runs::cancel`].
    pub fn register(&self, task: TaskId) -> CancellationToken {
        let token = CancellationToken::new();
        self.lock().insert(task.get(), token.clone());
        token
    }

    pub fn finished(&self, task: TaskId) {
        self.lock().remove(&task.get());
    }

    /// Stops the session working on `task`, if any. True when there was one.
    pub fn cancel(&self, task: TaskId) -> bool {
        self.lock()
            .get(&task.get())
            .map(CancellationToken::cancel)
            .is_some()
    }

    pub fn cancel_all(&self) {
        self.lock().values().for_each(CancellationToken::cancel);
    }

    pub fn is_running(&self, task: TaskId) -> bool {
        self.lock().contains_key(&task.get())
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CancellationToken>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The orchestrator's own state, as served and broadcast.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrchestratorStatus {
    pub paused: bool,
    pub version: &'static str,
    pub started_at: Timestamp,
    #[schema(value_type = BTreeMap<String, u64>)]
    pub task_counts: BTreeMap<&'static str, u64>,
}

#[derive(Serialize)]
struct Deleted<'a> {
    id: TaskId,
    display_id: &'a str,
}

impl Board {
    pub fn new(store: Arc<Store>, live: Arc<LiveBus>) -> Self {
        Self {
            store,
            live,
            runs: Arc::new(Runs::default()),
        }
    }

    pub fn runs(&self) -> &Runs {
        &self.runs
    }

    pub fn live(&self) -> &LiveBus {
        &self.live
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Runs a store call on the blocking pool: SQLite must not stall the async workers.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Io(format!("database worker stopped: {e}")))?
    }

    // ---- tasks ----

    pub async fn create_task(&self, new: NewTask, actor: &'static str) -> Result<Task, StoreError> {
        let task = self.blocking(move |s| s.create_task(&new, actor)).await?;
        self.live.publish("task.created", &task);
        self.runs.wake();
        self.note(
            NewEvent::info(
                "task.created",
                format!("{} created: {}", task.display_id, task.title),
            )
            .for_task(task.id.get()),
        )
        .await;
        Ok(task)
    }

    pub async fn update_task(&self, id: TaskId, patch: TaskPatch) -> Result<Task, StoreError> {
        let task = self.blocking(move |s| s.update_task(id, &patch)).await?;
        self.live.publish("task.updated", &task);
        self.runs.wake();
        Ok(task)
    }

    /// Moves a task through the status machine and announces it.
    pub async fn transition_task(
        &self,
        id: TaskId,
        to: TaskStatus,
        reason: impl Into<String>,
        actor: &'static str,
    ) -> Result<Task, StoreError> {
        let reason = reason.into();
        let why = reason.clone();
        let task = self
            .blocking(move |s| s.transition_task(id, to, &why, actor))
            .await?;
        self.live.publish("task.updated", &task);
        if to == TaskStatus::Cancelled {
            // Cancel really cancels: the session working on it is stopped.
            self.runs.cancel(id);
        }
        self.runs.wake();
        let severity = match to {
            TaskStatus::Failed | TaskStatus::Blocked => Severity::Warning,
            _ => Severity::Info,
        };
        self.note(
            NewEvent::info(
                "task.status_changed",
                format!("{} is now {}: {reason}", task.display_id, to.as_str()),
            )
            .with_severity(severity)
            .for_task(task.id.get())
            .with_payload(serde_json::json!({ "to": to.as_str(), "actor": actor })),
        )
        .await;
        Ok(task)
    }

    pub async fn delete_task(&self, id: TaskId) -> Result<(), StoreError> {
        let task = self.blocking(move |s| s.delete_task(id)).await?;
        self.live.publish(
            "task.deleted",
            &Deleted {
                id: task.id,
                display_id: &task.display_id,
            },
        );
        self.note(
            NewEvent::info(
                "task.deleted",
                format!("{} deleted: {}", task.display_id, task.title),
            )
            .for_task(task.id.get()),
        )
        .await;
        Ok(())
    }

    /// A human's "retry now"; see [`Store::retry_now`].
    pub async fn retry_now(&self, id: TaskId) -> Result<Task, StoreError> {
        let task = self.blocking(move |s| s.retry_now(id, ACTOR_API)).await?;
        self.announce_task(&task);
        Ok(task)
    }

    /// Records a human's answer to an agent's question and lets the task run again.
    pub async fn answer_question(&self, id: TaskId, answer: String) -> Result<Task, StoreError> {
        let task = self
            .blocking(move |s| s.answer_question(id, &answer))
            .await?;
        self.announce_task(&task);
        self.note(
            NewEvent::info(
                "task.answered",
                format!("{} got an answer", task.display_id),
            )
            .for_task(id.get()),
        )
        .await;
        Ok(task)
    }

    pub async fn get_task(&self, id: TaskId) -> Result<Task, StoreError> {
        self.blocking(move |s| s.get_task(id)).await
    }

    pub async fn list_tasks(&self, filter: TaskFilter) -> Result<Page<Task>, StoreError> {
        self.blocking(move |s| s.list_tasks(&filter)).await
    }

    pub async fn task_history(&self, id: TaskId) -> Result<Vec<TaskTransition>, StoreError> {
        self.blocking(move |s| s.task_history(id)).await
    }

    pub async fn dependents(&self, id: TaskId) -> Result<Vec<Task>, StoreError> {
        self.blocking(move |s| s.dependents(id)).await
    }

    // ---- agents ----

    pub async fn list_agents(&self) -> Result<Vec<Agent>, StoreError> {
        self.blocking(|s| s.list_agents()).await
    }

    pub async fn get_agent(&self, id: AgentId) -> Result<Agent, StoreError> {
        self.blocking(move |s| s.get_agent(&id)).await
    }

    pub async fn update_agent(&self, id: AgentId, patch: AgentPatch) -> Result<Agent, StoreError> {
        let agent = self.blocking(move |s| s.update_agent(&id, &patch)).await?;
        self.live.publish("agent.updated", &agent);
        self.runs.wake();
        self.note(
            NewEvent::info("agent.updated", format!("agent {} updated", agent.id))
                .for_agent(agent.id.as_str()),
        )
        .await;
        Ok(agent)
    }

    pub async fn set_agent_status(
        &self,
        id: AgentId,
        status: AgentStatus,
        reason: Option<String>,
    ) -> Result<Agent, StoreError> {
        let agent = self
            .blocking(move |s| s.set_agent_status(&id, status, reason.as_deref()))
            .await?;
        self.live.publish("agent.updated", &agent);
        Ok(agent)
    }

    // ---- sessions ----

    pub async fn create_session(
        &self,
        task_id: TaskId,
        agent_id: AgentId,
        model: String,
    ) -> Result<Session, StoreError> {
        let session = self
            .blocking(move |s| s.create_session(task_id.get(), agent_id.as_str(), &model))
            .await?;
        self.live.publish("session.created", &session);
        Ok(session)
    }

    pub async fn append_log(
        &self,
        session_id: i64,
        kind: LogKind,
        content: String,
    ) -> Result<LogLine, StoreError> {
        let line = self
            .blocking(move |s| s.append_log(session_id, kind, &content))
            .await?;
        self.live.publish("session.log", &line);
        Ok(line)
    }

    /// Stores a batch of a session's output (lines and usage) as one write, then
    /// publishes each line and the session's new totals.
    pub async fn append_session_output(
        &self,
        session_id: i64,
        lines: Vec<(LogKind, String)>,
        usage: Option<(Usage, f64)>,
    ) -> Result<(), StoreError> {
        let (stored, session) = self
            .blocking(move |s| s.append_session_output(session_id, &lines, usage))
            .await?;
        for line in &stored {
            self.live.publish("session.log", line);
        }
        if let Some(session) = session {
            self.live.publish("session.updated", &session);
        }
        Ok(())
    }

    pub async fn add_session_usage(
        &self,
        session_id: i64,
        usage: Usage,
        cost_usd: f64,
    ) -> Result<Session, StoreError> {
        let session = self
            .blocking(move |s| s.add_session_usage(session_id, usage, cost_usd))
            .await?;
        self.live.publish("session.updated", &session);
        Ok(session)
    }

    pub async fn finish_session(
        &self,
        session_id: i64,
        status: SessionStatus,
        reason: String,
    ) -> Result<Session, StoreError> {
        let session = self
            .blocking(move |s| s.finish_session(session_id, status, &reason))
            .await?;
        self.live.publish("session.updated", &session);
        Ok(session)
    }

    /// Startup and shutdown: sessions no process of ours runs any more become interrupted.
    pub async fn interrupt_running_sessions(
        &self,
        reason: &'static str,
    ) -> Result<usize, StoreError> {
        let sessions = self
            .blocking(move |s| s.interrupt_running_sessions(reason))
            .await?;
        for session in &sessions {
            self.live.publish("session.updated", session);
            self.note(
                NewEvent::info(
                    "session.interrupted",
                    format!("session {} interrupted: {reason}", session.id),
                )
                .with_severity(Severity::Warning)
                .for_session(session.id)
                .for_agent(session.agent_id.clone()),
            )
            .await;
        }
        Ok(sessions.len())
    }

    pub async fn get_session(&self, id: i64) -> Result<Session, StoreError> {
        self.blocking(move |s| s.get_session(id)).await
    }

    pub async fn list_sessions(&self, filter: SessionFilter) -> Result<Page<Session>, StoreError> {
        self.blocking(move |s| s.list_sessions(&filter)).await
    }

    pub async fn session_logs(
        &self,
        id: i64,
        after: i64,
        limit: u32,
    ) -> Result<Vec<LogLine>, StoreError> {
        self.blocking(move |s| s.session_logs(id, after, limit))
            .await
    }

    // ---- events ----

    /// Records an operations event and broadcasts it. A failure here is logged, not
    /// returned: the change it describes has already been committed.
    pub async fn note(&self, event: NewEvent) -> Option<Event> {
        match self.blocking(move |s| s.record_event(&event)).await {
            Ok(event) => {
                self.live.publish("event.created", &event);
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

    // ---- orchestrator ----

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

    pub async fn set_paused(
        &self,
        paused: bool,
        started_at: Timestamp,
    ) -> Result<OrchestratorStatus, StoreError> {
        self.blocking(move |s| s.set_paused(paused)).await?;
        self.runs.wake();
        let status = self.orchestrator_status(started_at).await?;
        self.live.publish("orchestrator.updated", &status);
        let (kind, message) = if paused {
            (
                "orchestrator.paused",
                "orchestrator paused: no new sessions start",
            )
        } else {
            ("orchestrator.resumed", "orchestrator resumed")
        };
        self.note(NewEvent::info(kind, message)).await;
        Ok(status)
    }

    /// Publishes a task that changed outside the methods above, and wakes the scheduler.
    pub fn announce_task(&self, task: &Task) {
        self.live.publish("task.updated", task);
        self.runs.wake();
    }

    /// Publishes a task created outside [`Board::create_task`].
    pub fn announce_created(&self, task: &Task) {
        self.live.publish("task.created", task);
        self.runs.wake();
    }

    pub fn announce_session(&self, session: &Session) {
        self.live.publish("session.updated", session);
    }

    pub async fn budget_totals(&self) -> Result<BudgetTotals, StoreError> {
        self.blocking(|s| s.budget_totals(Timestamp::now())).await
    }
}
