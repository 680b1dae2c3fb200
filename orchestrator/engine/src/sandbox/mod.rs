//! The agent sandbox: every process the harness starts for an agent (`run_command`,
//! CLI agents, verification commands) runs confined, from an allow-listed environment.
//!
//! Confinement needs no root and no container engine:
//! - Landlock ([`rules`]): write only the worktree and a private temp dir, read the
//!   worktree, the repository's git data, and system and toolchain paths; nothing of the
//!   data directory, the database, other worktrees or the person's home. With ABI 4 a TCP
//!   connect policy, with ABI 6 no signals or abstract sockets to processes outside.
//! - Resource limits ([`limits`]) per process, inherited by everything it starts.
//! - The environment ([`env`]) starts empty; only an allow-list passes.
//! - Its own session, so no controlling terminal: `/dev/tty` is not the person's.
//! - No capabilities ([`privileges`]), even when the server runs as root.
//! - A system-call filter ([`seccomp`]): no terminal injection, no Unix, raw or packet
//!   sockets, no ptrace, mount, namespaces, kernel modules or keyrings.
//!
//! [`SandboxConfig::prepare`] does all the work that allocates or opens files before the
//! fork; [`Prepared::enter`] runs in the child between fork and exec and only makes
//! system calls. [`harden_server`] makes the server non-dumpable at startup, so its
//! `/proc/<pid>/environ` and memory are unreadable to the agents it starts.

pub mod check;
mod env;
mod limits;
pub mod net;
pub mod pidns;
mod privileges;
mod rules;
mod seccomp;
mod spawner;
pub(crate) mod tree;

use std::{
    ffi::OsString,
    os::fd::{AsRawFd, OwnedFd},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

pub use env::{AGENT_MARKER, EnvPolicy, default_toolchain_paths, harness_secret};
pub use limits::Limits;
pub use rules::unreachable_program;

/// What to do when Landlock is missing or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Agents do not run without confinement: they are `unconfigured`, with the reason.
    #[default]
    Require,
    /// Agents run unconfined, with a warning at startup and on every agent.
    Warn,
    /// No Landlock at all. Said at startup. The environment policy, the limits, the
    /// process's own session, the dropped capabilities and the system-call filter still
    /// apply: they need no kernel feature that could be missing.
    Off,
}

impl Mode {
    /// Parses `require`, `warn` or `off`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "require" => Some(Self::Require),
            "warn" => Some(Self::Warn),
            "off" => Some(Self::Off),
            _ => None,
        }
    }

    /// The setting's text, as [`Mode::parse`] reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Require => "require",
            Self::Warn => "warn",
            Self::Off => "off",
        }
    }
}

/// Outbound TCP an agent may open (enforced with Landlock ABI 4 or later).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Network {
    /// No restriction.
    #[default]
    Open,
    /// No outbound TCP connection at all.
    None,
    /// Only to these ports.
    Ports(Vec<u16>),
}

impl Network {
    /// Parses `open`, `none`, or a comma-separated port list like `443,80`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "open" => Some(Self::Open),
            "none" => Some(Self::None),
            list => list
                .split(',')
                .map(|p| p.trim().parse::<u16>().ok().filter(|&p| p > 0))
                .collect::<Option<Vec<_>>>()
                .filter(|ports| !ports.is_empty())
                .map(Self::Ports),
        }
    }
}

/// How agents are confined. One value for the whole server, from the settings.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub mode: Mode,
    pub network: Network,
    /// Extra directories agents may read and execute (toolchains).
    pub read_paths: Vec<PathBuf>,
    /// Extra directories agents may write (caches the person accepts sharing).
    pub write_paths: Vec<PathBuf>,
    pub env: EnvPolicy,
    pub limits: Limits,
    /// The workspace repository the harness made its worktrees from (its own record, from
    /// the settings). An agent whose worktree git registered under this repository may
    /// read the repository's `.git` and write its worktree's admin directory; the
    /// worktree's own `.git` file, which the agent can rewrite, is never consulted.
    pub workspace: Option<PathBuf>,
    /// For tests only (`HARNESS_SANDBOX_ASSUME_ABI`): the Landlock ABI to assume instead
    /// of asking the kernel; 0 means "this kernel has no Landlock". Never set it in
    /// production: with a value above the kernel's, agents fail to start.
    pub assume_abi: Option<i32>,
    /// More ports no agent may connect to, beside the server's own
    /// (`HARNESS_AGENT_CLOSED_PORTS`): a gateway that proxies to the API (`harness
    /// dashboard` on another port), another service of the person's.
    pub closed_ports: Vec<u16>,
    /// The harness's own ports and `closed_ports`, which no agent may connect to
    /// ([`net::PortGuard`]); set once the server has bound them
    /// ([`SandboxConfig::guard_ports`]).
    pub guard: Option<Arc<net::PortGuard>>,
    /// Whether agents get their own network namespace, and their egress allow-list.
    pub netns: net::NetnsSettings,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            mode: Mode::default(),
            network: Network::default(),
            read_paths: env::default_toolchain_paths(),
            write_paths: Vec::new(),
            env: EnvPolicy::default(),
            limits: Limits::default(),
            workspace: None,
            assume_abi: None,
            closed_ports: Vec::new(),
            guard: None,
            netns: net::NetnsSettings::default(),
        }
    }
}

