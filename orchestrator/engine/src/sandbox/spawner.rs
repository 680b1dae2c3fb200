//! Spawner threads per worktree: the Landlock cost paid once per worktree, not per command.
//!
//! `landlock_restrict_self` copies every rule of the caller's domain and of all its
//! ancestors into the new domain. Under the ports guard (net.rs, ~65 000 TCP rules) that
//! made every agent command's start cost 20 to 50 ms. So each worktree gets a thread,
//! started from the guard's thread (it inherits that domain), that enters the file-system
//! domain of its worktree once; its children inherit both domains and call no
//! `landlock_restrict_self` at all. They share one private dir (TMPDIR, HOME), made with
//! the thread. Without the guard the same cache still saves the file-system ruleset.
//!
//! The catch, and what closes it: a child in the same Landlock domain as the thread may
//! signal that thread (the signal scope of ABI 6 allows the same domain), and a SIGKILL
//! or SIGSTOP aimed at one thread stops the whole server. So every child of a spawner
//! also installs [`SignalFilter`], compiled with that thread's id: no `kill`, `tkill`,
//! `tgkill`, `rt_(tg)sigqueueinfo` or `pidfd_open` naming it, no `F_SETOWN` naming it,
//! and no `F_SETOWN_EX`, `FIOSETOWN`/`SIOCSPGRP` or `pidfd_send_signal` (their target is
//! in memory or behind a descriptor, such as `/proc/<tid>`, which a filter cannot read).
//! Every other server thread is outside the domain, so Landlock refuses signals to it.
//!
//! Bounded: at most [`MAX_SPAWNERS`] threads; one unused for [`IDLE`] ends, and its
//! private dir is emptied (the empty dir goes at the next spawn; the dirs of spawners
//! still alive when the server exits stay in the temp dir, as a crashed command's did). When every slot holds a running command, a spawn takes the
//! per-process path (its own ruleset and private dir: correct, slower), with a debug log.

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        mpsc::{RecvTimeoutError, SyncSender, sync_channel},
    },
    time::{Duration, Instant},
};

use seccompiler::{SeccompCmpArgLen as Len, SeccompCmpOp as Op};

use super::{
    Network, PrivateDir, SandboxConfig, SandboxError, net, rules,
    seccomp::{self, rule},
};

/// Spawner threads at most, one per worktree in use: each is a parked thread and a
/// private dir. Past it, commands of further worktrees start the per-process way.
const MAX_SPAWNERS: usize = 32;
/// A spawner with no new command for this long ends (once its commands have ended).
const IDLE: Duration = Duration::from_secs(5 * 60);
/// Spawns queued for one spawner thread at most; past it a spawn waits its turn.
const QUEUE: usize = 16;
/// Instructions the signal filter may have (it compiles to well under 100); fixed, so
/// the filter is copied into the child's `Entry` and the child allocates nothing.
const FILTER_CAPACITY: usize = 160;

/// What a spawner's domain grants: commands share a spawner only when all of it is equal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    /// The canonical worktree path.
    worktree: PathBuf,
    /// The worktree directory itself: a worktree removed and made again at the same path
    /// is another directory (device, inode, birth time; the change time where the file
    /// system keeps no birth time), so a new task never gets the old one's private dir.
    identity: (u64, u64, i64, i64),
    /// Every other grant of the plan, and the network policy.
    grants: String,
    abi: i32,
    /// The ports guard whose domain the thread started in ([`net::PortGuard::id`]).
    guard: Option<u64>,
}

impl Key {
    fn of(cwd: &Path, config: &SandboxConfig, abi: i32, network: &Network) -> Option<Self> {
        let worktree = cwd.canonicalize().ok()?;
        let identity = identity(&worktree)?;
        // The private dir differs per spawner; a fixed placeholder stands in for it.
        let plan = rules::Plan::new(&worktree, Path::new("/private"), config, false);
        Some(Self {
            grants: format!("{plan:?} {network:?}"),
            worktree,
            identity,
            abi,
            guard: config.guard.as_ref().map(|g| g.id()),
        })
    }
}

/// Device, inode, and birth time (or change time) of `dir`.
fn identity(dir: &Path) -> Option<(u64, u64, i64, i64)> {
    let meta = std::fs::metadata(dir).ok()?;
    let born = meta
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| (d.as_secs() as i64, i64::from(d.subsec_nanos())));
    let (secs, nanos) = born.unwrap_or((meta.ctime(), meta.ctime_nsec()));
    Some((meta.dev(), meta.ino(), secs, nanos))
}

