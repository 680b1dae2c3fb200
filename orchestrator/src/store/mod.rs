//! The store: every read and write of the SQLite database goes through here.
//!
//! This is the persistence boundary. It speaks domain types only; no SQL or rusqlite
//! type leaves this module, so another backend (PostgreSQL for multi-node) can stand
//! behind the same methods later. All methods are blocking: async callers use
//! `tokio::task::spawn_blocking`.
//!
//! Writes go through one connection behind a mutex (SQLite allows one writer; queuing
//! here instead of on `SQLITE_BUSY` keeps latency predictable). Reads use a small pool
//! of read-only connections, which WAL lets run alongside the writer.

mod agents;
mod auth_sessions;
mod budget;
mod events;
pub mod migrations;
mod reliability;
mod sessions;
mod settings;
mod tasks;
mod work;

use std::{
    path::{Path, PathBuf},
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use harness_domain::{ValidationError, task::IllegalTransition};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

pub use budget::{BudgetTotals, Spend, SpendBy};
pub use migrations::Applied;
pub use reliability::{CrashRecovery, LOG_PAGE_BYTES};
pub use sessions::SessionFilter;
pub use tasks::TaskFilter;
pub use work::Failure;

/// Readers kept open. Two cores serve the API; a few more cover requests waiting on IO.
const READERS: u32 = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What can go wrong in the store, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(
        "database {path} is damaged: {detail}. Stop harness, restore the newest backup \
             (harness backup makes them), or move the file aside to start empty. \
             Do not delete the -wal file: it may hold committed data."
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database pool error: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("{0}")]
    Io(String),
}

/// A page of results and the total that matched.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// The SQLite store.
pub struct Store {
    writer: Mutex<Connection>,
    readers: r2d2::Pool<SqliteConnectionManager>,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, checks it is intact and applies
    /// pending migrations. Returns the store and the migrations it applied.
    pub fn open(path: &Path) -> Result<(Self, Vec<Applied>), StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Io(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        let mut writer = Connection::open(path)
            .map_err(|e| StoreError::Io(format!("cannot open database {}: {e}", path.display())))?;
        configure_writer(&writer).map_err(|e| damaged_as_corrupt(e, path))?;
        quick_check(&writer, path)?;
        let applied = migrations::apply_pending(&mut writer)?;
        let readers = r2d2::Pool::builder()
            .max_size(READERS)
            .min_idle(Some(1))
            .connection_timeout(BUSY_TIMEOUT)
            .build(
                SqliteConnectionManager::file(path)
                    .with_flags(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                    .with_init(configure_reader),
            )?;
        let store = Self {
            writer: Mutex::new(writer),
            readers,
        };
        store.seed_agents()?;
        Ok((store, applied))
    }

    /// A cheap liveness probe for `/health`.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.read()?.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    /// Folds the WAL into the main file. Called at shutdown so the file on disk is whole.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.write()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize;")?;
        Ok(())
    }

    fn read(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, StoreError> {
        Ok(self.readers.get()?)
    }

    fn write(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-written transaction behind
        // (rusqlite rolls back on drop), so the connection is still good to use.
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Writes a consistent copy of the database at `source` to `dest` through SQLite's
/// online backup API. Safe while a server writes to it: the copy restarts on change
/// and holds no long lock. The copy is checked before this returns.
pub fn backup(source: &Path, dest: &Path) -> Result<(), StoreError> {
    if !source.is_file() {
        return Err(StoreError::NotFound(format!(
            "database {}",
            source.display()
        )));
    }
    if dest.exists() {
        return Err(StoreError::Conflict(format!(
            "{} already exists; choose a new file name",
            dest.display()
        )));
    }
    let src = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    src.busy_timeout(BUSY_TIMEOUT)?;
    let mut target = Connection::open(dest)
        .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", dest.display())))?;
    rusqlite::backup::Backup::new(&src, &mut target)?.run_to_completion(
        256,
        Duration::from_millis(5),
        None,
    )?;
    quick_check(&target, dest)
}

fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // FULL: a write that was answered 2xx survives power loss, not just a crash.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;",
    )?;
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Io(format!(
            "cannot enable WAL mode (got {mode}); is the database on a network filesystem?"
        )));
    }
    Ok(())
}

fn configure_reader(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA query_only = ON;")
}

/// Refuses to start on a damaged file rather than limp on over silent corruption.
fn quick_check(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let mut stmt = conn
        .prepare("PRAGMA quick_check")
        .map_err(|e| corrupt(e.to_string()))?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| corrupt(e.to_string()))?;
    if rows.len() == 1 && rows[0] == "ok" {
        Ok(())
    } else {
        Err(corrupt(rows.join("; ")))
    }
}

/// Starts a write transaction that takes the write lock at BEGIN. A deferred one that
/// reads first and then writes fails at once with "database is locked" when another
/// connection wrote in between; an immediate one waits its turn (busy_timeout).
pub(crate) fn immediate(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>, StoreError> {
    Ok(conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
}

/// A file that is not a database, or a damaged one, gets the message that says what to do.
fn damaged_as_corrupt(e: StoreError, path: &Path) -> StoreError {
    match &e {
        StoreError::Sqlite(inner)
            if matches!(
                inner.sqlite_error_code(),
                Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
            ) =>
        {
            StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: inner.to_string(),
            }
        }
        _ => e,
    }
}

/// Maps "no row" to our `NotFound` with a name the user recognises.
pub(crate) fn not_found(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> StoreError {
    let what = what.into();
    move |e| match e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound(what),
        other => StoreError::Sqlite(other),
    }
}
