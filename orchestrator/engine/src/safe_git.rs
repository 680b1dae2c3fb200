//! How the harness runs git: nothing a repository carries may run a program.
//!
//! An agent writes into the repository (its worktree, and with the sandbox off also the
//! shared `.git`). So every git command the harness runs gets:
//! - an empty environment plus a few fixed variables: no `GIT_*` from the server, no
//!   system or global config (`GIT_CONFIG_NOSYSTEM`, `GIT_CONFIG_GLOBAL=/dev/null`,
//!   `GIT_ATTR_NOSYSTEM`), and a HOME that is an empty private directory;
//! - `-c` overrides for every setting that starts a program: hooks, fsmonitor, ssh,
//!   askpass, credential helpers, external diff, gpg, and each filter, merge and diff
//!   driver the repository's config defines (a `.gitattributes` line only names a
//!   driver; the command comes from config, so emptying every configured one leaves
//!   nothing for an attribute to start);
//! - its own process group and a timeout that kills the group.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    time::Duration,
};

use super::process::signal_group;

/// Longest any single git command may run before its process group is killed, unless
/// `HARNESS_GIT_TIMEOUT_SECS` says otherwise ([`set_timeout`]).
pub const GIT_TIMEOUT: Duration = Duration::from_secs(300);

/// The timeout of [`run`], in milliseconds.
static TIMEOUT_MS: AtomicU64 = AtomicU64::new(GIT_TIMEOUT.as_secs() * 1000);

/// Sets the timeout of [`run`] from `HARNESS_GIT_TIMEOUT_SECS`, once at `harness serve`
/// startup, so one setting bounds every git command of the harness. (Landing passes the
/// engine's own value to [`run_within`], so an in-process test can set it per server.)
pub fn set_timeout(timeout: Duration) {
    let ms = u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    TIMEOUT_MS.store(ms, Ordering::Relaxed);
}

fn timeout() -> Duration {
    Duration::from_millis(TIMEOUT_MS.load(Ordering::Relaxed))
}

/// Overrides applied to every command: every setting that names a program git may start
/// is emptied or set to `false` (`/bin/false`, which does nothing). Command-line config
/// is read after the repository's, so these win over whatever an agent wrote there.
const SAFE_CONFIG: [&str; 29] = [
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.sshCommand=false",
    "core.askPass=",
    "core.attributesFile=/dev/null",
    "core.pager=cat",
    "core.editor=false",
    "core.gitProxy=",
    "core.alternateRefsCommand=",
    "sequence.editor=false",
    "credential.helper=",
    "diff.external=",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "push.gpgSign=false",
    // Verifying a signature starts the signature format's program.
    "log.showSignature=false",
    "merge.verifySignatures=false",
    "gpg.program=false",
    "gpg.openpgp.program=false",
    "gpg.x509.program=false",
    "gpg.ssh.program=false",
    "gpg.ssh.defaultKeyCommand=false",
    "protocol.allow=never",
    "gc.auto=0",
    "maintenance.auto=false",
    "submodule.recurse=false",
    "core.untrackedCache=false",
    // `pager.<command>` only runs on a terminal, which git never has here; and no
    // alias of the repository's can shadow a command the harness runs (git ignores
    // aliases named like built-in commands).
    "pager.log=false",
    "pager.diff=false",
];

/// Keys of the repository config that name a command started through an attribute.
const DRIVER_KEYS: &str =
    r"^(filter|merge|diff)\..+\.(clean|smudge|process|driver|command|textconv)$";

/// Why a git command did not produce an output.
#[derive(Debug, thiserror::Error)]
pub enum SafeGitError {
    #[error("cannot run git: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("git {args} did not finish in {secs}s; its process group was killed")]
    TimedOut { args: String, secs: f64 },
}

/// Runs `git -C dir <safe config> args…` with the safe environment plus `env`.
pub fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Output, SafeGitError> {
    run_within(dir, args, env, timeout())
}

/// [`run`] with its own timeout (`HARNESS_GIT_TIMEOUT_SECS` for landing).
pub fn run_within(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    timeout: Duration,
) -> Result<Output, SafeGitError> {
    let mut overrides: Vec<String> = SAFE_CONFIG.iter().map(|s| (*s).to_owned()).collect();
    if may_start_drivers(args) {
        overrides.extend(configured_drivers(dir, timeout)?);
    }
    run_with(dir, &overrides, args, env, timeout)
}

/// Commands that only read or move refs never read a file's attributes, so they need
/// no driver list (saving a git process each); anything else gets it.
fn may_start_drivers(args: &[&str]) -> bool {
    const REFS_ONLY: [&str; 8] = [
        "rev-parse",
        "symbolic-ref",
        "update-ref",
        "branch",
        "rev-list",
        "merge-base",
        "commit-tree",
        "config",
    ];
    match args {
        [first, ..] if REFS_ONLY.contains(first) => false,
        ["worktree", sub, ..] => !matches!(*sub, "list" | "prune" | "remove"),
        _ => true,
    }
}

