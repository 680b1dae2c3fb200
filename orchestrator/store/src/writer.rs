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
//!
//! Async callers (the API's hot paths) do not block a thread per write: [`Writer::submit`]
//! hands the change to the writer thread over a bounded channel (full: `Overloaded` at
//! once) and awaits a oneshot reply. The thread takes the first change, then every change
//! already queued (up to the batch bound), runs each in its savepoint, COMMITs once and
//! only then replies to all of them. Nothing waits for a time window: a lone client's
//! change commits as soon as it ran, and changes that arrive during a sync join the next
//! batch. Both paths share the one connection (and its open batch) under the same lock.
//!
//! One exception: a change submitted while the writer is idle (nothing queued, the
//! connection free, the thread without work for [`QUIET`]) runs the same batch code on
//! its caller's thread. There was nobody to share the commit with, and the trip to the
//! thread and back cost two thread wake-ups per write. Under concurrent load the thread
//! always has had work recently, so the async workers never wait for a sync there.

use std::{
    ops::Deref,
    sync::{
        Arc, Condvar, Mutex, MutexGuard, OnceLock, TryLockError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{StoreError, checkpointer::Checkpointer};

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

/// How long the writer thread must have had nothing handed to it before a submitted
/// change may run on its caller's thread instead.
const QUIET: Duration = Duration::from_millis(2);

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

/// The write connection and the writer thread that batches submitted changes.
pub(super) struct Writer {
    inner: Arc<Inner>,
    jobs: Option<mpsc::SyncSender<Job>>,
    thread: Option<thread::JoinHandle<()>>,
}

/// A submitted change: runs on the write connection inside its savepoint and says
/// whether to keep it, plus what to tell its caller once the batch's fate is known.
/// It gets the connection, or why its savepoint could not be started.
type Job = Box<dyn FnOnce(Result<&Connection, StoreError>) -> (bool, Reply) + Send>;
type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

impl Writer {
    /// `checkpointer`, when given, is nudged after every commit (see `checkpointer.rs`).
    pub(super) fn new(
        conn: Connection,
        limits: WriterLimits,
        checkpointer: Option<Checkpointer>,
    ) -> Result<Self, StoreError> {
        let inner = Arc::new(Inner::new(conn, limits, checkpointer));
        let (jobs, queue) = mpsc::sync_channel(limits.max_queue.max(1));
        let thread = thread::Builder::new()
            .name("harness-writer".to_owned())
            .spawn({
                let inner = inner.clone();
                move || inner.serve(&queue)
            })
            .map_err(|e| StoreError::Io(format!("cannot start the database writer: {e}")))?;
        Ok(Self {
            inner,
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// One write on the caller's thread; see [`Write`].
    pub(super) fn write(&self) -> Result<Write<'_>, StoreError> {
        self.inner.write()
    }

    /// See [`Inner::exclusive`].
    pub(super) fn exclusive(&self) -> Result<ExclusiveConn<'_>, StoreError> {
        self.inner.exclusive()
    }

    /// Runs `change` as one write of the writer thread's next batch and resolves once
    /// that batch is durable, or with the change's own error (only it is rolled back),
    /// or with `CommitFailed`. A full queue refuses at once with `Overloaded`.
    pub(super) async fn submit<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = conn.and_then(change);
            let keep = result.is_ok();
            let reply: Reply = Box::new(move |committed| {
                // The caller stopped waiting (its future was dropped): the write stands.
                let _ = answer.send(committed.and(result));
            });
            (keep, reply)
        });
        if let Some(guard) = self.inner.idle() {
            // Nothing to share a commit with: handing the change to the writer thread
            // and back would only add two thread wake-ups, a sixth of a lone write.
            self.inner.run_batch(guard, [job]);
        } else {
            let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
            self.inner.submitted.fetch_add(1, Ordering::AcqRel);
            self.inner
                .busy_at
                .store(self.inner.micros(), Ordering::Release);
            jobs.try_send(job).map_err(|e| {
                self.inner.submitted.fetch_sub(1, Ordering::AcqRel);
                match e {
                    mpsc::TrySendError::Full(_) => StoreError::Overloaded,
                    mpsc::TrySendError::Disconnected(_) => stopped(),
                }
            })?;
        }
        answered.await.map_err(|_| stopped())?
    }

    #[cfg(test)]
    fn commits(&self) -> u64 {
        self.inner.commits()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the thread once it has answered what was queued; the
        // connection closes with it, before the store is gone.
        self.jobs.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the store's writer thread panicked");
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Io("the database writer has stopped".to_owned())
}

/// The write connection, the batch it has open, and the callers queued for it.
struct Inner {
    conn: Mutex<Conn>,
    /// Callers of `write` waiting for the connection.
    queued: AtomicUsize,
    /// Changes handed to the writer thread that it has not taken yet.
    submitted: AtomicUsize,
    /// When the writer thread last had work (a change handed to it, or a batch it
    /// finished), in µs since `started` (at least 1); 0 until it first has.
    busy_at: AtomicU64,
    started: Instant,
    commits: AtomicU64,
    settled: Mutex<()>,
    settled_signal: Condvar,
    limits: WriterLimits,
    checkpointer: Option<Checkpointer>,
}

impl Inner {
    fn new(conn: Connection, limits: WriterLimits, checkpointer: Option<Checkpointer>) -> Self {
        Self {
            checkpointer,
            conn: Mutex::new(Conn { conn, open: None }),
            queued: AtomicUsize::new(0),
            submitted: AtomicUsize::new(0),
            busy_at: AtomicU64::new(0),
            started: Instant::now(),
            commits: AtomicU64::new(0),
            settled: Mutex::new(()),
            settled_signal: Condvar::new(),
            limits,
        }
    }

    /// Joins the open batch (or opens one) and starts a savepoint for one write.
    fn write(&self) -> Result<Write<'_>, StoreError> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.limits.max_queue {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(StoreError::Overloaded);
        }
        let mut guard = self.lock();
        self.queued.fetch_sub(1, Ordering::AcqRel);
        self.begin(&mut guard)?;
        Ok(Write {
            writer: self,
            guard: Some(guard),
        })
    }

    /// Opens a batch when none is, then the savepoint of one write.
    fn begin(&self, guard: &mut Conn) -> Result<(), StoreError> {
        if guard.open.is_none() {
            run(&guard.conn, "BEGIN IMMEDIATE")?;
            guard.open = Some(OpenBatch {
                outcome: Arc::new(OnceLock::new()),
                writes: 0,
                since: Instant::now(),
            });
        }
        if let Err(e) = run(&guard.conn, "SAVEPOINT write") {
            self.settle(guard);
            return Err(e);
        }
        Ok(())
    }

    /// The writer thread: one batch per turn, made of the first submitted change and
    /// whatever queued behind it.
    fn serve(&self, queue: &mpsc::Receiver<Job>) {
        while let Ok(first) = queue.recv() {
            let guard = self.lock();
            // Lazy on purpose: a change is taken off the queue only when the batch has
            // room for it (one taken past the bound would be dropped unanswered).
            let batch = std::iter::once(first)
                .chain(std::iter::from_fn(|| queue.try_recv().ok()))
                .take(self.limits.max_batch)
                .inspect(|_| {
                    self.submitted.fetch_sub(1, Ordering::AcqRel);
                });
            self.run_batch(guard, batch);
            self.busy_at.store(self.micros(), Ordering::Release);
        }
    }

    /// The write connection, when nothing is queued for it and nobody holds it: a
    /// submitted change can then run on its caller's thread at no cost to anyone.
    /// Under concurrent load changes keep being handed to the thread, and one run here
    /// would hold up a whole async worker for a sync that a batch could have shared:
    /// only a writer thread that has had no work for [`QUIET`] counts as idle. (A batch
    /// that just ended counts as work: after a slow sync every client is waiting on it,
    /// so nothing was handed off for a while, yet all of them are about to write again.)
    fn idle(&self) -> Option<MutexGuard<'_, Conn>> {
        let busy_at = self.busy_at.load(Ordering::Acquire);
        let quiet =
            busy_at == 0 || self.micros().saturating_sub(busy_at) > QUIET.as_micros() as u64;
        if !quiet
            || self.submitted.load(Ordering::Acquire) > 0
            || self.queued.load(Ordering::Acquire) > 0
        {
            return None;
        }
        let guard = match self.conn.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        guard.open.is_none().then_some(guard)
    }

    fn micros(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).map_or(u64::MAX, |us| us.max(1))
    }

    /// Runs each change in its savepoint, COMMITs once, and only then replies to all.
    fn run_batch(&self, mut guard: MutexGuard<'_, Conn>, jobs: impl IntoIterator<Item = Job>) {
        let replies: Vec<_> = jobs
            .into_iter()
            .map(|job| self.run_job(&mut guard, job))
            .collect();
        self.commit(&mut guard);
        drop(guard);
        for (outcome, reply) in replies {
            let result = match outcome.as_deref().and_then(OnceLock::get) {
                Some(result) => result.clone().map_err(StoreError::CommitFailed),
                None => Ok(()),
            };
            reply(result);
        }
    }

    /// Runs one submitted change in its savepoint; returns the batch it joined (to
    /// read its outcome after the commit) and the caller's reply.
    fn run_job(&self, guard: &mut Conn, job: Job) -> (Option<Arc<Outcome>>, Reply) {
        if let Err(e) = self.begin(guard) {
            // The change never ran: its caller hears why.
            let (_, reply) = job(Err(e));
            return (None, reply);
        }
        let (keep, reply) = job(Ok(&guard.conn));
        if !keep || run(&guard.conn, "RELEASE write").is_err() {
            rollback_savepoint(&guard.conn);
        }
        let outcome = guard.open.as_mut().map(|batch| {
            batch.writes += 1;
            batch.outcome.clone()
        });
        if guard.conn.is_autocommit()
            && let Some(batch) = guard.open.take()
        {
            // SQLite rolled the whole transaction back (disk full, I/O error).
            self.publish(
                &batch.outcome,
                Err("the write batch was rolled back".to_owned()),
            );
        }
        (outcome, reply)
    }

    /// Commits the open batch, if any, and hands out the bare connection for work that
    /// must run outside a transaction (checkpoint).
    fn exclusive(&self) -> Result<ExclusiveConn<'_>, StoreError> {
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
        let result = run(&guard.conn, "COMMIT");
        self.commits.fetch_add(1, Ordering::Relaxed);
        if result.is_err()
            && !guard.conn.is_autocommit()
            && let Err(err) = guard.conn.execute_batch("ROLLBACK")
        {
            // The COMMIT's failure is what the batch's writers hear; this one is ours.
            tracing::error!(%err, "cannot roll back a write batch whose COMMIT failed");
        }
        let shared = result.as_ref().map(drop).map_err(ToString::to_string);
        self.publish(&batch.outcome, shared);
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.nudge();
        }
        Some(result)
    }

    fn publish(&self, outcome: &Outcome, result: Result<(), String>) {
        // A batch is settled once: it is taken out of `open` before it is published.
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
pub struct Write<'a> {
    writer: &'a Inner,
    guard: Option<MutexGuard<'a, Conn>>,
}