use net::Job;

/// Spawner threads. One cache per server process ([`Spawners::global`]): the key holds
/// everything a domain grants, the ports guard included, so configs never share one by
/// mistake.
#[derive(Debug, Default)]
pub(super) struct Spawners {
    slots: Arc<Mutex<Slots>>,
}

#[derive(Debug, Default)]
struct Slots {
    live: Vec<Slot>,
    /// Private dirs of spawners that ended on their own, emptied by their thread (which
    /// may not remove a directory of /tmp itself); removed at the next lease.
    ended: Vec<Arc<PrivateDir>>,
    next_id: u64,
}

#[derive(Debug)]
struct Slot {
    id: u64,
    key: Key,
    jobs: SyncSender<Job>,
    private: Arc<PrivateDir>,
    filter: SignalFilter,
    /// The spawner thread's id, which the filter names.
    tid: libc::pid_t,
    last_used: Instant,
}

impl Slot {
    /// A command forked from it still runs (its `Prepared` holds the private dir).
    fn busy(&self) -> bool {
        Arc::strong_count(&self.private) > 1
    }
}

/// One command's use of a spawner: held by its `Prepared` until it has ended.
#[derive(Debug)]
pub(super) struct Lease {
    jobs: SyncSender<Job>,
    pub(super) private: Arc<PrivateDir>,
    pub(super) filter: SignalFilter,
}

impl Lease {
    /// Forks `command` from the spawner thread, inside its domains.
    pub(super) fn spawn(
        &self,
        command: tokio::process::Command,
    ) -> std::io::Result<tokio::process::Child> {
        spawn_on(&self.jobs, command)
    }
}

impl Spawners {
    /// The server's cache.
    pub(super) fn global() -> &'static Self {
        static GLOBAL: std::sync::OnceLock<Spawners> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(Self::default)
    }

    /// The spawner for commands in `cwd` under `config` (made on first use), or `None`
    /// when there is no free slot or it cannot be made: the caller then confines the
    /// command the per-process way.
    pub(super) fn lease(
        &self,
        cwd: &Path,
        config: &SandboxConfig,
        abi: i32,
        network: &Network,
    ) -> Option<Lease> {
        let key = Key::of(cwd, config, abi, network)?;
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        // Removed here, on a thread outside any domain.
        slots.ended.clear();
        slots
            .live
            .retain(|s| s.busy() || s.last_used.elapsed() < IDLE);
        if let Some(slot) = slots.live.iter_mut().find(|s| s.key == key) {
            slot.last_used = Instant::now();
            return Some(slot.lease());
        }
        if slots.live.len() >= MAX_SPAWNERS {
            let lru = (slots.live.iter().enumerate())
                .filter(|(_, s)| !s.busy())
                .min_by_key(|(_, s)| s.last_used)
                .map(|(i, _)| i);
            let Some(lru) = lru else {
                tracing::debug!(
                    max = MAX_SPAWNERS,
                    worktree = %key.worktree.display(),
                    "every spawner thread has a running command: this one enters its own Landlock domain"
                );
                return None;
            };
            slots.live.swap_remove(lru);
        }
        slots.next_id += 1;
        let id = slots.next_id;
        match start(id, key, config, network, Arc::downgrade(&self.slots)) {
            Ok(slot) => {
                tracing::debug!(
                    thread = slot.tid,
                    worktree = %slot.key.worktree.display(),
                    "started a spawner thread for this worktree"
                );
                let lease = slot.lease();
                slots.live.push(slot);
                Some(lease)
            }
            Err(error) => {
                tracing::debug!(%error, "cannot start a spawner thread: this command enters its own Landlock domain");
                None
            }
        }
    }
}

impl Slot {
    fn lease(&self) -> Lease {
        Lease {
            jobs: self.jobs.clone(),
            private: self.private.clone(),
            filter: self.filter,
        }
    }
}

