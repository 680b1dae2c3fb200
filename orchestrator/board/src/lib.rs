//! The board: the only way to change tasks, agents, sessions and orchestrator state.
//!
//! Each write method is one store transaction (the change, its history row and its
//! operations event commit together), then the live messages carrying what was
//! committed, then a scheduler wake when the change can start work. HTTP handlers,
//! server startup and the scheduler all go through here; the store itself is private,
//! so no caller can write without announcing, or announce what was not committed.
//!
//! The files mirror `store/`: `tasks.rs` (what people do to tasks), `work.rs` (what the
//! scheduler and its attempts do), `sessions.rs`, `agents.rs`, `orchestrator.rs`
//! (pause, budget, events, database upkeep). Reads are board methods too, so callers
//! need no second handle on the store.

mod actor;
mod agents;
pub mod budget;
mod findings;
pub mod live;
mod logins;
mod orchestrator;
mod review;
mod roles;
mod runs;
mod sessions;
mod tasks;
mod telegram;
mod work;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use harness_domain::event::Event;

pub use actor::Actor;
pub use orchestrator::OrchestratorStatus;
pub use runs::Runs;
pub use work::HumanAnswer;

use crate::live::{LiveBus, LiveFeed, LiveKind};
use harness_store::{Store, StoreError};

/// The board service. Cheap to clone.
#[derive(Clone)]
pub struct Board {
    store: Arc<Store>,
    live: Arc<LiveBus>,
    runs: Arc<Runs>,
}

impl Board {
    /// `replay` is how many live messages a reconnecting client can catch up on. The
    /// board makes the live bus and keeps the only handle that publishes on it.
    pub fn new(store: Arc<Store>, replay: usize) -> Self {
        Self {
            store,
            live: Arc::new(LiveBus::new(replay)),
            runs: Arc::new(Runs::default()),
        }
    }

    /// The sessions running now, the scheduler's wake-up and its pass counter.
    pub fn runs(&self) -> &Runs {
        &self.runs
    }

    /// The live bus, for subscribers only. Messages are typed ([`LiveKind`]); the board
    /// publishes each change after its transaction commits, and nothing else can.
    pub fn live(&self) -> LiveFeed<'_> {
        self.live.feed()
    }

    /// Runs a store call on the blocking pool: SQLite must not stall the async workers.
    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Io(format!("database worker stopped: {e}")))?
    }

    fn publish(&self, message: LiveKind) {
        self.live.publish(message);
    }

    /// Publishes an operations event that was committed with the change it describes.
    fn published_event(&self, event: Event) {
        self.live.publish(LiveKind::EventCreated(event));
    }
}
