//! The engine's writes: claiming ready tasks, settling attempts, questions and
//! diagnoses. Each is one transaction, so a crash never leaves a half-made decision.

use std::collections::HashMap;

use harness_domain::{
    ValidationError,
    event::{Event, NewEvent},
    session::{Session, SessionId},
    task::{Outcome, Task, TaskId, TaskStatus},
    time::Timestamp,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    Store, StoreError,
    events::insert_event,
    sessions::{SessionEnd, end_session_in, load_session},
    tasks::{TASK_COLUMNS, insert_history, load_task, query_tasks, transition_task_in},
};

/// How a failed attempt is settled.
#[derive(Debug, Clone)]
pub struct Failure {
    /// One line: why the attempt failed.
    pub reason: String,
    /// Verification tail and the agent's last message, for the next prompt.
    pub summary: String,
    /// `Some` to retry no earlier than then; `None` to block the task.
    pub retry_at: Option<Timestamp>,
    /// Blocked: an investigator is staffed and will diagnose it. Not stored; the
    /// `task.failed` event says so, so a notification promises a diagnosis only then.
    pub investigate: bool,
}

/// A ready task: pending, out of backoff, no unanswered question, every dependency done.
pub(super) const READY: &str = "
    t.status = 'pending'
    AND (t.retry_at IS NULL OR t.retry_at <= ?1)
    AND (t.question IS NULL OR t.answer IS NOT NULL)
    AND NOT EXISTS (
        SELECT 1 FROM task_dependencies d JOIN tasks dep ON dep.id = d.depends_on
        WHERE d.task_id = t.id AND dep.status != 'completed')";

/// Ready tasks in the order they are started: P0 first, then oldest.
pub(super) fn ready_query() -> String {
    format!(
        "SELECT {TASK_COLUMNS} FROM tasks t WHERE {READY}
         ORDER BY t.priority, t.created_at, t.id LIMIT ?2"
    )
}

impl Store {
    /// Ready tasks, P0 first, then oldest.
    /// The scheduler asks after every board change, so this is one query for the rows
    /// and one for their dependencies, not two per task.
    pub fn ready_tasks(&self, now: Timestamp, limit: u32) -> Result<Vec<Task>, StoreError> {
        let conn = self.read()?;
        query_tasks(&conn, &ready_query(), params![now.to_rfc3339(), limit])
    }

    /// Atomically claims a ready task for an agent: in_progress, assigned, one more
    /// attempt used, and a running session. A task that stopped being ready is a conflict.
    pub fn claim_task(
        &self,
        id: TaskId,
        agent_id: &str,
        model: &str,
        now: Timestamp,
    ) -> Result<(Task, Session), StoreError> {
        let tx = self.write()?;
        let ready: bool = tx
            .prepare_cached(&format!(
                "SELECT 1 FROM tasks t WHERE t.id = ?2 AND {READY}"
            ))?
            .exists(params![now.to_rfc3339(), id.get()])?;
        if !ready {
            return Err(StoreError::Conflict(format!(
                "{} is no longer ready",
                id.display_id()
            )));
        }
        let at = now.to_rfc3339();
        tx.execute(
            "UPDATE tasks SET status = 'in_progress', outcome = NULL, assigned_agent = ?1,
                              attempts = attempts + (approved_commit IS NULL),
                              retry_at = NULL, updated_at = ?2
             WHERE id = ?3",
            params![agent_id, at, id.get()],
        )?;
        insert_history(
            &tx,
            id,
            Some(TaskStatus::Pending),
            TaskStatus::InProgress,
            "claimed",
            agent_id,
            &at,
        )?;
        let session_id = insert_session(&tx, id, agent_id, model, "attempt", &at)?;
        let pair = (load_task(&tx, id)?, load_session(&tx, session_id)?);
        tx.commit()?;
        Ok(pair)
    }

    /// Starts an investigation session of a blocked task.
    pub fn start_investigation(
        &self,
        id: TaskId,
        agent_id: &str,
        model: &str,
    ) -> Result<Session, StoreError> {
        self.start_helper_session(id, agent_id, model, "investigation")
    }

    /// A session of a helper role on task `id` that is not an attempt: `purpose` is
    /// `investigation`, `estimate`, `design`, `validation` or `review`.
    pub fn start_helper_session(
        &self,
        id: TaskId,
        agent_id: &str,
        model: &str,
        purpose: &'static str,
    ) -> Result<Session, StoreError> {
        let conn = self.write()?;
        let session_id = insert_session(
            &conn,
            id,
            agent_id,
            model,
            purpose,
            &Timestamp::now().to_rfc3339(),
        )?;
        let session = load_session(&conn, session_id)?;
        conn.commit()?;
        Ok(session)
    }

