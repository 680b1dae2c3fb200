//! The remote attempts the orchestrator has handed out: what each credential opens.
//!
//! The scheduler registers a [`Grant`] before launching a worker (or, after a restart,
//! before serving, for each worker it re-adopts) and removes it when the attempt ends;
//! the worker API and the git endpoint look the credential's attempt up here, so a
//! credential of a finished attempt opens nothing even before it expires.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Instant,
};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use harness_engine::runtime::TaskCreator;

use super::{
    credential::{Claim, CredentialError, WorkerKey},
    protocol::{Assignment, WorkerEvent, WorkerResult},
};

/// Events waiting for the attempt to store them; a worker that outpaces the store waits.
pub(crate) const EVENT_QUEUE: usize = 1024;

/// What the worker API hands the attempt that follows the worker.
pub enum Uplinked {
    Event(WorkerEvent),
    /// Answer once every event before this one is stored, with `next_seq` (the number
    /// the next event will have) in the same transaction: the batch is acknowledged only
    /// then, so what the worker stops resending is in the database, and a restarted
    /// orchestrator knows where the worker's resend starts to be new.
    Stored {
        next_seq: u64,
        done: oneshot::Sender<()>,
    },
}

/// One attempt's grant.
pub struct Grant {
    pub assignment: Assignment,
    /// The workspace repository's git directory.
    pub git_dir: PathBuf,
    pub cancel: CancellationToken,
    last_seen: Mutex<Instant>,
    /// The next event number expected. `None` for a re-adopted worker none of whose
    /// events were stored, until it speaks: the first batch or result it sends sets it.
    next_seq: tokio::sync::Mutex<Option<u64>>,
    events: mpsc::Sender<Uplinked>,
    result: Mutex<Option<oneshot::Sender<WorkerResult>>>,
    /// Set when a result found nobody to take it.
    orphaned: std::sync::atomic::AtomicBool,
    /// The attempt's subtask creator when its role has `create_task`: one per attempt,
    /// so the per-attempt bound counts across requests.
    subtasks: Option<Arc<dyn TaskCreator>>,
}

/// What became of a worker's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    Taken,
    AlreadyGiven,
    NobodyListening,
}

/// What the attempt keeps to follow its worker.
pub struct GrantReceiver {
    pub events: mpsc::Receiver<Uplinked>,
    pub result: oneshot::Receiver<WorkerResult>,
}

impl Grant {
    pub fn new(
        assignment: Assignment,
        git_dir: PathBuf,
        cancel: CancellationToken,
        subtasks: Option<Arc<dyn TaskCreator>>,
    ) -> (Arc<Self>, GrantReceiver) {
        Self::with_seq(assignment, git_dir, cancel, subtasks, Some(0))
    }

    /// The grant of a worker a previous run of the orchestrator launched; `stored` is
    /// the next event number the database has (`None`: it has none of this worker's).
    pub fn adopted(
        assignment: Assignment,
        git_dir: PathBuf,
        cancel: CancellationToken,
        subtasks: Option<Arc<dyn TaskCreator>>,
        stored: Option<u64>,
    ) -> (Arc<Self>, GrantReceiver) {
        Self::with_seq(assignment, git_dir, cancel, subtasks, stored)
    }

    fn with_seq(
        assignment: Assignment,
        git_dir: PathBuf,
        cancel: CancellationToken,
        subtasks: Option<Arc<dyn TaskCreator>>,
        next_seq: Option<u64>,
    ) -> (Arc<Self>, GrantReceiver) {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let (result_tx, result_rx) = oneshot::channel();
        let grant = Arc::new(Self {
            assignment,
            git_dir,
            cancel,
            last_seen: Mutex::new(Instant::now()),
            next_seq: tokio::sync::Mutex::new(next_seq),
            events: tx,
            result: Mutex::new(Some(result_tx)),
            orphaned: std::sync::atomic::AtomicBool::new(false),
            subtasks,
        });
        (
            grant,
            GrantReceiver {
                events: rx,
                result: result_rx,
            },
        )
    }

