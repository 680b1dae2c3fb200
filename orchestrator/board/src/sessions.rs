//! Agent sessions: their lifecycle, log lines and usage.

use harness_domain::{
    agent::AgentId,
    event::{NewEvent, Operation, Severity},
    session::{LogKind, LogLine, Session, SessionId, SessionStatus, Usage},
    task::TaskId,
};

use super::Board;
use crate::live::LiveKind;
use harness_store::{Page, SessionFilter, StoreError};

impl Board {
    pub async fn create_session(
        &self,
        task_id: TaskId,
        agent_id: AgentId,
        model: String,
    ) -> Result<Session, StoreError> {
        let session = self
            .blocking(move |s| s.create_session(task_id, agent_id.as_str(), &model))
            .await?;
        self.publish(LiveKind::SessionCreated(session.clone()));
        Ok(session)
    }

    pub async fn append_log(
        &self,
        session_id: SessionId,
        kind: LogKind,
        content: String,
    ) -> Result<LogLine, StoreError> {
        let line = self
            .blocking(move |s| s.append_log(session_id, kind, &content))
            .await?;
        self.publish(LiveKind::SessionLog(line.clone()));
        Ok(line)
    }

    /// Stores a batch of a session's output (lines and usage) as one write, then
    /// publishes each line and the session's new totals.
    pub async fn append_session_output(
        &self,
        session_id: SessionId,
        lines: Vec<(LogKind, String)>,
        usage: Option<(Usage, f64)>,
        worker_seq: Option<u64>,
    ) -> Result<(), StoreError> {
        let (stored, session) = self
            .blocking(move |s| s.append_session_output(session_id, &lines, usage, worker_seq))
            .await?;
        for line in stored {
            self.publish(LiveKind::SessionLog(line));
        }
        if let Some(session) = session {
            self.publish(LiveKind::SessionUpdated(session));
        }
        Ok(())
    }

    /// The next event number of the session's remote worker stored so far, if any.
    pub async fn session_worker_seq(
        &self,
        session_id: SessionId,
    ) -> Result<Option<u64>, StoreError> {
        self.blocking(move |s| s.session_worker_seq(session_id))
            .await
    }

    pub async fn add_session_usage(
        &self,
        session_id: SessionId,
        usage: Usage,
        cost_usd: f64,
    ) -> Result<Session, StoreError> {
        let session = self
            .blocking(move |s| s.add_session_usage(session_id, usage, cost_usd))
            .await?;
        self.publish(LiveKind::SessionUpdated(session.clone()));
        Ok(session)
    }

    pub async fn finish_session(
        &self,
        session_id: SessionId,
        status: SessionStatus,
        reason: String,
    ) -> Result<Session, StoreError> {
        let session = self
            .blocking(move |s| s.finish_session(session_id, status, &reason))
            .await?;
        self.publish(LiveKind::SessionUpdated(session.clone()));
        Ok(session)
    }

    /// The spend guard stopped a running session (scheduler/spend.rs): its
    /// `session.stopped` event, committed and broadcast. The session itself is finished
    /// by the attempt, as any cancelled session.
    pub async fn record_spend_stop(&self, task_id: TaskId, session_id: SessionId, reason: String) {
        self.note(
            NewEvent::info(Operation::SessionStopped, reason)
                .with_severity(Severity::Warning)
                .for_task(task_id)
                .for_session(session_id),
        )
        .await;
    }

    /// Startup and shutdown: sessions no process of ours runs any more become
    /// interrupted, each with its `session.interrupted` event in the same transaction.
    pub async fn interrupt_running_sessions(
        &self,
        reason: &'static str,
    ) -> Result<usize, StoreError> {
        self.interrupt_running_sessions_except(reason, Vec::new())
            .await
    }

    /// [`Self::interrupt_running_sessions`], except the attempts of the remote executors
    /// in `executors` whose worker was started (its name recorded): those workers
    /// outlive the orchestrator, and its next run re-adopts them.
    pub async fn interrupt_running_sessions_except(
        &self,
        reason: &'static str,
        executors: Vec<&'static str>,
    ) -> Result<usize, StoreError> {
        let keep = move |s: &Session| {
            s.purpose == "attempt"
                && s.executor_name.is_some()
                && s.executor
                    .as_deref()
                    .is_some_and(|e| executors.contains(&e))
        };
        let interrupted = self
            .blocking(move |s| {
                s.interrupt_running_sessions(reason, keep, |session| {
                    NewEvent::info(
                        Operation::SessionInterrupted,
                        format!("session {} interrupted: {reason}", session.id),
                    )
                    .with_severity(Severity::Warning)
                    .for_session(session.id)
                    .for_agent(session.agent_id.clone())
                })
            })
            .await?;
        let count = interrupted.len();
        for (session, event) in interrupted {
            self.publish(LiveKind::SessionUpdated(session));
            self.published_event(event);
        }
        Ok(count)
    }

    pub async fn get_session(&self, id: SessionId) -> Result<Session, StoreError> {
        self.blocking(move |s| s.get_session(id)).await
    }

    pub async fn list_sessions(&self, filter: SessionFilter) -> Result<Page<Session>, StoreError> {
        self.blocking(move |s| s.list_sessions(&filter)).await
    }

    pub async fn session_logs(
        &self,
        id: SessionId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<LogLine>, StoreError> {
        self.blocking(move |s| s.session_logs(id, after, limit))
            .await
    }
}