    /// The single place a failed attempt is decided: failed, then either pending with a
    /// backoff or blocked, with both moves in the history.
    /// `note` describes the failed attempt; it is recorded even when a cancellation
    /// stands, because the attempt did fail.
    pub fn settle_failure(
        &self,
        id: TaskId,
        failure: &Failure,
        actor: &str,
        end: Option<&SessionEnd>,
        note: impl FnOnce(&Task) -> NewEvent,
    ) -> Result<(Task, Event, Option<Session>), StoreError> {
        let tx = self.write()?;
        let current = load_task(&tx, id)?;
        let session = end.map(|end| end_session_in(&tx, end)).transpose()?;
        if current.status.is_final() {
            // Cancelled while it ran: the cancellation stands.
            let event = insert_event(&tx, &note(&current))?;
            tx.commit()?;
            return Ok((current, event, session));
        }
        let at = Timestamp::now().to_rfc3339();
        if current.status != TaskStatus::Failed {
            current.status.transition(TaskStatus::Failed)?;
            insert_history(
                &tx,
                id,
                Some(current.status),
                TaskStatus::Failed,
                &failure.reason,
                actor,
                &at,
            )?;
        }
        let (to, why) = match failure.retry_at {
            Some(when) => (TaskStatus::Pending, format!("retry after {when}")),
            None => (
                TaskStatus::Blocked,
                format!("all {} attempts used", current.max_attempts),
            ),
        };
        insert_history(&tx, id, Some(TaskStatus::Failed), to, &why, actor, &at)?;
        clear_answer_in(&tx, id)?;
        tx.execute(
            "UPDATE tasks SET status = ?1, retry_at = ?2, last_failure = ?3, updated_at = ?4, outcome = NULL
             WHERE id = ?5",
            params![to.as_str(), failure.retry_at.map(|t| t.to_rfc3339()), failure.summary, at, id.get()],
        )?;
        let task = load_task(&tx, id)?;
        let event = insert_event(&tx, &note(&task))?;
        tx.commit()?;
        Ok((task, event, session))
    }

    /// Puts a running task back in the queue without using an attempt: a rate limit, a
    /// restart, a question for a human. Not the task's fault.
    pub fn requeue(
        &self,
        id: TaskId,
        reason: &str,
        retry_at: Option<Timestamp>,
        actor: &str,
        end: Option<&SessionEnd>,
    ) -> Result<(Task, Option<Session>), StoreError> {
        let tx = self.write()?;
        let current = load_task(&tx, id)?;
        let session = end.map(|end| end_session_in(&tx, end)).transpose()?;
        if !current.status.is_running() {
            tx.commit()?;
            return Ok((current, session));
        }
        let at = Timestamp::now().to_rfc3339();
        insert_history(
            &tx,
            id,
            Some(current.status),
            TaskStatus::Pending,
            reason,
            actor,
            &at,
        )?;
        tx.execute(
            "UPDATE tasks SET status = 'pending', outcome = NULL,
                              attempts = MAX(attempts - (approved_commit IS NULL), 0), retry_at = ?1,
                              updated_at = ?2
             WHERE id = ?3",
            params![retry_at.map(|t| t.to_rfc3339()), at, id.get()],
        )?;
        let task = load_task(&tx, id)?;
        tx.commit()?;
        Ok((task, session))
    }

    /// A verified attempt: its task completed (with its history row and event) and its
    /// session ended, in one transaction.
    pub async fn complete_attempt(
        &self,
        id: TaskId,
        outcome: Outcome,
        reason: String,
        actor: String,
        end: Option<SessionEnd>,
        note: impl FnOnce(&Task) -> NewEvent + Send + 'static,
    ) -> Result<(Task, Event, Option<Session>), StoreError> {
        let outcome = serde_json::to_string(&outcome)
            .map_err(|e| StoreError::Invalid(ValidationError::new("outcome", e.to_string())))?;
        self.writer
            .submit(move |tx| {
                clear_answer_in(tx, id)?;
                tx.prepare_cached("UPDATE tasks SET outcome = ?1 WHERE id = ?2")?
                    .execute(rusqlite::params![outcome, id.get()])?;
                let (task, event) =
                    transition_task_in(tx, id, None, TaskStatus::Completed, &reason, &actor, note)?;
                let session = end.map(|end| end_session_in(tx, &end)).transpose()?;
                Ok((task, event, session))
            })
            .await
    }

