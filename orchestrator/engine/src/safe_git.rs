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
const SAFE_CONFIG: [(&str, &str); 29] = [
    ("core.hooksPath", "/dev/null"),
    ("core.fsmonitor", "false"),
    ("core.sshCommand", "false"),
    ("core.askPass", ""),
    ("core.attributesFile", "/dev/null"),
    ("core.pager", "cat"),
    ("core.editor", "false"),
    ("core.gitProxy", ""),
    ("core.alternateRefsCommand", ""),
    ("sequence.editor", "false"),
    ("credential.helper", ""),
    ("diff.external", ""),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("push.gpgSign", "false"),
    // Verifying a signature starts the signature format's program.
    ("log.showSignature", "false"),
    ("merge.verifySignatures", "false"),
    ("gpg.program", "false"),
    ("gpg.openpgp.program", "false"),
    ("gpg.x509.program", "false"),
    ("gpg.ssh.program", "false"),
    ("gpg.ssh.defaultKeyCommand", "false"),
    ("protocol.allow", "never"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("submodule.recurse", "false"),
    ("core.untrackedCache", "false"),
    // `pager.<command>` only runs on a terminal, which git never has here; and no
    // alias of the repository's can shadow a command the harness runs (git ignores
    // aliases named like built-in commands).
    ("pager.log", "false"),
    ("pager.diff", "false"),
];

/// Keys of the repository config that name a command started through an attribute.
const DRIVER_KEYS: &str =
    r"^(filter|merge|diff)\..+\.(clean|smudge|process|driver|command|textconv)$";

/// At most this many driver keys are emptied; a repository configuring more is refused
/// (the overrides travel in the environment, which has a size limit of its own).
const MAX_DRIVER_KEYS: usize = 1000;

/// One config override: a key and its value, never joined into a splittable `key=value`.
type Override = (String, String);

/// Why a git command did not produce an output.
#[derive(Debug, thiserror::Error)]
pub enum SafeGitError {
    #[error("cannot run git: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("git {args} did not finish in {secs}s; its process group was killed")]
    TimedOut { args: String, secs: f64 },
    /// The repository's driver configuration could not be listed, so it could not be
    /// emptied: the command is not run at all rather than run with it live.
    #[error("cannot list the repository's filter, diff and merge drivers: {0}")]
    Drivers(String),
}

/// Runs `git -C dir args…` with the safe environment and config plus `env`.
pub fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Output, SafeGitError> {
    run_within(dir, args, env, timeout())
}

/// [`run`] with its own timeout (`HARNESS_GIT_TIMEOUT_SECS` for landing).
pub(crate) fn run_within(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    timeout: Duration,
) -> Result<Output, SafeGitError> {
    run_fed(dir, args, env, None, timeout)
}

/// [`run_within`] with `input` written to git's standard input (`cat-file --batch`).
pub(crate) fn run_with_input(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    input: Vec<u8>,
    timeout: Duration,
) -> Result<Output, SafeGitError> {
    run_fed(dir, args, env, Some(input), timeout)
}

fn run_fed(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    input: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<Output, SafeGitError> {
    let mut overrides = safe_config();
    if may_start_drivers(args) {
        // Listed with the same environment as the command itself: with the recorded
        // `GIT_DIR`, the worktree's own `.git` (which the agent may have pointed at a
        // config of its own) is read by neither.
        overrides.extend(configured_drivers(dir, env, timeout)?);
    }
    run_with(dir, &overrides, args, env, input, timeout)
}

fn safe_config() -> Vec<Override> {
    SAFE_CONFIG
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
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

/// `key` = empty for each filter, merge or diff driver command the repository
/// configures (every scope git reads with `env`, includes too), and
/// `filter.<name>.required` = `false` so an emptied filter is skipped, not an error.
/// Names are read NUL-separated and passed back whole, so a driver whose name holds
/// `=` or a newline is emptied like any other.
fn configured_drivers(
    dir: &Path,
    env: &[(&str, &str)],
    timeout: Duration,
) -> Result<Vec<Override>, SafeGitError> {
    let args = ["config", "-z", "--name-only", "--get-regexp", DRIVER_KEYS];
    let out = run_with(dir, &safe_config(), &args, env, None, timeout)?;
    // 1: no key matched. Anything else is a config git could not read; the command
    // itself would likely fail too, but it must not run with drivers nobody listed.
    if !matches!(out.status.code(), Some(0 | 1)) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(SafeGitError::Drivers(stderr.trim().to_owned()));
    }
    driver_overrides(&out.stdout)
}

/// The overrides for the NUL-separated key names of `git config -z --name-only`.
fn driver_overrides(listed: &[u8]) -> Result<Vec<Override>, SafeGitError> {
    let keys: Vec<String> = listed
        .split(|b| *b == 0)
        .filter(|k| !k.is_empty())
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    if keys.len() > MAX_DRIVER_KEYS {
        return Err(SafeGitError::Drivers(format!(
            "{} driver keys configured, more than the {MAX_DRIVER_KEYS} the harness empties",
            keys.len()
        )));
    }
    let mut overrides = Vec::with_capacity(keys.len() * 2);
    for key in keys {
        let filter = key
            .strip_prefix("filter.")
            .and_then(|rest| rest.rsplit_once('.'))
            .map(|(name, _)| format!("filter.{name}.required"));
        overrides.push((key, String::new()));
        if let Some(required) = filter {
            overrides.push((required, "false".to_owned()));
        }
    }
    Ok(overrides)
}

/// The safe environment of every git the harness starts: nothing of the server's, no
/// system or global config, and `overrides` as `GIT_CONFIG_COUNT` / `GIT_CONFIG_KEY_<n>`
/// / `GIT_CONFIG_VALUE_<n>` (git 2.31+): unlike `-c key=value`, which git splits at the
/// first `=`, a key passed this way is taken whole whatever it contains. Git reads these
/// after every config file, and hands them on to the git processes it starts.
///
/// A caller's own `GIT_CONFIG_COUNT` / `KEY` / `VALUE` in `env` (a worker passes its
/// credential's `http.extraHeader` that way, out of every argument list) are kept, as
/// the first overrides: the safe ones come after them and win.
fn safe_env(command: &mut Command, env: &[(&str, &str)], overrides: &[Override]) {
    let (env, mut all) = caller_config(env);
    all.extend_from_slice(overrides);
    let overrides = all;
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
        // Last, so nothing in `env` can replace them.
        .env("GIT_CONFIG_COUNT", overrides.len().to_string());
    for (n, (key, value)) in overrides.iter().enumerate() {
        command
            .env(format!("GIT_CONFIG_KEY_{n}"), key)
            .env(format!("GIT_CONFIG_VALUE_{n}"), value);
    }
}

/// Splits the caller's config overrides (`GIT_CONFIG_COUNT` and its numbered keys and
/// values) from the rest of `env`.
fn caller_config<'a>(env: &[(&'a str, &'a str)]) -> (Vec<(&'a str, &'a str)>, Vec<Override>) {
    let lookup = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let count = lookup("GIT_CONFIG_COUNT")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_DRIVER_KEYS);
    let overrides = (0..count)
        .filter_map(|n| {
            let key = lookup(&format!("GIT_CONFIG_KEY_{n}"))?;
            let value = lookup(&format!("GIT_CONFIG_VALUE_{n}")).unwrap_or_default();
            Some((key.to_owned(), value.to_owned()))
        })
        .collect();
    let rest = env
        .iter()
        .filter(|(k, _)| {
            *k != "GIT_CONFIG_COUNT"
                && !k.starts_with("GIT_CONFIG_KEY_")
                && !k.starts_with("GIT_CONFIG_VALUE_")
        })
        .copied()
        .collect();
    (rest, overrides)
}

