//! What the scheduler needs to hear from the board: a nudge when something changed,
//! a way to stop the session working on a task, and a count of finished passes that
//! tests (and anything else) can wait on.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use harness_domain::task::TaskId;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// Changes this close together share one scheduler pass: a client creating tasks in a
/// loop costs a pass every few milliseconds, not one per task (a pass reads the agents,
/// the pause flag and the ready tasks). Sessions run for minutes; this delay is noise.
const SETTLE: Duration = Duration::from_millis(5);

pub struct Runs {
    wake: Notify,
    running: Mutex<HashMap<i64, CancellationToken>>,
    /// Attempts whose verified work waits to land, and how to tell them to try now.
    landing: Mutex<HashMap<i64, Arc<Notify>>>,
    passes: watch::Sender<u64>,
    /// Wakes the pull-request follower: a forge's webhook said something changed, or
    /// a task entered review.
    forge: Notify,
}

impl Default for Runs {
    fn default() -> Self {
        Self {
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
            landing: Mutex::new(HashMap::new()),
            passes: watch::Sender::new(0),
            forge: Notify::new(),
        }
    }
}

impl Runs {
    /// Wakes the scheduler (coalesced: many nudges, one pass).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Wakes the pull-request follower (coalesced).
    pub fn wake_forge(&self) {
        self.forge.notify_one();
    }

    pub async fn forge_woken(&self) {
        self.forge.notified().await;
    }

    /// Returns [`SETTLE`] after a wake, so that the changes of a burst are seen together.
    pub async fn woken(&self) {
        self.wake.notified().await;
        tokio::time::sleep(SETTLE).await;
    }

    /// The scheduler finished a pass (whether it started anything or not).
    pub fn pass_completed(&self) {
        self.passes.send_modify(|n| *n += 1);
    }

    /// Passes completed so far; the receiver sees each new count. A pass that began
    /// after a change has looked at that change once the count has moved by two.
    pub fn passes(&self) -> watch::Receiver<u64> {
        self.passes.subscribe()
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

    /// The attempt on `task` waits to land; [`Runs::land_now`] wakes the returned
    /// notifier. Dropped again with [`Runs::stopped_waiting`].
    pub fn waiting_to_land(&self, task: TaskId) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        self.landings().insert(task.get(), notify.clone());
        notify
    }

    pub fn stopped_waiting(&self, task: TaskId) {
        self.landings().remove(&task.get());
    }

    /// Asks the attempt waiting to land `task` to try now. False when none waits.
    pub fn land_now(&self, task: TaskId) -> bool {
        self.landings()
            .get(&task.get())
            .map(|n| n.notify_one())
            .is_some()
    }

    fn landings(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Notify>>> {
        self.landing.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CancellationToken>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}