    /// A verifying task's work waits to land (`Outcome::WaitingToLand`), with its event,
    /// one transaction. Nothing changes unless the task is still verifying.
    pub fn wait_to_land(
        &self,
        id: TaskId,
        reason: &str,
        note: impl FnOnce(&Task) -> NewEvent,
    ) -> Result<(Task, Option<Event>), StoreError> {
        let tx = self.write()?;
        let current = load_task(&tx, id)?;
        if current.status != TaskStatus::Verifying {
            tx.commit()?;
            return Ok((current, None));
        }
        let outcome = Outcome::WaitingToLand {
            reason: reason.to_owned(),
        };
        let outcome = serde_json::to_string(&outcome)
            .map_err(|e| StoreError::Invalid(ValidationError::new("outcome", e.to_string())))?;
        tx.execute(
            "UPDATE tasks SET outcome = ?1, updated_at = ?2 WHERE id = ?3",
            params![outcome, Timestamp::now().to_rfc3339(), id.get()],
        )?;
        let task = load_task(&tx, id)?;
        let event = insert_event(&tx, &note(&task))?;
        tx.commit()?;
        Ok((task, Some(event)))
    }

    /// A human's "retry now": a failed task goes back to pending, and a task waiting out
    /// its retry backoff loses the wait. Anything else is a conflict.
    pub fn retry_now(&self, id: TaskId, actor: &str) -> Result<Task, StoreError> {
        let tx = self.write()?;
        let current = load_task(&tx, id)?;
        let in_backoff = current.status == TaskStatus::Pending && current.retry_at.is_some();
        if current.status != TaskStatus::Failed && !in_backoff {
            return Err(StoreError::Conflict(format!(
                "task {} is {}; only a failed task, or one waiting to retry, can be retried",
                current.display_id,
                current.status.as_str()
            )));
        }
        let at = Timestamp::now().to_rfc3339();
        if current.status == TaskStatus::Failed {
            insert_history(
                &tx,
                id,
                Some(TaskStatus::Failed),
                TaskStatus::Pending,
                "retried by a user",
                actor,
                &at,
            )?;
        }
        tx.execute(
            "UPDATE tasks SET status = 'pending', retry_at = NULL, updated_at = ?1 WHERE id = ?2",
            params![at, id.get()],
        )?;
        let task = load_task(&tx, id)?;
        tx.commit()?;
        Ok(task)
    }

    /// Records an agent's question and the conversation to resume; the task then waits.
    pub fn ask_question(
        &self,
        id: TaskId,
        question: &str,
        paused: Option<&str>,
        note: impl FnOnce(&Task) -> NewEvent,
    ) -> Result<(Task, Event), StoreError> {
        let tx = self.write()?;
        tx.execute(
            "UPDATE tasks SET question = ?1, answer = NULL, paused_conversation = ?2, updated_at = ?3
             WHERE id = ?4",
            params![question, paused, Timestamp::now().to_rfc3339(), id.get()],
        )?;
        let task = load_task(&tx, id)?;
        let event = insert_event(&tx, &note(&task))?;
        tx.commit()?;
        Ok((task, event))
    }

    /// A human's answer. Only a task with an unanswered question takes one.
    pub fn answer_question(
        &self,
        id: TaskId,
        answer: &str,
        note: impl FnOnce(&Task) -> NewEvent,
    ) -> Result<(Task, Event), StoreError> {
        let tx = self.write()?;
        let task = load_task(&tx, id)?;
        if task.question.is_none() || task.answer.is_some() {
            return Err(StoreError::Conflict(format!(
                "{} has no question waiting for an answer",
                task.display_id
            )));
        }
        tx.execute(
            "UPDATE tasks SET answer = ?1, updated_at = ?2 WHERE id = ?3",
            params![answer, Timestamp::now().to_rfc3339(), id.get()],
        )?;
        let task = load_task(&tx, id)?;
        let event = insert_event(&tx, &note(&task))?;
        tx.commit()?;
        Ok((task, event))
    }

