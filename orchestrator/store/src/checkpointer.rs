//! Folds the WAL back into the database file on its own thread and connection.
//!
//! SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold: the
//! writer then copies a thousand pages into the database file and syncs it while every
//! queued write waits. Here the writer only nudges after a commit; this thread runs a
//! PASSIVE checkpoint (it never blocks the writer or readers) at most once per
//! [`PACE`]. The writer keeps a much higher automatic threshold as a backstop, so the
//! WAL stays bounded even if this thread falls behind.

use std::{
    path::Path,
    sync::{Arc, Condvar, Mutex},
    thread,
    time::Duration,
};

use rusqlite::Connection;

use super::{BUSY_TIMEOUT, StoreError};

/// Shortest time between two checkpoints: under a stream of writes, each one folds in
/// what accumulated meanwhile instead of syncing the database file after every batch.
const PACE: Duration = Duration::from_millis(100);

/// WAL pages after which the writer checkpoints itself (the backstop; 16 MB).
pub(super) const WRITER_AUTOCHECKPOINT: u32 = 4000;

#[derive(Default)]
struct Due {
    pending: bool,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    due: Mutex<Due>,
    signal: Condvar,
}

pub(super) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens its own connection to `path` and starts the thread.
    pub(super) fn start(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let shared = Arc::new(Shared::default());
        let thread = thread::Builder::new()
            .name("harness-checkpoint".to_owned())
            .spawn({
                let shared = shared.clone();
                move || run(&conn, &shared)
            })
            .map_err(|e| StoreError::Io(format!("cannot start the checkpointer: {e}")))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Something was committed: checkpoint soon.
    pub(super) fn nudge(&self) {
        let mut due = self.shared.lock();
        if !due.pending {
            due.pending = true;
            self.shared.signal.notify_one();
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Due> {
        self.due.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn run(conn: &Connection, shared: &Shared) {
    loop {
        {
            let mut due = shared.lock();
            while !due.pending && !due.stop {
                due = shared.signal.wait(due).unwrap_or_else(|p| p.into_inner());
            }
            if due.stop {
                return;
            }
            due.pending = false;
        }
        if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(%err, "background checkpoint failed; the writer's own takes over");
        }
        thread::sleep(PACE);
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.signal.notify_one();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the background checkpoint thread panicked");
        }
    }
}
