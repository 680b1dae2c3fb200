//! The process tree of one agent run: everything it starts dies when the run ends,
//! including what left its process group and session (`setsid -f`), changed directory
//! or cleared its environment.
//!
//! Two ways, chosen once per server:
//! - **A cgroup v2 per run**, where the harness may create one (a writable cgroup v2
//!   directory: root on the host, or a delegated subtree). The child joins it between
//!   fork and exec, through a `cgroup.procs` handle opened before the fork; nothing it
//!   starts can leave it. At the end every process in it is killed (`cgroup.kill`, or
//!   SIGKILL to each listed pid in a bounded loop on kernels before 5.14) and it is
//!   removed. `memory.max` and `pids.max` bound the whole tree when those controllers
//!   are delegated.
//! - **A subreaper** elsewhere (uid 10001 in a container has no cgroup to write): the
//!   server and every run's first process are child subreapers, so a process that
//!   escapes its group is re-parented to its run's first process while that lives, and
//!   to the server once it is gone, which is when the run has ended. At the end of each
//!   run the server kills and reaps its agent children that are not the first process of
//!   a live run, as long as it finds any (bounded).
//!
//! An agent process is known by a marker it cannot erase ([`is_agent`]): the sandbox
//! sets its RLIMIT_NOFILE hard limit to a value no one else uses ([`nofile_mark`]) and
//! the seccomp filter forbids changing that limit; plus `no_new_privs` and the server's
//! uid. Neither `cd` nor `env -i` changes them, so the orphan sweep after a crash
//! (`orphans.rs`) finds them too.

use std::{
    collections::HashSet,
    io,
    os::fd::{AsRawFd, OwnedFd},
    path::{Path, PathBuf},
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::{Limits, SandboxError};

/// RLIMIT_NOFILE hard limits of agent processes are ≡ this modulo [`MARK_MODULUS`]:
/// limits are set in powers of two or round numbers (1024, 4096, 524288, 1048576),
/// never to 61 past a multiple of 64.
const MARK_RESIDUE: u64 = 61;
const MARK_MODULUS: u64 = 64;
/// Rounds of "kill what is left, then look again" at the end of a run: each round
/// catches the children of the processes killed in the one before.
const SWEEP_ROUNDS: usize = 64;
/// How long the end of a run waits for its killed processes to be gone.
const END_WAIT: Duration = Duration::from_secs(2);
/// How far up the parent chain a sweep walks; deeper trees are not followed.
pub(crate) const MAX_ANCESTORS: usize = 256;

/// The largest value ≤ `limit` that marks an agent process (`limit` itself when it is
/// too small to carry the mark; such an agent is found only by its cgroup or cwd).
pub(crate) fn nofile_mark(limit: u64) -> u64 {
    if limit < MARK_RESIDUE {
        return limit;
    }
    limit - (limit - MARK_RESIDUE) % MARK_MODULUS
}

/// True when `pid` carries the agent marker: RLIMIT_NOFILE hard limit marked,
/// `NoNewPrivs: 1`, and our effective uid. Read from /proc; a vanished process is not one.
pub(crate) fn is_agent(pid: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    // SAFETY: geteuid has no arguments and cannot fail.
    let uid = unsafe { libc::geteuid() }.to_string();
    let same_uid = field("Uid:").and_then(|u| u.split_whitespace().nth(1)) == Some(uid.as_str());
    if !same_uid || field("NoNewPrivs:") != Some("1") {
        return false;
    }
    nofile_hard(pid).is_some_and(|hard| hard % MARK_MODULUS == MARK_RESIDUE)
}

/// The RLIMIT_NOFILE hard limit of `pid`, from /proc/<pid>/limits.
fn nofile_hard(pid: i32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Field 4 of /proc/PID/stat; the command name before it may contain spaces.
pub(crate) fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Every pid in /proc.
pub(crate) fn all_pids() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

/// How this server tracks its runs' trees, decided on first use.
enum Tracking {
    /// One cgroup per run under this directory (ours, made at first use).
    Cgroup(Hierarchy),
    /// The server is a child subreaper.
    Subreaper,
    /// Neither works: escaped processes are found only by the orphan sweep.
    Untracked,
}

struct Hierarchy {
    /// `<cgroup2 mount><our cgroup>/harness-<pid>`.
    base: PathBuf,
    memory: bool,
    pids: bool,
}

fn tracking() -> &'static Tracking {
    static TRACKING: OnceLock<Tracking> = OnceLock::new();
    TRACKING.get_or_init(|| match Hierarchy::create() {
        Ok(hierarchy) => {
            tracing::info!(
                cgroup = %hierarchy.base.display(),
                memory_max = hierarchy.memory,
                pids_max = hierarchy.pids,
                "agent process trees: one cgroup per run"
            );
            Tracking::Cgroup(hierarchy)
        }
        Err(why) => {
            // SAFETY: PR_SET_CHILD_SUBREAPER with 1 changes only this process's flag.
            if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0 {
                tracing::info!(no_cgroup = %why, "agent process trees: the server is a subreaper and kills what its runs leave");
                Tracking::Subreaper
            } else {
                let error = io::Error::last_os_error();
                tracing::warn!(no_cgroup = %why, %error, "agent process trees are not tracked: a process that leaves its group outlives its run until the next restart");
                Tracking::Untracked
            }
        }
    })
}

/// The cgroup v2 this process is in, as a directory, from /proc/self/{cgroup,mountinfo}.
fn own_cgroup_dir() -> io::Result<PathBuf> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup")?;
    let relative = cgroups
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or_else(|| io::Error::other("this process is in no cgroup v2"))?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")?;
    // "<id> <parent> <dev> <root> <mount point> <options…> - <fstype> <source> <super options>"
    let mount = mounts
        .lines()
        .find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fields: Vec<&str> = left.split(' ').collect();
            (right.split(' ').next() == Some("cgroup2") && fields.get(3) == Some(&"/"))
                .then(|| fields.get(4).map(|m| PathBuf::from(*m)))
                .flatten()
        })
        .ok_or_else(|| io::Error::other("no cgroup v2 file system is mounted"))?;
    Ok(mount.join(relative.trim_start_matches('/')))
}