    /// The answered question and the paused conversation an attempt resumes with. They
    /// stay on the task until an attempt that used them ends with a result
    /// ([`clear_answer_in`]), so an attempt lost on the way (a crash, a rate limit, a
    /// worker gone) does not lose the human's answer.
    pub fn waiting_answer(
        &self,
        id: TaskId,
    ) -> Result<Option<(String, String, Option<String>)>, StoreError> {
        let conn = self.read()?;
        let row: Option<(Option<String>, Option<String>, Option<String>)> = conn
            .query_row(
                "SELECT question, answer, paused_conversation FROM tasks WHERE id = ?1",
                [id.get()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((Some(q), Some(a), paused)) = row else {
            return Ok(None);
        };
        Ok(Some((q, a, paused)))
    }

    /// Records that a task is blocked: its diagnosis, when the investigator produced
    /// one, and the `note` that says so, in one transaction.
    pub fn record_blocked(
        &self,
        id: TaskId,
        diagnosis: Option<&str>,
        note: impl FnOnce(&Task) -> NewEvent,
    ) -> Result<(Task, Event), StoreError> {
        let tx = self.write()?;
        if let Some(diagnosis) = diagnosis {
            tx.execute(
                "UPDATE tasks SET diagnosis = ?1, updated_at = ?2 WHERE id = ?3",
                params![diagnosis, Timestamp::now().to_rfc3339(), id.get()],
            )?;
        }
        let task = load_task(&tx, id)?;
        let event = insert_event(&tx, &note(&task))?;
        tx.commit()?;
        Ok((task, event))
    }

    /// Records where a session works and what it produced.
    pub fn set_session_git(
        &self,
        session_id: SessionId,
        worktree: Option<&str>,
        branch: Option<&str>,
        commit_sha: Option<&str>,
    ) -> Result<Session, StoreError> {
        let conn = self.write()?;
        conn.execute(
            "UPDATE sessions SET worktree = COALESCE(?1, worktree), branch = COALESCE(?2, branch),
                                 commit_sha = COALESCE(?3, commit_sha)
             WHERE id = ?4",
            params![worktree, branch, commit_sha, session_id.get()],
        )?;
        let session = load_session(&conn, session_id)?;
        conn.commit()?;
        Ok(session)
    }

    /// Where the session runs (see migrations 0010 and 0012).
    pub fn set_session_executor(
        &self,
        session_id: SessionId,
        executor: &str,
        name: Option<&str>,
        node: Option<&str>,
    ) -> Result<Session, StoreError> {
        let conn = self.write()?;
        conn.execute(
            "UPDATE sessions SET executor = ?1, executor_name = COALESCE(?2, executor_name),
                 executor_node = COALESCE(?3, executor_node)
             WHERE id = ?4",
            params![executor, name, node, session_id.get()],
        )?;
        let session = load_session(&conn, session_id)?;
        conn.commit()?;
        Ok(session)
    }

    pub fn set_verify_output(
        &self,
        session_id: SessionId,
        output: &str,
    ) -> Result<Session, StoreError> {
        let conn = self.write()?;
        conn.execute(
            "UPDATE sessions SET verify_output = ?1 WHERE id = ?2",
            params![output, session_id.get()],
        )?;
        let session = load_session(&conn, session_id)?;
        conn.commit()?;
        Ok(session)
    }

    /// Running sessions per agent id.
    pub fn running_by_agent(&self) -> Result<HashMap<String, u32>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT agent_id, COUNT(*) FROM sessions WHERE status = 'running' GROUP BY agent_id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether any session (an attempt or an investigation) is running on the task.
    pub fn has_running_session(&self, id: TaskId) -> Result<bool, StoreError> {
        Ok(self
            .read()?
            .prepare_cached("SELECT 1 FROM sessions WHERE task_id = ?1 AND status = 'running'")?
            .exists([id.get()])?)
    }
}

/// An answered question, a follow-up message and an approval are used up once an
/// attempt that resumed with them ends with a result (merged, failed, in review). An
/// unanswered question stays: it still waits for its answer.
pub(super) fn clear_answer_in(tx: &Connection, id: TaskId) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE tasks SET question = NULL, answer = NULL, paused_conversation = NULL
          WHERE id = ?1 AND answer IS NOT NULL",
    )?
    .execute([id.get()])?;
    tx.prepare_cached(
        "UPDATE tasks SET follow_up = NULL, approved_commit = NULL, paused_conversation = NULL
          WHERE id = ?1 AND (follow_up IS NOT NULL OR approved_commit IS NOT NULL)",
    )?
    .execute([id.get()])?;
    Ok(())
}

fn insert_session(
    conn: &Connection,
    id: TaskId,
    agent_id: &str,
    model: &str,
    purpose: &str,
    at: &str,
) -> Result<SessionId, StoreError> {
    let id = conn.query_row(
        "INSERT INTO sessions (task_id, agent_id, model, status, started_at, purpose)
         VALUES (?1, ?2, ?3, 'running', ?4, ?5) RETURNING id",
        params![id.get(), agent_id, model, at, purpose],
        |r| r.get(0),
    )?;
    Ok(SessionId::new(id)?)
}