/// `key=` for each filter, merge or diff driver command the repository configures, and
/// `filter.<name>.required=false` so an emptied filter is skipped, not an error.
fn configured_drivers(dir: &Path, timeout: Duration) -> Result<Vec<String>, SafeGitError> {
    let base: Vec<String> = SAFE_CONFIG.iter().map(|s| (*s).to_owned()).collect();
    let out = run_with(
        dir,
        &base,
        &["config", "--name-only", "--get-regexp", DRIVER_KEYS],
        &[],
        timeout,
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut overrides = Vec::new();
    for key in text.lines().map(str::trim).filter(|k| !k.is_empty()) {
        overrides.push(format!("{key}="));
        if let Some(name) = key
            .strip_prefix("filter.")
            .and_then(|rest| rest.rsplit_once('.'))
            .map(|(name, _)| name)
        {
            overrides.push(format!("filter.{name}.required=false"));
        }
    }
    Ok(overrides)
}

fn run_with(
    dir: &Path,
    overrides: &[String],
    args: &[&str],
    env: &[(&str, &str)],
    timeout: Duration,
) -> Result<Output, SafeGitError> {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new("git");
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
        .env("HOME", empty_home())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_ATTR_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        // Keep messages in a parseable language.
        .env("LC_ALL", "C")
        .envs(env.iter().copied())
        .arg("-C")
        .arg(dir);
    for o in overrides {
        command.arg("-c").arg(o);
    }
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let child = command.spawn()?;
    let pgid = i32::try_from(child.id()).unwrap_or(0);
    let (done, watchdog) = mpsc::channel::<()>();
    let killer = std::thread::spawn(move || {
        let timed_out = matches!(
            watchdog.recv_timeout(timeout),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        if timed_out {
            signal_group(pgid, libc::SIGKILL);
        }
        timed_out
    });
    // Reads both pipes without threads; returns once git and anything holding its
    // pipes is gone, which the watchdog guarantees within `timeout`.
    let output = child.wait_with_output();
    // The watchdog stops listening only once it timed out and killed git.
    let _ = done.send(());
    let timed_out = killer.join().unwrap_or(false);
    let output = output?;
    if timed_out {
        return Err(SafeGitError::TimedOut {
            args: args.join(" "),
            secs: timeout.as_secs_f64(),
        });
    }
    Ok(output)
}

/// An empty directory of our own for HOME, so nothing under the person's home is read.
/// One per user, reused across runs; anything else there (not a directory of ours, not
/// empty, a symlink) and git gets a HOME that does not exist instead.
/// `git <safe config> <extra -c overrides>` with the safe environment, for a caller that
/// streams its input and output itself (the git smart HTTP endpoint runs
/// `git http-backend` this way). The caller adds its own variables, stdio and timeout;
/// the child is killed when the returned command's child is dropped.
pub fn streaming_command(extra: &[String]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("git");
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
        .env("HOME", empty_home())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_ATTR_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .kill_on_drop(true)
        .process_group(0);
    for o in SAFE_CONFIG
        .iter()
        .map(|s| (*s).to_owned())
        .chain(extra.iter().cloned())
    {
        command.arg("-c").arg(o);
    }
    command
}

fn empty_home() -> PathBuf {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        // SAFETY: getuid has no arguments and cannot fail.
        let uid = unsafe { libc::getuid() };
        let path = std::env::temp_dir().join(format!("harness-git-home-{uid}"));
        // It may exist already (an earlier run); whatever is there is checked below.
        let _ = std::fs::DirBuilder::new().mode(0o500).create(&path);
        let ours = std::fs::symlink_metadata(&path)
            .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o022 == 0)
            && std::fs::read_dir(&path).is_ok_and(|mut d| d.next().is_none());
        if ours {
            path
        } else {
            PathBuf::from("/nonexistent")
        }
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_that_touch_files_get_the_driver_overrides() {
        assert!(may_start_drivers(&["add", "-A"]));
        assert!(may_start_drivers(&["merge", "--ff-only"]));
        assert!(may_start_drivers(&["worktree", "add", "-B", "b", "p", "c"]));
        assert!(!may_start_drivers(&["worktree", "list", "--porcelain"]));
        assert!(!may_start_drivers(&["rev-parse", "HEAD"]));
    }

    #[test]
    fn a_command_over_its_timeout_is_killed_with_its_group() {
        let dir = std::env::temp_dir();
        // `git -c alias…` cannot sleep, so run a shell alias: aliases starting with `!`
        // are shell commands, and the safe config leaves aliases alone on purpose here.
        let overrides = vec!["alias.nap=!sleep 30".to_owned()];
        let started = std::time::Instant::now();
        let err =
            run_with(&dir, &overrides, &["nap"], &[], Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, SafeGitError::TimedOut { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    /// An executable that leaves `marks/<name>` behind when anything runs it.
    fn tripwire(tools: &Path, marks: &Path, name: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = tools.join(name);
        let script = format!("#!/bin/sh\ntouch '{}/{name}'\nexit 1\n", marks.display());
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }

    fn marks(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// A repository whose config names a planted program for every program-valued key,
    /// with a commit signed in each of git's three signature formats on `main`.
    fn planted_repo(root: &Path, marks: &Path) -> PathBuf {
        let repo = root.join("repo");
        let tools = root.join("tools");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(&tools).unwrap();
        let plain = |args: &[&str]| {
            let out = run_with(&repo, &[], args, &[], GIT_TIMEOUT).unwrap();
            assert!(out.status.success(), "{args:?}: {out:?}");
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        plain(&["init", "-q", "-b", "main"]);
        plain(&["config", "user.name", "t"]);
        plain(&["config", "user.email", "t@t"]);
        std::fs::write(repo.join("file.txt"), "first\n").unwrap();
        plain(&["add", "file.txt"]);
        plain(&["commit", "-q", "-m", "first"]);
        let tree = plain(&["rev-parse", "HEAD^{tree}"]);
        let mut parent = plain(&["rev-parse", "HEAD"]);
        for (kind, armor) in [
            ("openpgp", "PGP SIGNATURE"),
            ("x509", "SIGNED MESSAGE"),
            ("ssh", "SSH SIGNATURE"),
        ] {
            let body = format!(
                "tree {tree}\nparent {parent}\nauthor t <t@t> 0 +0000\ncommitter t <t@t> 0 +0000\n\
                 gpgsig -----BEGIN {armor}-----\n AAAA\n -----END {armor}-----\n\n{kind}\n"
            );
            let file = root.join(format!("{kind}.commit"));
            std::fs::write(&file, body).unwrap();
            parent = plain(&["hash-object", "-t", "commit", "-w", &file.to_string_lossy()]);
        }
        plain(&["update-ref", "refs/heads/main", &parent]);
        let signers = root.join("allowed_signers");
        std::fs::write(&signers, "").unwrap();
        plain(&[
            "config",
            "gpg.ssh.allowedSignersFile",
            &signers.to_string_lossy(),
        ]);
        plain(&["config", "log.showSignature", "true"]);
        plain(&["config", "merge.verifySignatures", "true"]);
        for key in [
            "core.sshCommand",
            "core.askPass",
            "core.editor",
            "core.pager",
            "core.gitProxy",
            "core.alternateRefsCommand",
            "sequence.editor",
            "credential.helper",
            "diff.external",
            "gpg.program",
            "gpg.openpgp.program",
            "gpg.x509.program",
            "gpg.ssh.program",
            "gpg.ssh.defaultKeyCommand",
            "pager.log",
            "core.fsmonitor",
        ] {
            plain(&["config", key, &tripwire(&tools, marks, key)]);
        }
        std::fs::write(repo.join("file.txt"), "changed\n").unwrap();
        repo
    }

    #[test]
    fn program_valued_config_in_the_repository_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let marks_dir = dir.path().join("marks");
        std::fs::create_dir(&marks_dir).unwrap();
        let repo = planted_repo(dir.path(), &marks_dir);
        // Without the overrides git does run them: the planted config is live.
        let _ = run_with(&repo, &[], &["log", "-4"], &[], GIT_TIMEOUT).unwrap();
        let _ = run_with(&repo, &[], &["diff"], &[], GIT_TIMEOUT).unwrap();
        let remote = ["ls-remote", "ssh://example.invalid/x"];
        let _ = run_with(&repo, &[], &remote, &[], GIT_TIMEOUT).unwrap();
        let ran = marks(&marks_dir);
        for key in [
            "gpg.openpgp.program",
            "gpg.x509.program",
            "gpg.ssh.program",
            "diff.external",
            "core.sshCommand",
        ] {
            assert!(ran.iter().any(|k| k == key), "{key} did not run: {ran:?}");
        }
        for entry in std::fs::read_dir(&marks_dir).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        let commands: [&[&str]; 9] = [
            &["log", "-4"],
            &["log", "--show-signature", "-4"],
            &["show", "HEAD"],
            &["diff"],
            &["status"],
            &["add", "-A"],
            &["commit", "-q", "-m", "safe"],
            &["merge", "HEAD~1"],
            &["ls-remote", "ssh://example.invalid/x"],
        ];
        for args in commands {
            let _ = run(&repo, args, &[]).unwrap();
        }
        assert_eq!(marks(&marks_dir), Vec::<String>::new());
    }
}