/// Makes the private dir and the ruleset, starts the thread (from the guard's thread
/// when there is one) and waits until it is inside its domain.
fn start(
    id: u64,
    key: Key,
    config: &SandboxConfig,
    network: &Network,
    slots: std::sync::Weak<Mutex<Slots>>,
) -> Result<Slot, SandboxError> {
    let err = |message: String| SandboxError::Rules {
        path: key.worktree.clone(),
        message,
    };
    let private = Arc::new(PrivateDir::create()?);
    let plan = rules::Plan::new(&key.worktree, private.path(), config, false);
    let ruleset = plan.ruleset(key.abi, network)?;
    let (jobs, queue) = sync_channel::<Job>(QUEUE);
    let (ready, entered) = sync_channel::<std::io::Result<libc::pid_t>>(1);
    let body = move || {
        let result = net::restrict_this_thread(&ruleset).map(|()| {
            // SAFETY: gettid takes no arguments and cannot fail.
            unsafe { libc::gettid() }
        });
        drop(ruleset);
        let inside = result.is_ok();
        // The starter waits for this; it is never gone before it reads it.
        let _ = ready.send(result);
        if inside {
            serve(id, &queue, &slots);
        }
    };
    let name = format!("agent-spawner-{id}");
    match &config.guard {
        Some(guard) => guard.start_thread(name, Box::new(body)),
        None => std::thread::Builder::new()
            .name(name)
            .spawn(body)
            .map(drop)
            .map_err(|e| e.to_string()),
    }
    .map_err(|e| err(format!("cannot start a spawner thread: {e}")))?;
    let tid = match entered.recv() {
        Ok(Ok(tid)) => tid,
        Ok(Err(e)) => return Err(err(format!("cannot enter the worktree's ruleset: {e}"))),
        Err(_) => return Err(err("the spawner thread ended at once".into())),
    };
    Ok(Slot {
        id,
        key,
        jobs,
        private,
        filter: SignalFilter::compile(tid).map_err(SandboxError::Seccomp)?,
        tid,
        last_used: Instant::now(),
    })
}

/// The spawner thread's loop: runs spawns until its slot is dropped, or ends on its own
/// after [`IDLE`] without one when none of its commands still runs.
fn serve(id: u64, queue: &std::sync::mpsc::Receiver<Job>, slots: &std::sync::Weak<Mutex<Slots>>) {
    loop {
        match queue.recv_timeout(IDLE) {
            Ok(job) => job(),
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                let Some(slots) = slots.upgrade() else { return };
                let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
                let Some(at) = slots.live.iter().position(|s| s.id == id) else {
                    continue; // already taken out: the queue disconnects once drained
                };
                if slots.live[at].busy() || slots.live[at].last_used.elapsed() < IDLE {
                    continue;
                }
                let slot = slots.live.swap_remove(at);
                // What this thread may remove (the dir's contents); the dir itself waits.
                for sub in [slot.private.tmp(), slot.private.home()] {
                    // Best effort: whatever stays goes with the dir when the next lease
                    // drops it (outside any domain), which warns if it cannot.
                    let _ = std::fs::remove_dir_all(sub);
                }
                slots.ended.push(slot.private);
                // Spawns already handed this queue still run; then it disconnects.
            }
        }
    }
}

/// Runs `command.spawn()` on the thread behind `jobs` and waits for the result. Blocks
/// while the fork runs, as `Command::spawn` does. Needs a Tokio runtime.
pub(super) fn spawn_on(
    jobs: &SyncSender<Job>,
    mut command: tokio::process::Command,
) -> std::io::Result<tokio::process::Child> {
    let runtime = tokio::runtime::Handle::try_current().map_err(std::io::Error::other)?;
    let (done, result) = sync_channel(1);
    let job: Job = Box::new(move || {
        // The child's pipes and its reaping belong to the caller's runtime.
        let _inside = runtime.enter();
        // The caller waits on `result` until this is sent; if it is gone, so is the
        // child (kill_on_drop).
        let _ = done.send(command.spawn());
    });
    let gone = || std::io::Error::other("the agent spawner thread has ended");
    jobs.send(job).map_err(|_| gone())?;
    result.recv().map_err(|_| gone())?
}

/// The system-call filter that keeps a spawner's children from signalling the spawner
/// thread (module docs), compiled for its thread id; `Copy`, installed without allocating.
#[derive(Clone, Copy)]
pub(super) struct SignalFilter {
    program: [libc::sock_filter; FILTER_CAPACITY],
    len: u16,
}

impl std::fmt::Debug for SignalFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignalFilter({} instructions)", self.len)
    }
}

/// `fcntl` commands that name a signal's target, and the `ioctl`s that do the same.
const F_SETOWN: u64 = 8;
const F_SETOWN_EX: u64 = 15;
const FIOSETOWN: u64 = 0x8901;
const SIOCSPGRP: u64 = 0x8902;