/// What the kernel offers, probed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Landlock with this ABI version.
    Landlock(i32),
    /// The kernel has no Landlock (older than 5.13, or built without it).
    Missing,
    /// The kernel has it but it is disabled (boot parameter `lsm=`).
    Disabled,
    /// A seccomp filter (a container runtime's profile) refused the call.
    Refused(i32),
}

impl Support {
    /// Asks the kernel for its Landlock ABI version.
    pub fn probe() -> Self {
        // SAFETY: LANDLOCK_CREATE_RULESET_VERSION with a null attr only returns a number.
        let v = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<u8>(),
                0usize,
                1u32, // LANDLOCK_CREATE_RULESET_VERSION
            )
        };
        if v > 0 {
            return Self::Landlock(v as i32);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EOPNOTSUPP) => Self::Disabled,
            Some(libc::ENOSYS) => Self::Missing,
            other => Self::Refused(other.unwrap_or(0)),
        }
    }

    /// A sentence for logs and the agents' `status_reason`.
    pub fn describe(self) -> String {
        match self {
            Self::Landlock(abi) => format!("Landlock ABI {abi}"),
            Self::Missing => "this kernel has no Landlock (Linux 5.13 or later is needed)".into(),
            Self::Disabled => {
                "Landlock is disabled in this kernel (add landlock to the lsm= boot parameter)"
                    .into()
            }
            Self::Refused(errno) => format!(
                "the Landlock system calls are refused (errno {errno}), likely by a container's seccomp profile; see docs/SECURITY.md"
            ),
        }
    }
}

/// Whether agents may run under `config` on this kernel, and with what caveat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Confined as configured.
    Confined,
    /// Runs, but the person must know: the text says what is missing.
    Unconfined(String),
    /// Must not run: the text says why and what to set.
    Refused(String),
}

impl SandboxConfig {
    /// What the kernel offers ([`Support::probe`]), or what `assume_abi` says in tests.
    pub fn support(&self) -> Support {
        match self.assume_abi {
            Some(abi) if abi > 0 => Support::Landlock(abi),
            Some(_) => Support::Missing,
            None => Support::probe(),
        }
    }

    /// Decides once per probe whether agents can run. `Require` refuses a kernel without
    /// Landlock, and a network policy the kernel cannot enforce.
    pub fn readiness(&self, support: Support) -> Readiness {
        if self.mode == Mode::Off {
            return Readiness::Unconfined(
                "HARNESS_SANDBOX=off: agents run without Landlock confinement".into(),
            );
        }
        let problem = match support {
            Support::Landlock(abi) if abi < 4 && self.network != Network::Open => Some(format!(
                "HARNESS_AGENT_NETWORK needs Landlock ABI 4 (Linux 6.7), this kernel has ABI {abi}"
            )),
            Support::Landlock(_) => None,
            other => Some(other.describe()),
        };
        match (problem, self.mode) {
            (None, _) => Readiness::Confined,
            (Some(p), Mode::Require) => Readiness::Refused(format!(
                "agents run only confined and {p}; set HARNESS_SANDBOX=warn to run them unconfined"
            )),
            (Some(p), _) => {
                Readiness::Unconfined(format!("agents run UNCONFINED (HARNESS_SANDBOX=warn): {p}"))
            }
        }
    }

    /// Whether agent processes run in their worktree's own network namespace, where the
    /// only way out is the egress proxy on `127.0.0.1:`[`net::netns::PROXY_PORT`].
    pub fn agents_have_netns(&self) -> bool {
        let support = self.support();
        let abi = match (self.readiness(support), support) {
            (Readiness::Confined, Support::Landlock(abi)) => Some(abi),
            _ => None,
        };
        self.netns_on(abi)
    }

