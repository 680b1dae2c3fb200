//! The Landlock rules of one agent process: which directories it may read, write and
//! execute, which TCP ports it may connect to, and its scope (signals, abstract sockets).
//!
//! Everything not listed is denied, so the data directory, the database, the person's
//! home and other worktrees need no rule of their own: they are simply not granted.

use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, Scope,
};

use super::{Network, SandboxConfig, SandboxError};
use crate::worktree_git::WorktreeGit;

/// System directories every agent may read and execute, when they exist.
const SYSTEM_READ: [&str; 10] = [
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc",
    "/nix/store",
    "/sys",
];

/// Why an agent confined by `config` could not execute `program` (a resolved path), or
/// `None` when it can: the program itself, and the interpreter its `#!` line names
/// (`#!/usr/bin/env node` finds `node` on PATH), must lie in a directory agents may
/// read and execute. Checked before a session starts, so an agent whose CLI is
/// installed outside those directories shows as unconfigured instead of failing at
/// every start.
pub fn unreachable_program(config: &SandboxConfig, program: &Path) -> Option<String> {
    let granted: Vec<PathBuf> = SYSTEM_READ
        .iter()
        .map(PathBuf::from)
        .chain(config.read_paths.iter().cloned())
        .chain(config.write_paths.iter().cloned())
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    let mut needed = vec![program.to_path_buf()];
    needed.extend(interpreter(program));
    needed.into_iter().find_map(|path| {
        let real = path.canonicalize().ok()?;
        if granted.iter().any(|dir| real.starts_with(dir)) {
            return None;
        }
        let dir = real.parent().unwrap_or(&real).display().to_string();
        Some(format!(
            "{} is in {dir}, which agents may not read: add {dir} to HARNESS_AGENT_READ_PATHS",
            real.display()
        ))
    })
}

/// The program a script's `#!` line runs, found on PATH for `/usr/bin/env NAME`.
fn interpreter(script: &Path) -> Option<PathBuf> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(script).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = String::from_utf8_lossy(line);
    let mut words = line.lines().next()?.split_whitespace();
    let first = PathBuf::from(words.next()?);
    if first.file_name().is_some_and(|n| n == "env") {
        let name = words.find(|w| !w.starts_with('-'))?;
        crate::cli_runtime::find_program(name)
    } else {
        Some(first)
    }
}

/// The parts of /proc tools read about the machine, granted instead of /proc as a whole
/// when the server runs as root. An unprivileged server is non-dumpable, so agents of
/// the same user cannot open its `/proc/<pid>/environ`, `mem` or `fd`; root passes that
/// check (CAP_SYS_PTRACE), and Landlock does not stop it either on the kernels we tried.
/// So as root no process directory is granted, not even the agent's own (`/dev/stdin`
/// and `/proc/self` then fail inside the agent: one more reason not to run as root).
const PROC_READ: [&str; 11] = [
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/loadavg",
    "/proc/uptime",
    "/proc/version",
    "/proc/filesystems",
    "/proc/sys/kernel",
    "/proc/sys/vm",
    "/proc/sys/fs",
    "/proc/sys/net",
];

/// The device nodes an agent may read and write. Chromium is told to keep its shared
/// memory out of /dev/shm (`--disable-dev-shm-usage`, in its private temp dir instead).
const DEV_NODES: [&str; 5] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// The directories granted to one process, by kind.
#[derive(Debug)]
pub(super) struct Plan {
    /// Read, write, create, remove, execute.
    full: Vec<PathBuf>,
    /// Read and execute.
    read: Vec<PathBuf>,
    /// Read only, no execute: the repository's git data.
    data: Vec<PathBuf>,
}

