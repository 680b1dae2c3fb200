//! The store: every read and write of the SQLite database goes through here.
//!
//! This is the persistence boundary. It speaks domain types only; no SQL or rusqlite
//! type leaves this module, so another backend (PostgreSQL for multi-node) can stand
//! behind the same methods later. Methods are blocking (async callers use
//! `tokio::task::spawn_blocking`), except the `async fn` writes of the hot paths, which
//! hand their change to the writer thread and await its group commit.
//!
//! Writes go through one connection with group commit (`writer.rs`): writes that arrive
//! together share one transaction and one sync, each in its own savepoint. Reads use a
//! small pool of read-only connections, which WAL lets run alongside the writer.

mod agents;
mod auth_sessions;
mod budget;
mod checkpointer;
mod events;
mod findings;
pub mod migrations;
mod reliability;
mod review;
mod roles;
mod sessions;
mod settings;
mod tasks;
pub mod telegram;
mod wal_vfs;
mod work;
mod writer;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use harness_domain::{ValidationError, task::IllegalTransition};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

pub use budget::{BudgetTotals, Spend, SpendBy};
pub use findings::{MAX_FINDINGS_PER_TASK, MAX_SCREENSHOT_BYTES};
pub use migrations::Applied;
pub use reliability::{CrashRecovery, LOG_PAGE_BYTES};
pub use review::{Decision, FollowUp, MAX_COMMENTS_PER_TASK};
pub use roles::NewProposal;
pub use sessions::{SessionEnd, SessionFilter};
pub use tasks::{TaskCursor, TaskFilter};
pub use work::Failure;
pub use writer::WriterLimits;

use writer::{Write, Writer};

/// Readers kept open. Two cores serve the API; a few more cover requests waiting on IO.
const READERS: u32 = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What can go wrong in the store, in terms a caller can act on. No database library
/// type appears here: the API maps these variants, never a driver's error code.
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
    /// A write broke a rule of the schema (a foreign key, a unique or check constraint).
    #[error("a database constraint refused the write: {0}")]
    Constraint(String),
    #[error(
        "database{} is damaged: {detail}. Stop harness, restore the newest backup \
             (harness backup makes them), or move the file aside to start empty. \
             Do not delete the -wal file: it may hold committed data.",
        at_path(path)
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("migration failed: {0}")]
    Migration(String),
    /// Another process held the database longer than the busy timeout.
    #[error("the database is busy: {0}")]
    Busy(String),
    /// Too many writes are queued; try again shortly.
    #[error("too many writes are waiting for the database")]
    Overloaded,
    /// The batch this write was part of could not be committed, so it is not stored.
    #[error("the write could not be committed: {0}")]
    CommitFailed(String),
    /// No database connection could be had (the reader pool timed out).
    #[error("no database connection available: {0}")]
    Unavailable(String),
    /// Any other database failure: a bug or an environment problem.
    #[error("database error: {0}")]
    Database(String),
    #[error("{0}")]
    Io(String),
}

fn at_path(path: &Path) -> String {
    if path.as_os_str().is_empty() {
        String::new()
    } else {
        format!(" {}", path.display())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as Code;
        match e.sqlite_error_code() {
            Some(Code::DatabaseBusy | Code::DatabaseLocked) => Self::Busy(e.to_string()),
            Some(Code::ConstraintViolation) => Self::Constraint(e.to_string()),
            Some(Code::NotADatabase | Code::DatabaseCorrupt) => Self::Corrupt {
                path: PathBuf::new(),
                detail: e.to_string(),
            },
            _ => Self::Database(e.to_string()),
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// A page of results and the total that matched.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// For a query that asked for one row more than `limit`: drops that extra row and says
/// whether it was there, i.e. whether a next page exists. (A page that merely came back
/// full would offer a cursor to an empty page.)
fn has_more<T>(items: &mut Vec<T>, limit: u32) -> bool {
    let limit = limit as usize;
    let more = items.len() > limit;
    items.truncate(limit);
    more
}

/// The SQLite store.
pub struct Store {
    writer: Writer,
    readers: r2d2::Pool<SqliteConnectionManager>,
    /// Findings' screenshots: `screenshots/` beside the database.
    screenshots: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, checks it is intact and applies
    /// pending migrations. Returns the store and the migrations it applied.
    pub fn open(path: &Path) -> Result<(Self, Vec<Applied>), StoreError> {
        Self::open_with(path, WriterLimits::default())
    }

    /// [`Store::open`] with the group commit's bounds.
    pub fn open_with(
        path: &Path,
        limits: WriterLimits,
    ) -> Result<(Self, Vec<Applied>), StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Io(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        let mut writer = Connection::open_with_flags_and_vfs(
            path,
            OpenFlags::default(),
            wal_vfs::register()?,
        )
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
            writer: Writer::new(
                writer,
                limits,
                Some(checkpointer::Checkpointer::start(path)?),
            )?,
            readers,
            screenshots: path.with_file_name("screenshots"),
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
        self.writer
            .exclusive()?
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize;")?;
        Ok(())
    }

    fn read(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, StoreError> {
        Ok(self.readers.get()?)
    }

    /// A reader connection if one is free right now, without waiting for one.
    fn read_now(&self) -> Option<r2d2::PooledConnection<SqliteConnectionManager>> {
        self.readers.try_get()
    }

    /// One write in the writer's current batch; `commit` it to keep it.
    fn write(&self) -> Result<Write<'_>, StoreError> {
        self.writer.write()
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

/// Statements kept prepared per connection. The store has a few dozen distinct ones;
/// rusqlite's default of 16 would evict and re-parse them on a busy board.
const STATEMENT_CACHE: usize = 128;

fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // FULL: a write that was answered 2xx survives power loss, not just a crash.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;",
    )?;
    // The background checkpointer does this work off the write path; the writer only
    // steps in if the WAL grows far past SQLite's usual threshold.
    conn.pragma_update(
        None,
        "wal_autocheckpoint",
        checkpointer::WRITER_AUTOCHECKPOINT,
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
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
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
    match e {
        StoreError::Corrupt { detail, .. } => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail,
        },
        other => other,
    }
}

/// Maps "no row" to our `NotFound` with a name the user recognises.
pub fn not_found(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> StoreError {
    let what = what.into();
    move |e| match e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound(what),
        other => other.into(),
    }
}