impl Hierarchy {
    fn create() -> io::Result<Self> {
        let own = own_cgroup_dir()?;
        let base = own.join(format!("harness-{}", std::process::id()));
        match std::fs::create_dir(&base) {
            Ok(()) => {}
            // Left by an earlier process with our pid: empty it before using it.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => sweep_cgroup_dir(&base),
            Err(e) => return Err(e),
        }
        // Delegate what our parent delegated to us, so each run can be bounded; a
        // controller that is missing leaves only the per-process limits.
        let available =
            std::fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
        let enable = |name: &str| {
            available.split_whitespace().any(|c| c == name)
                && std::fs::write(base.join("cgroup.subtree_control"), format!("+{name}")).is_ok()
        };
        let (memory, pids) = (enable("memory"), enable("pids"));
        Ok(Self { base, memory, pids })
    }
}

/// The pids of live first processes of runs ([`Leader`]), which a sweep never kills.
fn leaders() -> &'static Mutex<HashSet<i32>> {
    static LEADERS: OnceLock<Mutex<HashSet<i32>>> = OnceLock::new();
    LEADERS.get_or_init(Default::default)
}

fn lock_leaders() -> std::sync::MutexGuard<'static, HashSet<i32>> {
    // The set holds plain pids; one left half-updated by a panic is still a set of pids.
    leaders().lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` with the pids of the live first processes of runs, holding them so that no
/// run starts meanwhile.
pub(crate) fn with_leaders<R>(f: impl FnOnce(&HashSet<i32>) -> R) -> R {
    f(&lock_leaders())
}

/// While held, no sweep runs: a run holds it from before its fork until its first
/// process is registered, so a sweep cannot take a run just started for an escapee.
pub(crate) struct Spawning(#[allow(dead_code)] std::sync::MutexGuard<'static, HashSet<i32>>);

/// Call before forking a run's first process; register it with [`Spawning::register`].
pub(crate) fn spawning() -> Spawning {
    Spawning(lock_leaders())
}

impl Spawning {
    /// Marks `pid` as a run's live first process until the [`Leader`] is dropped.
    pub(crate) fn register(mut self, pid: i32) -> Leader {
        self.0.insert(pid);
        Leader { pid }
    }
}

/// A run's first process, registered while it runs.
pub(crate) struct Leader {
    pid: i32,
}

impl Drop for Leader {
    fn drop(&mut self) {
        lock_leaders().remove(&self.pid);
    }
}

/// One run's tree: its cgroup (when there is one). Ending it (or dropping it) kills
/// everything the run started.
#[derive(Debug)]
pub(crate) struct Tree {
    cgroup: Option<RunCgroup>,
    ended: bool,
}

#[derive(Debug)]
struct RunCgroup {
    path: PathBuf,
    /// `cgroup.procs`, opened before the fork; the child writes "0" to it to join.
    procs: OwnedFd,
}

/// What the child does to join its tree; `Copy`, made before the fork.
#[derive(Debug, Clone, Copy)]
pub struct Join {
    procs: Option<i32>,
    subreaper: bool,
}

impl Tree {
    /// A fresh tree for one run, bounded by `limits` as a whole where the cgroup
    /// controllers allow.
    pub(crate) fn create(limits: &Limits) -> Result<Self, SandboxError> {
        let cgroup = match tracking() {
            Tracking::Cgroup(hierarchy) => Some(RunCgroup::create(hierarchy, limits)?),
            _ => None,
        };
        Ok(Self {
            cgroup,
            ended: false,
        })
    }

    /// The child's part, for [`super::Entry`].
    pub(crate) fn join(&self) -> Join {
        Join {
            procs: self.cgroup.as_ref().map(|c| c.procs.as_raw_fd()),
            subreaper: matches!(tracking(), Tracking::Subreaper),
        }
    }

    /// Kills every process the run started and waits (bounded) until they are gone.
    /// Call after the run's first process has been reaped. Idempotent.
    pub(crate) fn end(&mut self) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        match (&self.cgroup, tracking()) {
            (Some(cgroup), _) => cgroup.kill_and_remove(),
            (None, Tracking::Subreaper) => kill_escaped_children(),
            _ => {}
        }
    }
}

impl Drop for Tree {
    /// A run dropped half-way (or never started): its cgroup is emptied and removed. The
    /// subreaper sweep is left to the next run's end, since a drop may come while this
    /// thread holds [`spawning`].
    fn drop(&mut self) {
        if let Some(cgroup) = self.cgroup.as_ref().filter(|_| !self.ended) {
            cgroup.kill_and_remove();
        }
    }
}

impl Join {
    /// Between fork and exec: joins the run's cgroup, or becomes a subreaper so what
    /// escapes its group stays below this process. System calls only.
    pub(crate) fn enter(self) -> io::Result<()> {
        if let Some(fd) = self.procs {
            // SAFETY: write(2) from a static buffer to an fd the parent keeps open.
            if unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } != 1 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: PR_SET_CHILD_SUBREAPER with 1 changes only this process's flag.
        if self.subreaper && unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl RunCgroup {
    fn create(hierarchy: &Hierarchy, limits: &Limits) -> Result<Self, SandboxError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = hierarchy
            .base
            .join(format!("run-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        let fail = |e: io::Error| SandboxError::Cgroup(path.clone(), e);
        std::fs::create_dir(&path).map_err(fail)?;
        let bounds = [
            (hierarchy.memory, "memory.max", limits.memory_bytes),
            (hierarchy.pids, "pids.max", limits.processes),
        ];
        for (delegated, file, value) in bounds {
            if let (true, Some(value)) = (delegated, value) {
                std::fs::write(path.join(file), value.to_string()).map_err(fail)?;
            }
        }
        let procs = std::fs::OpenOptions::new()
            .write(true)
            .open(path.join("cgroup.procs"))
            .map_err(fail)?;
        Ok(Self {
            path,
            procs: procs.into(),
        })
    }

    fn kill_and_remove(&self) {
        kill_cgroup(&self.path);
        if let Err(error) = std::fs::remove_dir(&self.path) {
            tracing::warn!(%error, cgroup = %self.path.display(), "cannot remove an agent run's cgroup; the next start removes it");
        }
    }
}

/// Kills everything in cgroup `dir` and waits (bounded) until it is empty.
fn kill_cgroup(dir: &Path) {
    let killed = std::fs::write(dir.join("cgroup.kill"), "1").is_ok();
    let deadline = Instant::now() + END_WAIT;
    for _ in 0..SWEEP_ROUNDS {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        let pids: Vec<i32> = procs
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if pids.is_empty() || Instant::now() >= deadline {
            if !pids.is_empty() {
                tracing::warn!(cgroup = %dir.display(), left = pids.len(), "agent processes survived the end of their run");
            }
            return;
        }
        // Before 5.14 there is no cgroup.kill: each listed process, round after round.
        if !killed {
            for pid in pids {
                // SAFETY: kill(2) only sends a signal.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Kills and removes every run cgroup under `dir` (a `harness-<pid>` directory), then
/// `dir` itself. For leftovers of a server that is gone.
pub(crate) fn sweep_cgroup_dir(dir: &Path) {
    if let Ok(runs) = std::fs::read_dir(dir) {
        for run in runs.filter_map(Result::ok).filter(|e| e.path().is_dir()) {
            kill_cgroup(&run.path());
            let _removed = std::fs::remove_dir(run.path());
        }
    }
    kill_cgroup(dir);
}

/// The `harness-<pid>` cgroups of servers that are gone, with the pids still in them.
/// Returns the processes it killed.
pub(crate) fn sweep_stale_cgroups() -> Vec<i32> {
    let Ok(own) = own_cgroup_dir() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&own) else {
        return Vec::new();
    };
    let mut killed = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("harness-"))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() as i32 || alive(pid) {
            continue; // ours, or another live server's
        }
        killed.extend(pids_below(&entry.path()));
        sweep_cgroup_dir(&entry.path());
        let _removed = std::fs::remove_dir(entry.path());
    }
    killed
}

fn pids_below(dir: &Path) -> Vec<i32> {
    let mut pids = Vec::new();
    let mut read = |d: &Path| {
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    };
    read(dir);
    if let Ok(runs) = std::fs::read_dir(dir) {
        for run in runs.filter_map(Result::ok).filter(|e| e.path().is_dir()) {
            read(&run.path());
        }
    }
    pids
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Subreaper mode, at the end of a run: SIGKILL and reap every agent process that is
/// our child and not the first process of a live run, round after round until none is
/// left (each round finds the children of the ones before, re-parented to us).
fn kill_escaped_children() {
    let leaders = lock_leaders();
    let me = std::process::id() as i32;
    let deadline = Instant::now() + END_WAIT;
    for _ in 0..SWEEP_ROUNDS {
        let escaped: Vec<i32> = children_of_me(me)
            .into_iter()
            .filter(|&pid| !leaders.contains(&pid) && is_agent(pid))
            .collect();
        if escaped.is_empty() {
            return;
        }
        for &pid in &escaped {
            // SAFETY: kill(2) only sends a signal.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for &pid in &escaped {
            reap(pid, deadline);
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    tracing::warn!(
        "agent processes kept appearing at the end of their run; the rest are left to the orphan sweep"
    );
}

/// Our children, from each thread's `/proc/self/task/<tid>/children` (a few small
/// reads, where a scan of /proc costs a read per process of the machine); from the
/// scan when the kernel lacks that file.
fn children_of_me(me: i32) -> Vec<i32> {
    let Ok(threads) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut children = Vec::new();
    for thread in threads.filter_map(Result::ok) {
        match std::fs::read_to_string(thread.path().join("children")) {
            Ok(list) => children.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            ),
            Err(_) => {
                return all_pids()
                    .into_iter()
                    .filter(|&pid| parent_of(pid) == Some(me))
                    .collect();
            }
        }
    }
    children
}

/// Waits for our child `pid` (killed) until `deadline`. It is not a child any other
/// code waits for: those are the registered first processes of runs, never swept.
fn reap(pid: i32, deadline: Instant) {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into our local.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if rc != 0 || Instant::now() >= deadline {
            return; // reaped, not our child (-1), or out of time
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_is_at_most_the_limit_and_recognisable() {
        for limit in [61, 64, 1024, 4096, 524_288, 1_048_576, 4093] {
            let mark = nofile_mark(limit);
            assert!(
                mark <= limit && limit - mark < MARK_MODULUS,
                "{limit} → {mark}"
            );
            assert_eq!(mark % MARK_MODULUS, MARK_RESIDUE);
        }
        assert_eq!(nofile_mark(4096), 4093);
        assert_eq!(nofile_mark(10), 10);
    }

    /// Whether `pid` still runs (a zombie has ended: only its parent's wait is missing).
    fn running(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| !s[s.rfind(')').unwrap() + 1..].trim_start().starts_with('Z'))
    }

    async fn escapees_of(script: &str) -> (Vec<i32>, String) {
        use crate::process::{CommandSpec, run};
        let dir = tempfile::tempdir().unwrap();
        let spec = CommandSpec::shell(script, dir.path());
        let mut out = String::new();
        let done = run(&spec, &tokio_util::sync::CancellationToken::new(), |l| {
            out.push_str(&l.text);
            out.push('\n');
        })
        .await
        .unwrap();
        assert!(done.termination.success(), "{out}");
        let pids = std::fs::read_to_string(dir.path().join("pids")).unwrap_or_default();
        let pids: Vec<i32> = pids
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        assert!(!pids.is_empty(), "{out}");
        (pids, out)
    }

    const ESCAPE: &str =
        "setsid -f sh -c 'echo $$ >> pids; exec sleep 1000' </dev/null >/dev/null 2>&1
setsid -f sh -c 'echo $$ >> pids; cd /; exec env -i /bin/sleep 1000' </dev/null >/dev/null 2>&1
sleep 0.3; ulimit -Hn";

    #[tokio::test]
    async fn what_leaves_its_group_dies_with_its_run_and_carries_the_mark() {
        let (pids, out) = escapees_of(ESCAPE).await;
        assert_eq!(out.trim(), nofile_mark(4096).to_string(), "{out}");
        for pid in pids {
            assert!(!running(pid), "escaped process {pid} outlived its run");
        }
        if let Tracking::Cgroup(hierarchy) = tracking() {
            let runs = std::fs::read_dir(&hierarchy.base)
                .unwrap()
                .filter_map(Result::ok);
            let left: Vec<_> = runs
                .filter(|e| e.path().is_dir())
                .map(|e| e.path())
                .collect();
            // Other tests may be running their own; none is left from this one only if
            // it was removed, which we cannot tell apart here: just no stale pids inside.
            for run in left {
                let procs = std::fs::read_to_string(run.join("cgroup.procs")).unwrap_or_default();
                assert!(!procs.contains("1000"), "{procs}");
            }
        }
    }

    /// Runs `script` with bash under `limits`, returning its output.
    async fn run_limited(limits: Limits, script: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = crate::process::CommandSpec::new("bash", ["-c", script], dir.path());
        spec.sandbox.limits = limits;
        spec.timeout = Some(Duration::from_secs(60));
        let cancel = tokio_util::sync::CancellationToken::new();
        crate::process::run(&spec, &cancel, |_| {})
            .await
            .unwrap()
            .tail
    }

    /// Whether this server bounds runs with `controller`: root on a host whose cgroup v2
    /// hierarchy has it (a host with the v1 controllers mounted, as a hybrid layout
    /// does, has none); says why not otherwise.
    fn bounded_by(controller: &str) -> bool {
        let delegated = match tracking() {
            Tracking::Cgroup(h) if controller == "memory" => h.memory,
            Tracking::Cgroup(h) => h.pids,
            _ => false,
        };
        if !delegated {
            eprintln!(
                "skipped: runs here have no cgroup v2 with the {controller} controller (not root, or the v1 controllers are mounted)"
            );
        }
        delegated
    }

    /// Processes each under the per-process memory limit, together over it: the run's
    /// `memory.max` stops them (the kernel kills one), which RLIMIT_DATA alone cannot.
    #[tokio::test]
    async fn a_runs_memory_is_bounded_as_a_whole() {
        if !bounded_by("memory") {
            return;
        }
        let limits = Limits {
            memory_bytes: Some(128 << 20),
            ..Limits::default()
        };
        let script = r#"pids=""
for i in 1 2 3 4 5; do
  perl -e '$x = "a" x (40 * 1024 * 1024); sleep 3' & pids="$pids $!"
done
for p in $pids; do wait $p; echo "status $?"; done"#;
        let out = run_limited(limits, script).await;
        assert!(out.contains("status 137"), "none was killed: {out}");
        // Alone, one such process fits.
        let alone = run_limited(
            limits,
            r#"perl -e '$x = "a" x (40 * 1024 * 1024)'; echo "status $?""#,
        )
        .await;
        assert!(alone.contains("status 0"), "{alone}");
    }

    /// As root, RLIMIT_NPROC does not apply; the run's `pids.max` still does.
    #[tokio::test]
    async fn a_runs_processes_are_bounded_as_a_whole() {
        if !bounded_by("pids") {
            return;
        }
        let limits = Limits {
            processes: Some(16),
            ..Limits::default()
        };
        let script = "started=0; for i in $(seq 40); do if sleep 2 & then started=$((started+1)); fi; done 2>/dev/null; echo \"running $(jobs -p | wc -l)\"";
        let out = run_limited(limits, script).await;
        let running: usize = out
            .lines()
            .find_map(|l| l.strip_prefix("running "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{out}"));
        assert!(
            running < 16,
            "{running} processes ran under pids.max 16: {out}"
        );
    }

    #[test]
    fn this_test_process_is_not_an_agent() {
        assert!(!is_agent(std::process::id() as i32));
        assert_eq!(
            parent_of(std::process::id() as i32),
            Some(
                // SAFETY: getppid has no arguments and cannot fail.
                unsafe { libc::getppid() },
            )
        );
    }
}