    /// Whether a process confined with Landlock ABI `abi` (`None`: not confined) joins
    /// its worktree's network namespace: an open network, where agents get one.
    fn netns_on(&self, abi: Option<i32>) -> bool {
        abi.is_some()
            && self.network == Network::Open
            && self.guard.as_ref().is_some_and(|g| g.netns_in_force())
    }

    /// Builds the guard that keeps agents off `ports` (the server's own, known after it
    /// bound them) and `closed_ports`, and says at startup whether it holds. Once per
    /// server: the ruleset has a rule per port and every spawn shares it.
    pub fn guard_ports(&mut self, ports: &[u16]) -> Result<(), SandboxError> {
        let all: Vec<u16> = ports.iter().chain(&self.closed_ports).copied().collect();
        let guard = net::PortGuard::new(&all, net::abi_of(self.support()), &self.netns)?;
        guard.announce();
        self.guard = Some(Arc::new(guard));
        Ok(())
    }

    /// Everything the child needs, made before the fork: the private temp dir, the
    /// environment, the Landlock ruleset, the network namespace and the limits. `cwd` is
    /// the writable worktree; `scope` the worktree whose network namespace the process
    /// joins (its `cwd`, except for the browser, which runs in its profile). Where it
    /// can, the command is forked from its worktree's spawner thread, already inside the
    /// Landlock domains (spawner.rs), and shares its private dir.
    pub fn prepare(
        &self,
        cwd: &Path,
        scope: &Path,
        extra_env: &[(String, String)],
    ) -> Result<Prepared, SandboxError> {
        let support = self.support();
        let abi = match (self.readiness(support), support) {
            (Readiness::Confined, Support::Landlock(abi)) => Some(abi),
            (Readiness::Refused(reason), _) => return Err(SandboxError::Refused(reason)),
            // `off` or `warn`: unconfined, as the startup log and the agents say.
            _ => None,
        };
        let network = match &self.guard {
            Some(guard) => guard.narrow(&self.network),
            None => self.network.clone(),
        };
        // In its worktree's namespace with a /proc of its own (pidns.rs), a process mounts
        // that /proc and adds it to its own ruleset before entering it, so it is not
        // forked from a spawner thread already inside a domain.
        let netns_on = self.netns_on(abi);
        let private_proc = netns_on && self.guard.as_ref().is_some_and(|g| g.private_proc());
        let lease = match abi {
            Some(abi) if !private_proc => {
                spawner::Spawners::global().lease(cwd, self, abi, &network)
            }
            _ => None,
        };
        let private = match &lease {
            Some(lease) => lease.private.clone(),
            None => Arc::new(PrivateDir::create()?),
        };
        let mut env = self.env.build(&private.tmp(), &private.home(), extra_env);
        let ruleset = match (abi, &lease) {
            (Some(abi), None) => {
                let plan = rules::Plan::new(cwd, private.path(), self, private_proc);
                Some(plan.ruleset(abi, &network)?)
            }
            _ => None,
        };
        // An open network: the worktree's own namespace where agents get one
        // (net/netns.rs), so the host's loopback is out of reach and egress goes through
        // the harness's proxy.
        let netns = match &self.guard {
            Some(guard) if netns_on => guard.namespace(scope, &self.netns.egress, &mut env)?,
            _ => None,
        };
        let pidns = match abi {
            Some(abi) if private_proc => Some(pidns::Entry::new(
                ruleset.as_ref().map(AsRawFd::as_raw_fd),
                abi,
            )),
            _ => None,
        };
        // Else a confined child is forked from the guard's thread, so it starts inside
        // the domain that keeps it off the harness's ports (net.rs says why not per spawn).
        let guard = match netns {
            Some(_) => None,
            None => ruleset.as_ref().and(self.guard.clone()),
        };
        Ok(Prepared {
            env,
            ruleset,
            guard,
            netns,
            pidns,
            lease,
            limits: self.limits.raw(),
            tree: tree::Tree::create(&self.limits)?,
            privileges: privileges::Privileges::prepare(),
            seccomp: seccomp::programs(seccomp::UnixSockets::Refused)?,
            _private: private,
        })
    }
}