impl Plan {
    /// `worktree` and `private` are writable; the rest comes from the system list, the
    /// settings, and the git data the worktree's own `git` commands need.
    /// With `private_proc`, the process mounts a `/proc` of its own and grants it itself
    /// (pidns.rs): nothing of the host's `/proc` is granted.
    pub(super) fn new(
        worktree: &Path,
        private: &Path,
        config: &SandboxConfig,
        private_proc: bool,
    ) -> Self {
        let mut plan = Self {
            full: vec![worktree.to_path_buf(), private.to_path_buf()],
            read: SYSTEM_READ.iter().map(PathBuf::from).collect(),
            data: Vec::new(),
        };
        match (private_proc, is_root()) {
            // The process grants its own /proc once it mounted it (pidns.rs).
            (true, _) => {}
            (false, true) => plan.read.extend(PROC_READ.iter().map(PathBuf::from)),
            (false, false) => plan.read.push(PathBuf::from("/proc")),
        }
        plan.full.extend(config.write_paths.iter().cloned());
        plan.read.extend(
            config
                .read_paths
                .iter()
                .filter(|p| !(private_proc && p.starts_with("/proc")))
                .cloned(),
        );
        plan.read.extend(resolver_dir());
        // The agent's own `git` reads the shared `.git` and writes only its worktree's
        // admin directory (index, HEAD): no refs, no objects, so it cannot move any
        // branch, its own included. The harness commits its work, outside the sandbox.
        if let Some(git) = config
            .workspace
            .as_deref()
            .and_then(|ws| WorktreeGit::of(ws, worktree))
        {
            plan.data.push(git.common);
            plan.full.push(git.admin);
        }
        plan
    }

    /// The ruleset for kernel ABI `abi`, returned as its file descriptor.
    pub(super) fn ruleset(
        &self,
        abi: i32,
        network: &Network,
    ) -> Result<std::os::fd::OwnedFd, SandboxError> {
        let abi = ABI::from(abi);
        let err = |path: &Path, e: &dyn std::fmt::Display| SandboxError::Rules {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let all = AccessFs::from_all(abi);
        let read_exec = AccessFs::from_read(abi);
        let read_only = read_exec & !AccessFs::Execute;
        let mut ruleset = Ruleset::default()
            .handle_access(all)
            .map_err(|e| err(Path::new("/"), &e))?;
        let ports = match network {
            Network::Open => None,
            Network::None => Some(Vec::new()),
            Network::Ports(ports) => Some(ports.clone()),
        };
        if ports.is_some() && abi >= ABI::V4 {
            ruleset = ruleset
                .handle_access(AccessNet::ConnectTcp)
                .map_err(|e| err(Path::new("network"), &e))?;
        }
        if abi >= ABI::V6 {
            ruleset = ruleset
                .scope(Scope::from_all(abi))
                .map_err(|e| err(Path::new("scope"), &e))?;
        }
        let mut created = ruleset.create().map_err(|e| err(Path::new("/"), &e))?;
        let groups: [(&[PathBuf], BitFlags<AccessFs>); 3] = [
            (&self.full, all),
            (&self.read, read_exec),
            (&self.data, read_only),
        ];
        for (paths, access) in groups {
            for path in paths {
                created = add_path(created, path, access).map_err(|e| err(path, &e))?;
            }
        }
        // Of /dev, only the nodes every tool uses, read and written in place: no
        // terminal (/dev/tty, /dev/pts), no other processes' /dev/shm files, no /dev/kmsg.
        let dev = read_only | (all & AccessFs::WriteFile);
        for node in DEV_NODES {
            let node = Path::new(node);
            created = add_path(created, node, dev).map_err(|e| err(node, &e))?;
        }
        for port in ports.unwrap_or_default() {
            created = created
                .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
                .map_err(|e| err(Path::new("network"), &e))?;
        }
        let fd: Option<std::os::fd::OwnedFd> = created.into();
        fd.ok_or_else(|| err(Path::new("/"), &"the kernel returned no ruleset"))
    }
}

/// Whether the server runs as root.
fn is_root() -> bool {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Adds `path` (skipped when it does not exist) with `access`; a file gets only the
/// rights that apply to files.
fn add_path(
    created: landlock::RulesetCreated,
    path: &Path,
    access: BitFlags<AccessFs>,
) -> Result<landlock::RulesetCreated, landlock::RulesetError> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(created);
    };
    let Ok(fd) = PathFd::new(path) else {
        return Ok(created);
    };
    let access = if meta.is_dir() {
        access
    } else {
        access & AccessFs::from_file(ABI::V7)
    };
    created.add_rule(PathBeneath::new(fd, access))
}

/// Where `/etc/resolv.conf` really lives (`/run/systemd/resolve` on many systems), so
/// name resolution works.
fn resolver_dir() -> Option<PathBuf> {
    let real = std::fs::canonicalize("/etc/resolv.conf").ok()?;
    let dir = real.parent()?;
    (!dir.starts_with("/etc")).then(|| dir.to_path_buf())
}