impl SignalFilter {
    fn compile(tid: libc::pid_t) -> Result<Self, String> {
        let tid = u64::from(tid.unsigned_abs());
        // pid arguments are `int` to the kernel: compare the low 32 bits only, so high
        // bits set in the register cannot slip a match past the filter.
        let names = |arg: u8| rule([(arg, Len::Dword, Op::Eq, tid)]);
        let always = Vec::new;
        let rules = std::collections::BTreeMap::from([
            (libc::SYS_kill, vec![names(0)?]),
            (libc::SYS_tkill, vec![names(0)?]),
            (libc::SYS_tgkill, vec![names(1)?]),
            (libc::SYS_rt_sigqueueinfo, vec![names(0)?]),
            (libc::SYS_rt_tgsigqueueinfo, vec![names(1)?]),
            (libc::SYS_pidfd_open, vec![names(0)?]),
            (libc::SYS_pidfd_send_signal, always()),
            (
                libc::SYS_fcntl,
                vec![
                    rule([
                        (1, Len::Dword, Op::Eq, F_SETOWN),
                        (2, Len::Dword, Op::Eq, tid),
                    ])?,
                    rule([(1, Len::Dword, Op::Eq, F_SETOWN_EX)])?,
                ],
            ),
            (
                libc::SYS_ioctl,
                vec![
                    rule([(1, Len::Dword, Op::Eq, FIOSETOWN)])?,
                    rule([(1, Len::Dword, Op::Eq, SIOCSPGRP)])?,
                ],
            ),
        ]);
        let compiled = seccomp::program(rules, libc::EPERM)?;
        if compiled.len() > FILTER_CAPACITY {
            return Err(format!(
                "the spawner's signal filter has {} instructions, more than {FILTER_CAPACITY}",
                compiled.len()
            ));
        }
        let empty = libc::sock_filter {
            code: 0,
            jt: 0,
            jf: 0,
            k: 0,
        };
        let mut program = [empty; FILTER_CAPACITY];
        program[..compiled.len()].copy_from_slice(&compiled);
        Ok(Self {
            program,
            len: compiled.len() as u16,
        })
    }