/// Why an agent process was not started.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the agent sandbox cannot start: {0}")]
    Refused(String),
    #[error("cannot create the agent's private temp dir: {0}")]
    PrivateDir(#[source] std::io::Error),
    #[error("cannot build the Landlock rules for {path}: {message}")]
    Rules { path: PathBuf, message: String },
    #[error("cannot create the agent's cgroup {0}: {1}")]
    Cgroup(PathBuf, #[source] std::io::Error),
    #[error("cannot build the agent's system-call filter: {0}")]
    Seccomp(String),
}

impl From<SandboxError> for std::io::Error {
    fn from(e: SandboxError) -> Self {
        std::io::Error::new(std::io::ErrorKind::PermissionDenied, e.to_string())
    }
}

/// One process's confinement, ready to enter after the fork.
#[derive(Debug)]
pub struct Prepared {
    env: Vec<(OsString, OsString)>,
    ruleset: Option<OwnedFd>,
    /// Forks the child inside the domain that keeps it off the harness's ports.
    guard: Option<Arc<net::PortGuard>>,
    /// The worktree's network namespace, held while the process runs.
    netns: Option<Arc<net::netns::Shared>>,
    /// A PID namespace and `/proc` of its own, in that namespace.
    pidns: Option<pidns::Entry>,
    /// Forks the child from its worktree's spawner thread, inside its domains.
    lease: Option<spawner::Lease>,
    limits: limits::Raw,
    /// Every process the child starts; killed by [`Prepared::end`], or when dropped.
    tree: tree::Tree,
    privileges: privileges::Privileges,
    seccomp: &'static seccomp::Programs,
    /// Removed when the process has ended and this is dropped (a spawner's, when the
    /// spawner has ended too).
    _private: Arc<PrivateDir>,
}

impl Prepared {
    /// The whole environment of the child (it starts from an empty one).
    pub fn env(&self) -> &[(OsString, OsString)] {
        &self.env
    }

    /// Starts `command` (whose `pre_exec` enters [`Prepared::entry`]): forked from its
    /// worktree's spawner thread, or from the port guard's thread when there is one, so
    /// the child inherits their domains.
    pub fn spawn(
        &self,
        command: tokio::process::Command,
    ) -> std::io::Result<tokio::process::Child> {
        match (&self.lease, &self.guard) {
            (Some(lease), _) => lease.spawn(command),
            (None, Some(guard)) => guard.spawn(command),
            (None, None) => {
                let mut command = command;
                command.spawn()
            }
        }
    }

    /// Lets the process create Unix sockets, which the system-call filter otherwise
    /// refuses (Landlock does not confine a connect to a path-named socket, such as
    /// docker.sock). For Chromium only, which aborts without its singleton socket.
    pub(crate) fn allow_unix_sockets(&mut self) -> Result<(), SandboxError> {
        self.seccomp = seccomp::programs(seccomp::UnixSockets::Allowed)?;
        Ok(())
    }

    /// The raw values [`enter`] needs; `Copy`, so the `pre_exec` closure owns them.
    pub fn entry(&self) -> Entry {
        Entry {
            ruleset: self.ruleset.as_ref().map(AsRawFd::as_raw_fd),
            netns: self.netns.as_deref().map(net::netns::Shared::join),
            pidns: self.pidns,
            signals: self.lease.as_ref().map(|lease| lease.filter),
            limits: self.limits,
            tree: self.tree.join(),
            privileges: self.privileges,
            seccomp: self.seccomp,
        }
    }

    /// Kills everything the child started, wherever it went (its own session, another
    /// directory, an empty environment), and waits a bounded time for it to be gone.
    /// Call once the child itself has been reaped.
    pub fn end(&mut self) {
        self.tree.end();
    }
}

/// What the child applies to itself between fork and exec.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    ruleset: Option<i32>,
    netns: Option<net::netns::Join>,
    pidns: Option<pidns::Entry>,
    /// Forked from a spawner thread: keeps the child from signalling that thread.
    signals: Option<spawner::SignalFilter>,
    limits: limits::Raw,
    tree: tree::Join,
    privileges: privileges::Privileges,
    seccomp: &'static seccomp::Programs,
}

impl Entry {
    /// Limits, its own session, no capabilities, no-new-privileges, Landlock, and the
    /// system-call filter last (it refuses calls the steps before it make). Only system
    /// calls, nothing allocates: this runs in the forked child of a multi-threaded process.
    pub fn enter(self) -> std::io::Result<()> {
        self.limits.apply()?;
        self.tree.enter()?;
        // A new session has no controlling terminal: `/dev/tty` is nobody's, and no
        // ioctl reaches the terminal the server runs in. Its id is the child's pid, so
        // the process group the harness kills (`-pid`) is this session's first group.
        // SAFETY: setsid takes no arguments; it fails only for a group leader, and the
        // forked child is not one.
        if unsafe { libc::setsid() } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // Its worktree's network namespace, while it still has the capabilities to join.
        if let Some(netns) = &self.netns {
            netns.enter()?;
        }
        // Its own PID namespace and /proc (pidns.rs): from here on this is the command,
        // two forks below the process the harness waits for.
        if let Some(pidns) = self.pidns {
            pidns.enter()?;
        }
        self.privileges.drop_all()?;
        // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers. Always set: seccomp needs it.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if let Some(fd) = self.ruleset {
            // SAFETY: `fd` is the ruleset the parent created and keeps open until the
            // spawn returns; the call takes plain integers.
            if unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        if let Some(signals) = &self.signals {
            signals.install()?;
        }
        self.seccomp.install()
    }
}

