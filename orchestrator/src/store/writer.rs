//! The single writer and its group commit.
//!
//! SQLite has one writer, and with `synchronous=FULL` every COMMIT waits for the disk.
//! Writes that arrive together therefore share one transaction: each write runs in its
//! own savepoint on the caller's thread (so a failing one rolls back alone and gets its
//! own error), and whoever finishes last while nobody else is queued, or when the batch
//! reaches its count or age bound, COMMITs for everyone (one sync). The others wait
//! until their batch is durable and learn whether COMMIT failed: no write is answered
//! before it is on disk. The queue of callers waiting for the connection is bounded;
//! past it a write fails at once with [`StoreError::Overloaded`].
//!
//! A call site stays small: `let tx = self.write()?;` … `tx.commit()?;`. Dropping the
//! [`Write`] without `commit` rolls back just that write.

use std::{
    ops::Deref,
    sync::{
        Arc, Condvar, Mutex, MutexGuard, OnceLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use rusqlite::Connection;

use super::StoreError;

/// Bounds of a batch and of the queue in front of the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterLimits {
    /// Most writes in one transaction.
    pub max_batch: usize,
    /// Oldest a batch may grow before whoever holds it commits.
    pub max_batch_age: Duration,
    /// Most callers waiting for the connection; past it, writes are refused.
    pub max_queue: usize,
}

impl Default for WriterLimits {
    fn default() -> Self {
        Self {
            max_batch: 256,
            max_batch_age: Duration::from_millis(10),
            max_queue: 512,
        }
    }
}

/// How a batch ended: committed, or why not (shared by every write in it).
type Outcome = OnceLock<Result<(), String>>;

struct OpenBatch {
    outcome: Arc<Outcome>,
    writes: usize,
    since: Instant,
}

struct Conn {
    conn: Connection,
    open: Option<OpenBatch>,
}

/// The write connection, the batch it has open, and the callers queued for it.
pub(super) struct Writer {
    conn: Mutex<Conn>,
    queued: AtomicUsize,
    commits: AtomicU64,
    settled: Mutex<()>,
    settled_signal: Condvar,
    limits: WriterLimits,
}

impl Writer {
    pub(super) fn new(conn: Connection, limits: WriterLimits) -> Self {
        Self {
            conn: Mutex::new(Conn { conn, open: None }),
            queued: AtomicUsize::new(0),
            commits: AtomicU64::new(0),
            settled: Mutex::new(()),
            settled_signal: Condvar::new(),
            limits,
        }
    }

    /// Joins the open batch (or opens one) and starts a savepoint for one write.
    pub(super) fn write(&self) -> Result<Write<'_>, StoreError> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.limits.max_queue {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(StoreError::Overloaded);
        }
        let mut guard = self.lock();
        self.queued.fetch_sub(1, Ordering::AcqRel);
        if guard.open.is_none() {
            guard.conn.execute_batch("BEGIN IMMEDIATE")?;
            guard.open = Some(OpenBatch {
                outcome: Arc::new(OnceLock::new()),
                writes: 0,
                since: Instant::now(),
            });
        }
        if let Err(e) = guard.conn.execute_batch("SAVEPOINT write") {
            self.settle(&mut guard);
            return Err(e.into());
        }
        Ok(Write {
            writer: self,
            guard: Some(guard),
        })
    }

    /// Commits the open batch, if any, and hands out the bare connection for work that
    /// must run outside a transaction (checkpoint).
    pub(super) fn exclusive(&self) -> Result<ExclusiveConn<'_>, StoreError> {
        let mut guard = self.lock();
        if let Some(outcome) = self.commit(&mut guard) {
            outcome?;
        }
        Ok(ExclusiveConn(guard))
    }

    /// COMMITs issued so far: writes per commit is the batching at work.
    #[cfg(test)]
    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Conn> {
        // A panic while holding the lock leaves at worst an open batch, which the next
        // write continues or commits: the connection is still good to use.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a write: leave the batch open for a queued caller while it is young and
    /// small, else commit it. Returns the batch's outcome to wait on.
    fn settle(&self, guard: &mut Conn) -> Option<Arc<Outcome>> {
        let batch = guard.open.as_mut()?;
        batch.writes += 1;
        let outcome = batch.outcome.clone();
        if guard.conn.is_autocommit() {
            // SQLite rolled the whole transaction back (disk full, I/O error): every
            // write in it is lost, and each of their callers must hear it.
            guard.open = None;
            self.publish(&outcome, Err("the write batch was rolled back".to_owned()));
            return Some(outcome);
        }
        let others_waiting = self.queued.load(Ordering::Acquire) > 0;
        if others_waiting
            && batch.writes < self.limits.max_batch
            && batch.since.elapsed() < self.limits.max_batch_age
        {
            return Some(outcome);
        }
        self.commit(guard);
        Some(outcome)
    }

    /// COMMITs the open batch (one sync for all its writes) and wakes its waiters.
    fn commit(&self, guard: &mut Conn) -> Option<Result<(), StoreError>> {
        let batch = guard.open.take()?;
        let result = guard.conn.execute_batch("COMMIT").map_err(StoreError::from);
        self.commits.fetch_add(1, Ordering::Relaxed);
        if result.is_err() && !guard.conn.is_autocommit() {
            let _ = guard.conn.execute_batch("ROLLBACK");
        }
        let shared = result.as_ref().map(drop).map_err(ToString::to_string);
        self.publish(&batch.outcome, shared);
        Some(result)
    }

    fn publish(&self, outcome: &Outcome, result: Result<(), String>) {
        let _ = outcome.set(result);
        let _lock = self.settled.lock().unwrap_or_else(|p| p.into_inner());
        self.settled_signal.notify_all();
    }

    /// Blocks until the batch is committed or has failed.
    fn wait(&self, outcome: &Outcome) -> Result<(), StoreError> {
        let mut lock = self.settled.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(result) = outcome.get() {
                return result.clone().map_err(StoreError::CommitFailed);
            }
            lock = self
                .settled_signal
                .wait(lock)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// One write in the current batch: a savepoint on the write connection. Derefs to the
/// connection for statements; [`Write::commit`] returns once the batch is durable.
pub(crate) struct Write<'a> {
    writer: &'a Writer,
    guard: Option<MutexGuard<'a, Conn>>,
}

impl Write<'_> {
    /// Keeps this write and returns when it is on disk (or the batch failed).
    pub(crate) fn commit(mut self) -> Result<(), StoreError> {
        let Some(mut guard) = self.guard.take() else {
            return Ok(());
        };
        if let Err(e) = guard.conn.execute_batch("RELEASE write") {
            rollback_savepoint(&guard.conn);
            self.writer.settle(&mut guard);
            return Err(e.into());
        }
        let outcome = self.writer.settle(&mut guard);
        drop(guard);
        match outcome {
            Some(outcome) => self.writer.wait(&outcome),
            None => Ok(()),
        }
    }
}

