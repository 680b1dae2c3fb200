//! `harness check-sandbox`: starts one confined process exactly the way agents are
//! started and has it try the ways out, so a person (or the container test) can see on
//! their own kernel and container runtime what the sandbox stops.

use std::{fmt::Write as _, path::Path, time::Duration};

use tokio_util::sync::CancellationToken;

use super::{Readiness, SandboxConfig, harden_server};
use crate::process::{self, CommandSpec};

/// One attempt and whether it must fail.
struct Probe {
    what: &'static str,
    command: String,
    must_fail: bool,
}

/// What the check found: a report to print, and whether every escape failed.
#[derive(Debug)]
pub struct CheckReport {
    pub text: String,
    pub passed: bool,
}

/// Runs the probes against `data_dir` (the real one: it must be out of reach) from a
/// scratch worktree beside a scratch "other worktree".
pub async fn check(config: &SandboxConfig, data_dir: &Path) -> std::io::Result<CheckReport> {
    // As the server does at startup (announce), so the probes meet what agents meet.
    if let Err(err) = harden_server() {
        tracing::warn!(%err, "cannot mark this process non-dumpable; the /proc probes may escape");
    }
    let support = config.support();
    let mut text = format!("kernel: {}\n", support.describe());
    let readiness = config.readiness(support);
    // Writing to a String cannot fail (here and in run_probes).
    let _ = writeln!(text, "sandbox: {readiness:?}");
    if readiness != Readiness::Confined {
        return Ok(CheckReport {
            text,
            passed: false,
        });
    }
    let scratch = std::env::temp_dir().join(format!("harness-check-{}", std::process::id()));
    let worktree = scratch.join("worktrees/T-1");
    let other = scratch.join("worktrees/T-2");
    std::fs::create_dir_all(&worktree)?;
    std::fs::create_dir_all(&other)?;
    std::fs::write(other.join("secret.txt"), "another task")?;
    let result = run_probes(config, &worktree, data_dir, &mut text).await;
    if let Err(err) = std::fs::remove_dir_all(&scratch) {
        tracing::warn!(%err, path = %scratch.display(), "cannot remove the check's scratch directory");
    }
    let passed = result?;
    Ok(CheckReport { text, passed })
}

fn probes(data_dir: &Path) -> Vec<Probe> {
    let d = data_dir.display();
    let fail = |what, command: String| Probe {
        what,
        command,
        must_fail: true,
    };
    vec![
        fail(
            "read the server's environment",
            "cat /proc/$PPID/environ".into(),
        ),
        fail(
            "read the server's memory map",
            "cat /proc/$PPID/maps".into(),
        ),
        fail("signal the server", "kill -0 $PPID".into()),
        fail("list the data directory", format!("ls '{d}'")),
        fail(
            "write in the data directory",
            format!("touch '{d}/.sandbox-check'"),
        ),
        fail("read the database", format!("cat '{d}/harness.db'")),
        fail("read another worktree", "cat ../T-2/secret.txt".into()),
        // Other agents' private dirs, and in the container the secrets' files.
        fail("list the shared temp dir", "ls \"$TMPDIR/../..\"".into()),
        fail("write outside with ..", "echo x > ../escape".into()),
        fail(
            "write through a symlink",
            "ln -s .. up && echo x > up/escape".into(),
        ),
        fail("write a system file", "echo x >> /etc/hostname".into()),
        // Its own session: no controlling terminal, and /dev holds no terminal anyway.
        fail("open the terminal", "true > /dev/tty".into()),
        fail("read other processes' /dev/shm", "ls /dev/shm".into()),
        fail(
            "read the kernel log",
            "timeout 5 head -c 1 /dev/kmsg".into(),
        ),
        fail(
            "allocate past the memory limit",
            "awk 'BEGIN { s = \"x\"; while (length(s) < 2^33) s = s s }'".into(),
        ),
        Probe {
            what: "write in the worktree and TMPDIR",
            command: "echo ok > inside && echo ok > \"$TMPDIR/t\"".into(),
            must_fail: false,
        },
    ]
}

async fn run_probes(
    config: &SandboxConfig,
    worktree: &Path,
    data_dir: &Path,
    text: &mut String,
) -> std::io::Result<bool> {
    let mut config = config.clone();
    // Small enough that the memory probe ends quickly.
    config.limits.memory_bytes = Some(256 << 20);
    let mut passed = true;
    for probe in probes(data_dir) {
        let mut spec = CommandSpec::shell(&probe.command, worktree);
        spec.sandbox = config.clone();
        spec.timeout = Some(Duration::from_secs(30));
        let finished = process::run(&spec, &CancellationToken::new(), |_| {}).await?;
        let failed = !finished.termination.success();
        let ok = failed == probe.must_fail;
        passed &= ok;
        let verdict = match (ok, probe.must_fail) {
            (true, true) => "blocked",
            (true, false) => "allowed",
            (false, true) => "ESCAPED",
            (false, false) => "FAILED",
        };
        let _ = writeln!(text, "{verdict:>8}  {}", probe.what);
    }
    Ok(passed)
}