fn run_with(
    dir: &Path,
    overrides: &[Override],
    args: &[&str],
    env: &[(&str, &str)],
    input: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<Output, SafeGitError> {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new("git");
    safe_env(&mut command, env, overrides);
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn()?;
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
    // The input is written from its own thread while the output is read here, so a git
    // that answers before it has read everything cannot block on a full pipe. The
    // watchdog's kill closes the pipe, which ends the writer too.
    let writer = child.stdin.take().zip(input).map(|(mut stdin, input)| {
        std::thread::spawn(move || {
            use std::io::Write;
            // A git that stops reading (it failed, or was killed) ends the write; its
            // exit status and stderr say why.
            let _ = stdin.write_all(&input);
        })
    });
    // Reads both pipes without threads; returns once git and anything holding its
    // pipes is gone, which the watchdog guarantees within `timeout`.
    let output = child.wait_with_output();
    if let Some(writer) = writer {
        // Fails only if the writer panicked, and it only writes to a pipe whose errors
        // it drops: there is nothing to report.
        let _ = writer.join();
    }
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

/// `git` with the safe environment and config plus `extra` overrides (passed the same
/// unsplittable way), for a caller that streams its input and output itself (the git
/// smart HTTP endpoint runs `git http-backend` this way). The caller adds its own
/// variables, stdio and timeout; the child is killed when the returned command's child
/// is dropped.
pub fn streaming_command(extra: &[(String, String)]) -> tokio::process::Command {
    let mut overrides = safe_config();
    overrides.extend_from_slice(extra);
    let mut std_command = Command::new("git");
    safe_env(&mut std_command, &[], &overrides);
    let mut command = tokio::process::Command::from(std_command);
    command.kill_on_drop(true).process_group(0);
    command
}

/// An empty directory of our own for HOME, so nothing under the person's home is read.
/// One per user, reused across runs; anything else there (not a directory of ours, not
/// empty, a symlink) and git gets a HOME that does not exist instead.
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
        let overrides = vec![("alias.nap".to_owned(), "!sleep 30".to_owned())];
        let started = std::time::Instant::now();
        let err = run_with(
            &dir,
            &overrides,
            &["nap"],
            &[],
            None,
            Duration::from_millis(300),
        )
        .unwrap_err();
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
            let out = run_with(&repo, &[], args, &[], None, GIT_TIMEOUT).unwrap();
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
        let _ = run_with(&repo, &[], &["log", "-4"], &[], None, GIT_TIMEOUT).unwrap();
        let _ = run_with(&repo, &[], &["diff"], &[], None, GIT_TIMEOUT).unwrap();
        let remote = ["ls-remote", "ssh://example.invalid/x"];
        let _ = run_with(&repo, &[], &remote, &[], None, GIT_TIMEOUT).unwrap();
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

    #[test]
    fn driver_names_are_read_whole_and_filters_made_optional() {
        let listed = b"filter.a=b.clean\0diff.x\ny.textconv\0merge.m.driver\0";
        let overrides = driver_overrides(listed).unwrap();
        let pairs: Vec<(&str, &str)> = overrides
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("filter.a=b.clean", ""),
                ("filter.a=b.required", "false"),
                ("diff.x\ny.textconv", ""),
                ("merge.m.driver", ""),
            ]
        );
        let many = "filter.f.clean\0".repeat(MAX_DRIVER_KEYS + 1);
        let err = driver_overrides(many.as_bytes()).unwrap_err();
        assert!(matches!(err, SafeGitError::Drivers(_)), "{err}");
    }

    /// A repository with a tracked `file.txt` whose attributes name `filter` and `diff`
    /// drivers called `name`, each a tripwire; `file.txt` is then changed.
    fn repo_with_driver(root: &Path, marks: &Path, name: &str) -> PathBuf {
        let repo = root.join("repo");
        let tools = root.join("tools");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(&tools).unwrap();
        let plain = |args: &[&str]| {
            let out = run_with(&repo, &[], args, &[], None, GIT_TIMEOUT).unwrap();
            assert!(out.status.success(), "{args:?}: {out:?}");
        };
        plain(&["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("file.txt"), "first\n").unwrap();
        plain(&["add", "file.txt"]);
        plain(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "x",
        ]);
        std::fs::write(
            repo.join(".gitattributes"),
            format!("* filter={name} diff={name}\n"),
        )
        .unwrap();
        for (key, tool) in [
            ("clean", "clean"),
            ("smudge", "smudge"),
            ("textconv", "conv"),
        ] {
            let section = if key == "textconv" { "diff" } else { "filter" };
            let program = tripwire(&tools, marks, tool);
            plain(&["config", &format!("{section}.{name}.{key}"), &program]);
        }
        std::fs::write(repo.join("file.txt"), "changed\n").unwrap();
        repo
    }

    #[test]
    fn a_driver_whose_name_holds_an_equals_sign_is_emptied_too() {
        let dir = tempfile::tempdir().unwrap();
        let marks_dir = dir.path().join("marks");
        std::fs::create_dir(&marks_dir).unwrap();
        let repo = repo_with_driver(dir.path(), &marks_dir, "a=b");
        // As `-c filter.a=b.clean=` the key would be `filter.a` and the filter live:
        // the same override passed that way (the old way) leaves it running.
        let split = [
            "-c",
            "filter.a=b.clean=",
            "-c",
            "filter.a=b.required=false",
            "add",
            "-A",
        ];
        let split = run_with(&repo, &[], &split, &[], None, GIT_TIMEOUT).unwrap();
        assert!(split.status.success(), "{split:?}");
        assert_eq!(marks(&marks_dir), ["clean"]);
        std::fs::remove_file(marks_dir.join("clean")).unwrap();
        std::fs::write(repo.join("file.txt"), "again\n").unwrap();
        for args in [
            &["status", "--porcelain"][..],
            &["diff", "--textconv"],
            &["add", "-A"],
            &["diff", "--cached", "--textconv"],
        ] {
            // An emptied textconv makes `diff --textconv` fail (git tries to start
            // ""): failing is fine, running the planted program is not.
            let _ = run(&repo, args, &[]).unwrap();
        }
        assert_eq!(marks(&marks_dir), Vec::<String>::new());
    }

    #[test]
    fn the_drivers_are_listed_from_the_git_data_the_command_uses() {
        let dir = tempfile::tempdir().unwrap();
        let marks_dir = dir.path().join("marks");
        std::fs::create_dir(&marks_dir).unwrap();
        let repo = repo_with_driver(dir.path(), &marks_dir, "evil");
        // The repository is reached only through GIT_DIR / GIT_WORK_TREE, from a
        // directory that is no repository at all: the listing must see its config.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let git_dir = repo.join(".git");
        let env = [
            ("GIT_DIR", git_dir.to_str().unwrap()),
            ("GIT_WORK_TREE", repo.to_str().unwrap()),
        ];
        let out = run(&elsewhere, &["add", "-A"], &env).unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(marks(&marks_dir), Vec::<String>::new());
    }

    #[test]
    fn an_unreadable_config_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let marks_dir = dir.path().join("marks");
        std::fs::create_dir(&marks_dir).unwrap();
        let repo = repo_with_driver(dir.path(), &marks_dir, "evil");
        let config = repo.join(".git/config");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str("[broken\n");
        std::fs::write(&config, text).unwrap();
        let err = run(&repo, &["add", "-A"], &[]).unwrap_err();
        assert!(matches!(err, SafeGitError::Drivers(_)), "{err}");
        assert_eq!(marks(&marks_dir), Vec::<String>::new());
    }

    #[test]
    fn input_reaches_git_and_its_answer_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        let out = run(repo, &["init", "-q"], &[]).unwrap();
        assert!(out.status.success(), "{out:?}");
        // Larger than a pipe's buffer, so writing and reading must overlap.
        let input = vec![b'x'; 1 << 20];
        let out =
            run_with_input(repo, &["hash-object", "--stdin"], &[], input, GIT_TIMEOUT).unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim().len(), 40);
    }

    #[test]
    fn a_callers_own_config_overrides_are_kept_and_the_safe_ones_win() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        assert!(run(repo, &["init", "-q"], &[]).unwrap().status.success());
        let env = [
            ("GIT_CONFIG_COUNT", "2"),
            ("GIT_CONFIG_KEY_0", "http.extraHeader"),
            ("GIT_CONFIG_VALUE_0", "Authorization: Bearer x"),
            ("GIT_CONFIG_KEY_1", "core.hooksPath"),
            ("GIT_CONFIG_VALUE_1", "/tmp"),
        ];
        let read = |key: &str| {
            let out = run(repo, &["config", "--get", key], &env).unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        assert_eq!(read("http.extraHeader"), "Authorization: Bearer x");
        assert_eq!(read("core.hooksPath"), "/dev/null");
    }
}