impl Deref for Write<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match &self.guard {
            Some(guard) => &guard.conn,
            None => unreachable!("a Write is only used before commit"),
        }
    }
}

impl Drop for Write<'_> {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            rollback_savepoint(&guard.conn);
            self.writer.settle(&mut guard);
        }
    }
}

fn rollback_savepoint(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK TO write; RELEASE write");
    }
}

/// The write connection with no batch open.
pub(super) struct ExclusiveConn<'a>(MutexGuard<'a, Conn>);

impl Deref for ExclusiveConn<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.0.conn
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Barrier, thread};

    use super::*;

    fn writer(dir: &tempfile::TempDir, limits: WriterLimits) -> Arc<Writer> {
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE t (v INTEGER NOT NULL UNIQUE);",
        )
        .unwrap();
        Arc::new(Writer::new(conn, limits))
    }

    fn insert(w: &Writer, v: i64) -> Result<(), StoreError> {
        let tx = w.write()?;
        tx.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
        tx.commit()
    }

    fn stored(dir: &tempfile::TempDir) -> Vec<i64> {
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        let mut stmt = conn.prepare("SELECT v FROM t ORDER BY v").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn concurrent_writes_are_all_stored_with_fewer_commits_than_writes() {
        let dir = tempfile::TempDir::new().unwrap();
        let w = writer(&dir, WriterLimits::default());
        let threads = 8;
        let per_thread = 200;
        let start = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (w, start) = (w.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    for i in 0..per_thread {
                        insert(&w, (t * per_thread + i) as i64).unwrap();
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        let total = threads * per_thread;
        assert_eq!(stored(&dir).len(), total);
        assert!(
            w.commits() < total as u64,
            "{} commits for {total} writes: nothing was batched",
            w.commits()
        );
    }

    #[test]
    fn a_failing_write_rolls_back_alone_and_gets_its_own_error() {
        let dir = tempfile::TempDir::new().unwrap();
        let w = writer(&dir, WriterLimits::default());
        insert(&w, 1).unwrap();
        // A write that did one statement and then failed on the second.
        let tx = w.write().unwrap();
        tx.execute("INSERT INTO t (v) VALUES (2)", []).unwrap();
        let err = tx
            .execute("INSERT INTO t (v) VALUES (1)", [])
            .map_err(StoreError::from)
            .unwrap_err();
        assert!(matches!(err, StoreError::Constraint(_)), "{err:?}");
        drop(tx);
        insert(&w, 3).unwrap();
        assert_eq!(stored(&dir), [1, 3]);
    }

    #[test]
    fn a_full_queue_refuses_writes_at_once() {
        let dir = tempfile::TempDir::new().unwrap();
        let w = writer(
            &dir,
            WriterLimits {
                max_queue: 1,
                ..WriterLimits::default()
            },
        );
        let holding = w.write().unwrap();
        let queued = {
            let w = w.clone();
            thread::spawn(move || insert(&w, 7))
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.queued.load(Ordering::Acquire) == 0 {
            assert!(Instant::now() < deadline, "the second writer never queued");
            thread::yield_now();
        }
        assert!(matches!(insert(&w, 8), Err(StoreError::Overloaded)));
        drop(holding);
        queued.join().unwrap().unwrap();
        assert_eq!(stored(&dir), [7]);
    }

    #[test]
    fn exclusive_commits_the_open_batch_first() {
        let dir = tempfile::TempDir::new().unwrap();
        let w = writer(&dir, WriterLimits::default());
        insert(&w, 1).unwrap();
        let conn = w.exclusive().unwrap();
        assert!(conn.is_autocommit());
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
    }
}
