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
    pub(super) fn new(worktree: &Path, private: &Path, config: &SandboxConfig) -> Self {
        let mut plan = Self {
            full: vec![worktree.to_path_buf(), private.to_path_buf()],
            read: SYSTEM_READ.iter().map(PathBuf::from).collect(),
            data: Vec::new(),
        };
        // SAFETY: geteuid has no arguments and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            plan.read.extend(PROC_READ.iter().map(PathBuf::from));
        } else {
            plan.read.push(PathBuf::from("/proc"));
        }
        plan.full.extend(config.write_paths.iter().cloned());
        plan.read.extend(config.read_paths.iter().cloned());
        plan.read.extend(resolver_dir());
        // The agent's own `git` reads the shared `.git` and writes only its worktree's
        // admin directory (index, HEAD): no refs, no objects, so it cannot move any
        // branch, its own included. The harness commits its work, outside the sandbox.
        if let Some(git) = config
            .workspace
            .as_deref()
            .and_then(|ws| GitData::of(ws, worktree))
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
        // /dev: read, and write to existing nodes (/dev/null, a tty); never create any.
        let dev = read_only | (all & (AccessFs::WriteFile | AccessFs::IoctlDev));
        created =
            add_path(created, Path::new("/dev"), dev).map_err(|e| err(Path::new("/dev"), &e))?;
        for port in ports.unwrap_or_default() {
            created = created
                .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
                .map_err(|e| err(Path::new("network"), &e))?;
        }
        let fd: Option<std::os::fd::OwnedFd> = created.into();
        fd.ok_or_else(|| err(Path::new("/"), &"the kernel returned no ruleset"))
    }
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

/// The git data of a linked worktree the harness created, found from the harness's own
/// records only: the workspace it was configured with and the worktree path it chose.
///
/// Nothing the agent can write is read to decide what to grant: the worktree's `.git`
/// file and its admin directory's `commondir` and `HEAD` are the agent's to change, and
/// an agent that points them elsewhere (`gitdir: fake`, `commondir` = `/`) must not be
/// handed that elsewhere on its next command.
#[derive(Debug, PartialEq, Eq)]
struct GitData {
    /// The repository's shared `.git`: readable, never writable (config, hooks, refs,
    /// objects).
    common: PathBuf,
    /// `.git/worktrees/<name>`: this worktree's HEAD, index and logs, the one place the
    /// agent's own `git` writes.
    admin: PathBuf,
}

impl GitData {
    /// `None` when `worktree` is not a linked worktree of `workspace`'s repository as git
    /// registered it; the agent then gets no git data at all (its `git` fails, the
    /// harness's own git, outside the sandbox, still works).
    fn of(workspace: &Path, worktree: &Path) -> Option<Self> {
        let common = common_dir(workspace)?;
        let worktree = worktree.canonicalize().ok()?;
        let name = worktree.file_name()?.to_str()?;
        let admin = registered_admin(&common.join("worktrees"), name, &worktree)?;
        Some(Self { common, admin })
    }
}

/// The repository's shared git directory for `workspace` (or the nearest directory above
/// it holding `.git`). The workspace is the person's checkout, outside every worktree,
/// so its `.git` (and, when the workspace is itself a linked worktree, that worktree's
/// `commondir`) is out of every agent's reach.
fn common_dir(workspace: &Path) -> Option<PathBuf> {
    let workspace = workspace.canonicalize().ok()?;
    let dot_git = workspace
        .ancestors()
        .map(|dir| dir.join(".git"))
        .find(|p| std::fs::symlink_metadata(p).is_ok())?;
    if std::fs::symlink_metadata(&dot_git).ok()?.is_dir() {
        return Some(dot_git);
    }
    let text = std::fs::read_to_string(&dot_git).ok()?;
    let base = dot_git.parent()?;
    let admin = base
        .join(text.trim().strip_prefix("gitdir:")?.trim())
        .canonicalize()
        .ok()?;
    match std::fs::read_to_string(admin.join("commondir")) {
        Ok(rel) => admin.join(rel.trim()).canonicalize().ok(),
        // A `.git` file without `commondir`: a submodule's own git directory.
        Err(_) => Some(admin),
    }
}