    pub fn touch(&self) {
        *self.last_seen.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    pub fn last_seen(&self) -> Instant {
        *self.last_seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores the events of a batch the attempt does not have yet, in order. Returns the
    /// next sequence number expected. A batch starting past it is refused (`Err` holds
    /// what is expected) so the worker resends from there.
    pub async fn accept(&self, first_seq: u64, events: Vec<WorkerEvent>) -> Result<u64, u64> {
        let mut guard = self.next_seq.lock().await;
        let next = guard.get_or_insert(first_seq);
        if first_seq > *next {
            return Err(*next);
        }
        let skip = usize::try_from(*next - first_seq).unwrap_or(usize::MAX);
        let mut sent = 0;
        for event in events.into_iter().skip(skip) {
            if self.events.send(Uplinked::Event(event)).await.is_err() {
                break;
            }
            *next += 1;
            sent += 1;
        }
        if sent > 0 {
            let (done, rx) = oneshot::channel();
            let stored = Uplinked::Stored {
                next_seq: *next,
                done,
            };
            if self.events.send(stored).await.is_ok() {
                // A dropped answer means the attempt is over: nothing more to wait for.
                let _ = rx.await;
            }
        }
        Ok(*next)
    }

    /// Checks a result's `next_seq` against the events stored: `Err` holds the next
    /// number expected when some are missing.
    pub async fn settle_seq(&self, claimed: u64) -> Result<u64, u64> {
        let mut guard = self.next_seq.lock().await;
        let next = *guard.get_or_insert(claimed);
        if next == claimed { Ok(next) } else { Err(next) }
    }

    /// Where the attempt's `create_task` calls go; `None` when its role has no such tool.
    pub fn subtasks(&self) -> Option<Arc<dyn TaskCreator>> {
        self.subtasks.clone()
    }

    /// Hands the result to the attempt. A repeat of a result already taken is
    /// [`Handover::AlreadyGiven`]; a result nobody follows any more (the orchestrator
    /// is stopping and the attempt detached) is [`Handover::NobodyListening`], every
    /// time, so the worker keeps it for the next run.
    pub fn finish(&self, result: WorkerResult) -> Handover {
        let mut slot = self.result.lock().unwrap_or_else(|e| e.into_inner());
        match slot.take() {
            None if self.orphaned.load(std::sync::atomic::Ordering::Acquire) => {
                Handover::NobodyListening
            }
            None => Handover::AlreadyGiven,
            Some(sender) => match sender.send(result) {
                Ok(()) => Handover::Taken,
                Err(_) => {
                    self.orphaned
                        .store(true, std::sync::atomic::Ordering::Release);
                    Handover::NobodyListening
                }
            },
        }
    }
}

/// Every live grant, and the key credentials are signed with.
#[derive(Clone)]
pub struct Grants {
    key: WorkerKey,
    live: Arc<Mutex<HashMap<i64, Arc<Grant>>>>,
}

impl Grants {
    pub fn new(key: WorkerKey) -> Self {
        Self {
            key,
            live: Arc::default(),
        }
    }

    pub fn key(&self) -> &WorkerKey {
        &self.key
    }

    pub fn insert(&self, grant: Arc<Grant>) {
        self.lock().insert(grant.assignment.attempt, grant);
    }

    pub fn get(&self, attempt: i64) -> Option<Arc<Grant>> {
        self.lock().get(&attempt).cloned()
    }

    pub fn remove(&self, attempt: i64) {
        self.lock().remove(&attempt);
    }

    /// The grant a presented credential opens, or why it opens none.
    pub fn authorize(&self, credential: Option<&str>) -> Result<Arc<Grant>, CredentialError> {
        let credential = credential.ok_or(CredentialError::Missing)?;
        let Claim { attempt, .. } = self
            .key
            .verify(credential, chrono::Utc::now().timestamp())?;
        let grant = self
            .lock()
            .get(&attempt)
            .cloned()
            .ok_or(CredentialError::Expired)?;
        grant.touch();
        Ok(grant)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Grant>>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::WorkerOutcome;
    use harness_engine::prompt::TaskBrief;

    fn grant() -> (Arc<Grant>, GrantReceiver) {
        let assignment: Assignment = serde_json::from_value(serde_json::json!({
            "attempt": 7, "branch": "harness/T-1", "base": "main",
            "role_instructions": "", "tools": [], "brief": TaskBrief::default(),
            "runtime": "cli", "model": "m", "cli_command": [], "anthropic_base_url": "",
            "verify": [], "verify_timeout_secs": 1.0, "session_timeout_secs": 1.0,
            "heartbeat_secs": 1.0, "author_name": "a", "author_email": "a@example.com",
        }))
        .unwrap();
        Grant::new(assignment, PathBuf::new(), CancellationToken::new(), None)
    }

    fn result() -> WorkerResult {
        WorkerResult {
            next_seq: 0,
            outcome: WorkerOutcome::Failed { reason: "x".into() },
            last_message: String::new(),
        }
    }

    #[test]
    fn a_result_is_taken_once_and_a_repeat_is_already_given() {
        let (grant, mut receiver) = grant();
        assert_eq!(grant.finish(result()), Handover::Taken);
        assert!(receiver.result.try_recv().is_ok());
        assert_eq!(grant.finish(result()), Handover::AlreadyGiven);
    }

    #[test]
    fn a_result_nobody_follows_is_refused_every_time_so_the_worker_keeps_it() {
        let (grant, receiver) = grant();
        drop(receiver);
        assert_eq!(grant.finish(result()), Handover::NobodyListening);
        assert_eq!(grant.finish(result()), Handover::NobodyListening);
    }
}
