//! Store functions for the engine's bounds: how a session's branch was brought up to the
//! base, crash interruptions per task, per-task spend, session log caps and retention.

use harness_domain::{
    event::{Event, NewEvent},
    session::{Session, SessionId},
    task::{Task, TaskId, TaskStatus},
    time::Timestamp,
};
use rusqlite::params;

use super::{
    Store, StoreError,
    events::insert_event,
    sessions::{SessionEnd, end_session_in, load_session},
    tasks::{insert_history, load_task},
};

/// Bytes of log content one page of `GET /api/sessions/{id}/logs` holds at most (the
/// first line always comes, and one line is at most 64 KiB).
pub const LOG_PAGE_BYTES: i64 = 1024 * 1024;

impl Store {
    /// Deletes the logs of sessions that ended before `before`. Returns the lines deleted.
    pub fn prune_session_logs(&self, before: Timestamp) -> Result<usize, StoreError> {
        let tx = self.write()?;
        let deleted = tx.execute(
            "DELETE FROM session_logs WHERE session_id IN (
                SELECT id FROM sessions WHERE ended_at IS NOT NULL AND ended_at < ?1)",
            [before.to_rfc3339()],
        )?;
        tx.commit()?;
        Ok(deleted)
    }

    /// Records how the session's branch was brought up to the base (`merge`).
    pub fn set_session_landing(
        &self,
        session_id: SessionId,
        strategy: &str,
    ) -> Result<Session, StoreError> {
        let tx = self.write()?;
        tx.execute(
            "UPDATE sessions SET landing = ?1 WHERE id = ?2",
            params![strategy, session_id.get()],
        )?;
        let session = load_session(&tx, session_id)?;
        tx.commit()?;
        Ok(session)
    }
}

/// What crash recovery did with a task.
#[derive(Debug, Clone)]
pub enum CrashRecovery {
    /// Back to pending without using an attempt.
    Requeued(Task),
    /// Interrupted by crashes too often: blocked with the reason.
    Blocked(Task),
    /// Not running (nothing to do).
    Unchanged(Task),
}

impl Store {
    /// Recovery of one task whose attempt a crash interrupted (the orchestrator's, at
    /// startup, or its remote worker's, lost mid-attempt): the attempt is given back and
    /// the crash counted; at `max` crashes (0: no limit) the task is blocked instead,
    /// because a task that takes the orchestrator or its workers down would otherwise
    /// run, and spend, again and again. One transaction. `cause` is the history's reason
    /// when it is requeued. `note` makes the `task.blocked` event (from the task and the
    /// reason) when it is blocked.
    pub fn recover_after_crash(
        &self,
        id: TaskId,
        max: u32,
        actor: &str,
        cause: &str,
        end: Option<&SessionEnd>,
        note: impl FnOnce(&Task, &str) -> NewEvent,
    ) -> Result<(CrashRecovery, Option<Event>, Option<Session>), StoreError> {
        let tx = self.write()?;
        let current = load_task(&tx, id)?;
        let session = end.map(|end| end_session_in(&tx, end)).transpose()?;
        if !current.status.is_running() {
            tx.commit()?;
            return Ok((CrashRecovery::Unchanged(current), None, session));
        }
        let crashes: u32 = tx.query_row(
            "SELECT crash_interruptions + 1 FROM tasks WHERE id = ?1",
            [id.get()],
            |r| r.get(0),
        )?;
        let at = Timestamp::now().to_rfc3339();
        let blocked = max > 0 && crashes >= max;
        let mut blocked_reason = None;
        if blocked {
            let reason = format!(
                "interrupted by {crashes} orchestrator crashes or lost workers (HARNESS_MAX_CRASH_INTERRUPTIONS is {max}); \
                 blocked so it does not run again and again"
            );
            current.status.transition(TaskStatus::Failed)?;
            insert_history(
                &tx,
                id,
                Some(current.status),
                TaskStatus::Failed,
                &reason,
                actor,
                &at,
            )?;
            insert_history(
                &tx,
                id,
                Some(TaskStatus::Failed),
                TaskStatus::Blocked,
                &reason,
                actor,
                &at,
            )?;
            tx.execute(
                "UPDATE tasks SET status = 'blocked', outcome = NULL, attempts = MAX(attempts - 1, 0), retry_at = NULL,
                                  crash_interruptions = ?1, last_failure = ?2, updated_at = ?3
                 WHERE id = ?4",
                params![crashes, reason, at, id.get()],
            )?;
            blocked_reason = Some(reason);
        } else {
            insert_history(
                &tx,
                id,
                Some(current.status),
                TaskStatus::Pending,
                cause,
                actor,
                &at,
            )?;
            tx.execute(
                "UPDATE tasks SET status = 'pending', outcome = NULL, attempts = MAX(attempts - 1, 0), retry_at = NULL,
                                  crash_interruptions = ?1, updated_at = ?2
                 WHERE id = ?3",
                params![crashes, at, id.get()],
            )?;
        }
        let task = load_task(&tx, id)?;
        let event = match &blocked_reason {
            Some(reason) => Some(insert_event(&tx, &note(&task, reason))?),
            None => None,
        };
        tx.commit()?;
        let recovered = if blocked {
            CrashRecovery::Blocked(task)
        } else {
            CrashRecovery::Requeued(task)
        };
        Ok((recovered, event, session))
    }
}

impl Store {
    /// How many of the task's latest ended attempts in a row were requeued with
    /// `landing` recorded on them (at most `limit`): the remote landing rounds a task
    /// has used since its last attempt that was not requeued by a moved base.
    pub fn landings_in_a_row(
        &self,
        id: TaskId,
        landing: &str,
        limit: u32,
    ) -> Result<u32, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT status = 'interrupted' AND landing IS ?2 FROM sessions
             WHERE task_id = ?1 AND purpose = 'attempt' AND ended_at IS NOT NULL
             ORDER BY id DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![id.get(), landing, limit], |r| r.get::<_, bool>(0))?;
        let mut rounds = 0;
        for row in rows {
            if !row? {
                break;
            }
            rounds += 1;
        }
        Ok(rounds)
    }

    /// What all sessions of a task have cost so far, in USD.
    pub fn task_cost_usd(&self, id: TaskId) -> Result<f64, StoreError> {
        let conn = self.read()?;
        Ok(conn.query_row(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM sessions WHERE task_id = ?1",
            [id.get()],
            |r| r.get(0),
        )?)
    }
}