/// The admin directory git made for `worktree` under `worktrees` (the shared `.git`'s
/// `worktrees/`, which no agent can write): `<name>`, or `<name><n>` when git had to
/// pick another name, and only a real directory whose `gitdir` names this worktree.
fn registered_admin(worktrees: &Path, name: &str, worktree: &Path) -> Option<PathBuf> {
    let names_this_worktree = |admin: &Path| -> bool {
        let is_dir = std::fs::symlink_metadata(admin).is_ok_and(|m| m.is_dir());
        let Ok(text) = std::fs::read_to_string(admin.join("gitdir")) else {
            return false;
        };
        // `gitdir` is `<worktree>/.git`, absolute or (worktree.useRelativePaths)
        // relative to the admin directory.
        let recorded = admin.join(text.trim());
        let parent = recorded.parent().and_then(|p| p.canonicalize().ok());
        is_dir
            && recorded.file_name() == Some(".git".as_ref())
            && parent.as_deref() == Some(worktree)
    };
    let exact = worktrees.join(name);
    if names_this_worktree(&exact) {
        return Some(exact);
    }
    let mut renamed: Vec<PathBuf> = std::fs::read_dir(worktrees)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| {
            let entry_name = entry.file_name();
            let entry_name = entry_name.to_string_lossy();
            entry_name.strip_prefix(name).is_some_and(|suffix| {
                !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit())
            })
        })
        .map(|entry| entry.path())
        .filter(|admin| names_this_worktree(admin))
        .collect();
    renamed.sort();
    renamed.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    /// A repository `repo` with a linked worktree `worktrees/T-1`.
    fn repo_with_worktree() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let repo = root.join("repo");
        std::fs::create_dir(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["commit", "-q", "--allow-empty", "-m", "x"]);
        let worktree = root.join("worktrees/T-1");
        git(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "harness/T-1",
                &worktree.to_string_lossy(),
            ],
        );
        (dir, repo, worktree)
    }

    #[test]
    fn the_git_data_comes_from_the_workspace_not_from_the_worktrees_own_files() {
        let (_dir, repo, worktree) = repo_with_worktree();
        let expected = GitData {
            common: repo.join(".git"),
            admin: repo.join(".git/worktrees/T-1"),
        };
        assert_eq!(GitData::of(&repo, &worktree), Some(expected));
        // The agent rewrites its `.git` and plants a `commondir` pointing at `/`.
        std::fs::create_dir(worktree.join("fake")).unwrap();
        std::fs::write(worktree.join(".git"), "gitdir: fake\n").unwrap();
        std::fs::write(worktree.join("fake/commondir"), "/\n").unwrap();
        std::fs::write(repo.join(".git/worktrees/T-1/commondir"), "/\n").unwrap();
        let planted = GitData::of(&repo, &worktree).unwrap();
        assert_eq!(planted.common, repo.join(".git"));
        assert_eq!(planted.admin, repo.join(".git/worktrees/T-1"));
    }

    #[test]
    fn a_directory_git_did_not_register_gets_no_git_data() {
        let (dir, repo, _worktree) = repo_with_worktree();
        let stranger = dir.path().join("worktrees/T-2");
        std::fs::create_dir_all(&stranger).unwrap();
        std::fs::write(
            stranger.join(".git"),
            "gitdir: ../../repo/.git/worktrees/T-1\n",
        )
        .unwrap();
        assert_eq!(GitData::of(&repo, &stranger), None);
        // A second worktree named `T-1` elsewhere: git names its admin directory
        // `T-1<n>`, and `T-1`'s admin (which names the first worktree) is not granted.
        let other = dir.path().join("elsewhere/T-1");
        git(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "harness/x",
                &other.to_string_lossy(),
            ],
        );
        let data = GitData::of(&repo, &other).unwrap();
        assert_eq!(
            data.admin.parent(),
            Some(repo.join(".git/worktrees").as_path())
        );
        assert_ne!(data.admin, repo.join(".git/worktrees/T-1"));
    }
}