/// A private directory per agent process: `tmp/` (TMPDIR) and `home/` (HOME).
#[derive(Debug)]
struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    fn create() -> Result<Self, SandboxError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        use std::os::unix::fs::DirBuilderExt;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "harness-agent-{}-{n}-{nanos:x}",
            std::process::id()
        ));
        // `create` (not `create_all`) fails if the name exists: nobody can pre-plant it.
        let mut builder = std::fs::DirBuilder::new();
        builder.mode(0o700);
        builder.create(&path).map_err(SandboxError::PrivateDir)?;
        let dir = Self { path };
        for sub in ["tmp", "home"] {
            builder
                .create(dir.path.join(sub))
                .map_err(SandboxError::PrivateDir)?;
        }
        Ok(dir)
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn tmp(&self) -> PathBuf {
        self.path.join("tmp")
    }

    fn home(&self) -> PathBuf {
        self.path.join("home")
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        // remove_dir_all does not follow symlinks the agent may have planted inside.
        if let Err(err) = std::fs::remove_dir_all(&self.path)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%err, path = %self.path.display(), "cannot remove a command's private temp dir");
        }
    }
}

/// At server startup: makes the server non-dumpable and says how agents will run.
pub fn announce(config: &SandboxConfig) {
    if let Err(e) = harden_server() {
        tracing::warn!(error = %e, "cannot mark the server non-dumpable; agents may read its memory and environment through /proc");
    }
    let support = config.support();
    match config.readiness(support) {
        Readiness::Confined => tracing::info!(
            kernel = %support.describe(),
            network = ?config.network,
            "agents run confined (Landlock, resource limits, allow-listed environment)"
        ),
        Readiness::Unconfined(reason) => tracing::warn!(%reason, "agent sandbox"),
        Readiness::Refused(reason) => {
            tracing::error!(%reason, "agent sandbox: agents will not run")
        }
    }
}

/// Marks the server non-dumpable: its `/proc/<pid>/environ`, `mem` and `fd` become
/// unreadable to processes of the same user (its agents), and no core dump is written.
pub fn harden_server() -> std::io::Result<()> {
    // SAFETY: PR_SET_DUMPABLE with 0 changes only this process's flag.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_setting_parses_open_none_and_port_lists() {
        assert_eq!(Network::parse("open"), Some(Network::Open));
        assert_eq!(Network::parse(" NONE "), Some(Network::None));
        assert_eq!(
            Network::parse("443, 80"),
            Some(Network::Ports(vec![443, 80]))
        );
        assert_eq!(Network::parse("443,x"), None);
        assert_eq!(Network::parse("0"), None);
        assert_eq!(Network::parse(""), None);
    }

    #[test]
    fn require_refuses_a_kernel_without_landlock_and_warn_says_so() {
        let mut config = SandboxConfig::default();
        assert!(matches!(
            config.readiness(Support::Missing),
            Readiness::Refused(r) if r.contains("HARNESS_SANDBOX=warn")
        ));
        config.mode = Mode::Warn;
        assert!(matches!(
            config.readiness(Support::Refused(libc::EPERM)),
            Readiness::Unconfined(r) if r.contains("UNCONFINED") && r.contains("seccomp")
        ));
        config.mode = Mode::Require;
        assert_eq!(config.readiness(Support::Landlock(1)), Readiness::Confined);
    }

    #[test]
    fn a_network_policy_needs_abi_4() {
        let config = SandboxConfig {
            network: Network::None,
            ..SandboxConfig::default()
        };
        assert!(matches!(
            config.readiness(Support::Landlock(3)),
            Readiness::Refused(r) if r.contains("ABI 4")
        ));
        assert_eq!(config.readiness(Support::Landlock(4)), Readiness::Confined);
    }

    #[test]
    fn the_private_dir_is_removed_when_dropped() {
        let dir = PrivateDir::create().unwrap();
        let path = dir.path().to_path_buf();
        assert!(path.join("tmp").is_dir() && path.join("home").is_dir());
        drop(dir);
        assert!(!path.exists());
    }
}