    /// Installs the filter on the calling thread; no-new-privileges must be set. System
    /// calls only: this runs between fork and exec.
    pub(super) fn install(&self) -> std::io::Result<()> {
        seccomp::install(&self.program[..usize::from(self.len)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{self, CommandSpec};
    use tokio_util::sync::CancellationToken;

    /// Landlock, or `false` (and a loud failure under `CI=true`, where the kernel has it).
    fn landlock() -> bool {
        match super::super::Support::probe() {
            super::super::Support::Landlock(_) => true,
            other => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI must have Landlock: {}",
                    other.describe()
                );
                eprintln!("skipped: {}", other.describe());
                false
            }
        }
    }

    /// Runs `script` with bash in `dir` under `config`; its output, after a success.
    async fn run(config: &SandboxConfig, dir: &Path, script: &str) -> String {
        let mut spec = CommandSpec::new("bash", ["-c", script], dir);
        spec.sandbox = config.clone();
        let done = process::run(&spec, &CancellationToken::new(), |_| {})
            .await
            .unwrap();
        assert!(done.termination.success(), "{}", done.tail);
        done.tail
    }

    #[tokio::test]
    async fn commands_of_one_worktree_share_a_private_dir_and_others_do_not() {
        if !landlock() {
            return;
        }
        let config = SandboxConfig::default();
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = run(&config, a.path(), "echo mine > $TMPDIR/note; echo $TMPDIR").await;
        let again = run(&config, a.path(), "cat $TMPDIR/note; echo $TMPDIR").await;
        assert_eq!(again, format!("mine\n{first}"));
        let other = run(&config, b.path(), "ls $TMPDIR; echo $TMPDIR").await;
        assert_ne!(other.trim(), first.trim(), "{other}");
        assert!(!other.contains("note"), "{other}");
        // Still confined: the other worktree is out of reach, this one is writable.
        let out = run(
            &config,
            b.path(),
            &format!(
                "touch {}/x 2>/dev/null && echo WROTE; touch y && echo OWN",
                a.path().display()
            ),
        )
        .await;
        assert_eq!(out, "OWN\n");
    }

    #[tokio::test]
    async fn a_worktree_made_again_at_the_same_path_gets_a_new_private_dir() {
        if !landlock() {
            return;
        }
        let config = SandboxConfig::default();
        let root = tempfile::tempdir().unwrap();
        let tree = root.path().join("worktree");
        std::fs::create_dir(&tree).unwrap();
        let old = run(&config, &tree, "echo secret > $TMPDIR/left; echo $TMPDIR").await;
        std::fs::remove_dir_all(&tree).unwrap();
        std::fs::create_dir(&tree).unwrap();
        let new = run(&config, &tree, "ls $TMPDIR $HOME; echo $TMPDIR").await;
        assert!(!new.contains("left"), "{new}");
        assert_ne!(new.trim(), old.trim());
    }

    #[tokio::test]
    async fn no_child_can_signal_its_spawner_thread() {
        if !landlock() {
            return;
        }
        let config = SandboxConfig::default();
        let dir = tempfile::tempdir().unwrap();
        run(&config, dir.path(), "true").await;
        let worktree = dir.path().canonicalize().unwrap();
        let spawner = {
            let slots = Spawners::global().slots.lock().unwrap();
            let mine = slots.live.iter().find(|s| s.key.worktree == worktree);
            mine.expect("a spawner for the worktree").tid.to_string()
        };
        // Every thread of this process, the spawner among them (as root the agent cannot
        // list them itself; a brute force over the pid space would find them anyway).
        let tids: Vec<String> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(tids.contains(&spawner));
        let pid = std::process::id();
        let call = |name: &str, nr: i64, args: String| {
            format!(
                "$! = 0; my $rc = syscall({nr}, {args}); printf(\"{name} %d %d\\n\", $rc, $! + 0);"
            )
        };
        let mut script = String::new();
        for t in &tids {
            script += &call("kill", libc::SYS_kill, format!("{t}, 0"));
            script += &call("kill-high", libc::SYS_kill, format!("{t} + (1 << 32), 0"));
            script += &call("tkill", libc::SYS_tkill, format!("{t}, 0"));
            script += &call("tgkill", libc::SYS_tgkill, format!("{pid}, {t}, 0"));
            // A pidfd of a thread (PIDFD_THREAD) any process may open; signalling
            // through it is what must fail.
            script += &format!("my $fd{t} = syscall({}, {t}, 0x80);", libc::SYS_pidfd_open);
            script += &call(
                "pidfd-signal",
                libc::SYS_pidfd_send_signal,
                format!("$fd{t}, 0, 0, 0"),
            );
        }
        let out = run(
            &config,
            dir.path(),
            &format!("perl -e '{}'", script.replace('\'', "'\\''")),
        )
        .await;
        assert_eq!(out.lines().count(), 5 * tids.len(), "{out}");
        // Other tests' threads may end meanwhile (ESRCH); none may be signalled, and the
        // spawner, which lives as long as `config`, refuses every try.
        for (t, lines) in tids.iter().zip(out.lines().collect::<Vec<_>>().chunks(5)) {
            for line in lines {
                let refused = line.ends_with(&format!(" -1 {}", libc::EPERM));
                let gone = *t != spawner && line.ends_with(&format!(" -1 {}", libc::ESRCH));
                assert!(refused || gone, "thread {t}: {line}\n{out}");
            }
        }
        // And the server (this test) lives on.
        run(&config, dir.path(), "true").await;
    }

    #[test]
    fn a_full_cache_of_busy_spawners_falls_back_to_the_per_process_path() {
        if !landlock() {
            return;
        }
        // Its own cache: the server's is shared with the tests running alongside.
        let cache = Spawners::default();
        let config = SandboxConfig::default();
        let super::super::Support::Landlock(abi) = config.support() else {
            return;
        };
        let dirs: Vec<_> = (0..=MAX_SPAWNERS)
            .map(|_| tempfile::tempdir().unwrap())
            .collect();
        let lease = |d: &tempfile::TempDir| cache.lease(d.path(), &config, abi, &config.network);
        let held: Vec<Lease> = dirs[..MAX_SPAWNERS]
            .iter()
            .map(|d| lease(d).expect("a free slot"))
            .collect();
        assert!(lease(&dirs[MAX_SPAWNERS]).is_none());
        // One ends: its slot is reused for the new worktree.
        let private = held[0].private.path().to_path_buf();
        drop(held);
        assert!(lease(&dirs[MAX_SPAWNERS]).is_some());
        assert!(
            !private.exists(),
            "the evicted spawner's private dir is removed"
        );
    }
}