impl Write<'_> {
    /// Keeps this write and returns when it is on disk (or the batch failed).
    pub fn commit(mut self) -> Result<(), StoreError> {
        let Some(mut guard) = self.guard.take() else {
            return Ok(());
        };
        if let Err(e) = run(&guard.conn, "RELEASE write") {
            rollback_savepoint(&guard.conn);
            self.writer.settle(&mut guard);
            return Err(e);
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
    if conn.is_autocommit() {
        return;
    }
    // Left in place, the failed write's changes would commit with its batch.
    if let Err(err) = run(conn, "ROLLBACK TO write") {
        tracing::error!(%err, "cannot roll back a failed write");
    }
    if let Err(err) = run(conn, "RELEASE write") {
        tracing::error!(%err, "cannot release a failed write's savepoint");
    }
}

/// Runs one transaction-control statement from the statement cache: these run several
/// times per write, and parsing them each time was a measurable share of a write.
fn run(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
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
        Arc::new(Writer::new(conn, limits, None).unwrap())
    }

    fn insert(w: &Writer, v: i64) -> Result<(), StoreError> {
        let tx = w.write()?;
        tx.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
        tx.commit()
    }

    /// Submits one insert per value, each from its own task.
    fn spawn_inserts(
        w: &Arc<Writer>,
        values: impl IntoIterator<Item = i64>,
    ) -> Vec<tokio::task::JoinHandle<Result<usize, StoreError>>> {
        values
            .into_iter()
            .map(|v| {
                let w = w.clone();
                tokio::spawn(async move {
                    w.submit(move |tx| Ok(tx.execute("INSERT INTO t (v) VALUES (?1)", [v])?))
                        .await
                })
            })
            .collect()
    }

    /// Polls `done` until it holds; fails the test with `what` after 10 s.
    async fn wait_until(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
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
        while w.inner.queued.load(Ordering::Acquire) == 0 {
            assert!(Instant::now() < deadline, "the second writer never queued");
            thread::yield_now();
        }
        assert!(matches!(insert(&w, 8), Err(StoreError::Overloaded)));
        drop(holding);
        queued.join().unwrap().unwrap();
        assert_eq!(stored(&dir), [7]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn submitted_writes_share_commits_and_a_failing_one_fails_alone() {
        let dir = tempfile::TempDir::new().unwrap();
        let w = writer(&dir, WriterLimits::default());
        let submits = (0..200i64).map(|v| {
            let w = w.clone();
            // 100 appears twice: exactly one of the two is refused by UNIQUE.
            let v = if v == 150 { 100 } else { v };
            tokio::spawn(async move {
                w.submit(move |tx| {
                    tx.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
                    Ok(v)
                })
                .await
            })
        });
        let results = futures_util::future::join_all(submits).await;
        let refused = results
            .iter()
            .filter(|r| matches!(r.as_ref().unwrap(), Err(StoreError::Constraint(_))))
            .count();
        assert_eq!(refused, 1);
        assert_eq!(stored(&dir).len(), 199);
        assert!(
            w.commits() < 199,
            "{} commits: nothing was batched",
            w.commits()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_submit_queue_refuses_at_once_and_what_it_took_is_stored() {
        let dir = tempfile::TempDir::new().unwrap();
        let w = writer(
            &dir,
            WriterLimits {
                max_queue: 2,
                ..WriterLimits::default()
            },
        );
        // A write on this thread holds the connection, so nothing submitted can run.
        let holding = w.write().unwrap();
        let submits = spawn_inserts(&w, 0..6);
        // At most three are taken (one by the thread, two queued): the others are
        // refused without waiting for the connection.
        wait_until("no submit was refused", || {
            submits.iter().filter(|s| s.is_finished()).count() >= 3
        })
        .await;
        holding.commit().unwrap();
        let results = futures_util::future::join_all(submits).await;
        let refused = results
            .iter()
            .filter(|r| matches!(r.as_ref().unwrap(), Err(StoreError::Overloaded)))
            .count();
        let stored_ok = results
            .iter()
            .filter(|r| r.as_ref().unwrap().is_ok())
            .count();
        assert!(refused >= 3, "{refused} refused");
        assert_eq!(refused + stored_ok, 6);
        assert_eq!(stored(&dir).len(), stored_ok);
    }

    #[tokio::test]
    async fn a_lone_submitted_write_commits_without_waiting_for_company() {
        let dir = tempfile::TempDir::new().unwrap();
        let w = writer(
            &dir,
            WriterLimits {
                max_batch_age: Duration::from_secs(3600),
                ..WriterLimits::default()
            },
        );
        w.submit(|tx| Ok(tx.execute("INSERT INTO t (v) VALUES (1)", [])?))
            .await
            .unwrap();
        // Answered means committed: another connection sees it.
        assert_eq!(stored(&dir), [1]);
        assert_eq!(w.commits(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn more_submitted_writes_than_a_batch_holds_are_all_answered_and_stored() {
        let dir = tempfile::TempDir::new().unwrap();
        let w = writer(
            &dir,
            WriterLimits {
                max_batch: 2,
                ..WriterLimits::default()
            },
        );
        // A write on this thread holds the connection while all five queue up.
        let holding = w.write().unwrap();
        holding.execute("INSERT INTO t (v) VALUES (0)", []).unwrap();
        let submits = spawn_inserts(&w, 1..=5);
        wait_until("the submits never queued", || {
            w.inner.submitted.load(Ordering::Acquire) >= 5
        })
        .await;
        holding.commit().unwrap();
        for submit in submits {
            assert_eq!(submit.await.unwrap().unwrap(), 1);
        }
        assert_eq!(stored(&dir), [0, 1, 2, 3, 4, 5]);
        assert!(w.commits() >= 4, "{} commits for batches of 2", w.commits());
        assert_eq!(w.inner.submitted.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn a_submit_runs_on_its_callers_thread_only_while_the_writer_is_idle() {
        let dir = tempfile::TempDir::new().unwrap();
        let w = writer(&dir, WriterLimits::default());
        let thread_of = |v: i64| {
            let w = w.clone();
            async move {
                w.submit(move |tx| {
                    tx.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
                    Ok(thread::current().name().map(str::to_owned))
                })
                .await
                .unwrap()
            }
        };
        assert_ne!(thread_of(1).await.as_deref(), Some("harness-writer"));
        // A write holding the connection: the next submit is handed to the thread.
        let holding = w.write().unwrap();
        let handed = tokio::spawn(thread_of(2));
        wait_until("the submit was never handed off", || {
            w.inner.submitted.load(Ordering::Acquire) > 0
        })
        .await;
        holding.commit().unwrap();
        assert_eq!(handed.await.unwrap().as_deref(), Some("harness-writer"));
        // Once the thread has been quiet a while, submits run in place again.
        tokio::time::sleep(QUIET * 2).await;
        assert_ne!(thread_of(3).await.as_deref(), Some("harness-writer"));
        assert_eq!(stored(&dir), [1, 2, 3]);
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
