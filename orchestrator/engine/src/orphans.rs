//! Agent processes left behind by a crash of the orchestrator.
//!
//! A CLI agent runs in its own process group, so when the orchestrator dies with
//! `kill -9` the agent (and whatever it started) keeps running in its old worktree.
//! At startup nothing of ours runs yet, so a process whose working directory is inside
//! our worktrees directory AND whose environment carries the sandbox's agent marker
//! ([`AGENT_MARKER`], set on every agent process) is such an orphan: its group is
//! stopped. A person's shell or editor in a worktree has no marker and is left alone;
//! matching on both, not on a stored pid, means a reused pid is never hit.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use super::{
    process::{group_alive, signal_group},
    sandbox::AGENT_MARKER,
};

/// Stops the process groups of every process working under `dir`. Returns their
/// group ids. Linux only (reads /proc); elsewhere it finds nothing.
pub async fn reap(dir: &Path, grace: Duration) -> Vec<i32> {
    reap_except(dir, None, grace).await
}

/// [`reap`], sparing what works under `spare` (the `process` executor's workers, which
/// outlive the orchestrator and are re-adopted or swept by the scheduler).
pub async fn reap_except(dir: &Path, spare: Option<&Path>, grace: Duration) -> Vec<i32> {
    let Ok(dir) = dir.canonicalize() else {
        return Vec::new();
    };
    let spare = spare.and_then(|s| s.canonicalize().ok());
    let groups = groups_working_in(&dir, spare.as_deref());
    for &pgid in &groups {
        signal_group(pgid, libc::SIGTERM);
    }
    let deadline = tokio::time::Instant::now() + grace;
    while groups.iter().any(|&g| group_alive(g)) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for &pgid in &groups {
        signal_group(pgid, libc::SIGKILL);
    }
    groups
}

fn groups_working_in(dir: &Path, spare: Option<&Path>) -> Vec<i32> {
    let own_group = unsafe_getpgrp();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut groups: Vec<i32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            cwd(*pid)
                .is_some_and(|c| c.starts_with(dir) && !spare.is_some_and(|s| c.starts_with(s)))
        })
        .filter(|pid| started_by_us(*pid))
        .filter_map(pgid_of)
        .filter(|&g| g > 1 && g != own_group)
        .collect();
    groups.sort_unstable();
    groups.dedup();
    groups
}

fn cwd(pid: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// True when the process started with the agent marker in its environment.
fn started_by_us(pid: i32) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let marker = format!("{AGENT_MARKER}=1");
    environ
        .split(|&b| b == 0)
        .any(|entry| entry == marker.as_bytes())
}

/// Field 5 of /proc/PID/stat; the command name before it may contain spaces.
fn pgid_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(2)?.parse().ok()
}

fn unsafe_getpgrp() -> i32 {
    // SAFETY: getpgrp(2) has no arguments and cannot fail.
    unsafe { libc::getpgrp() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start_in(dir: &Path, marked: bool) -> std::process::Child {
        use std::os::unix::process::CommandExt;
        let mut command = std::process::Command::new("sh");
        command
            .args(["-c", "sleep 300 & wait"])
            .current_dir(dir)
            .process_group(0);
        if marked {
            command.env(AGENT_MARKER, "1");
        }
        command.spawn().unwrap()
    }

    /// Waits (with a deadline) until the shell and its `sleep` both run in `dir`, so
    /// a sweep could see the whole group.
    async fn wait_until_group_runs_in(dir: &Path, pgid: i32) {
        let dir = dir.canonicalize().unwrap();
        let members = || {
            std::fs::read_dir("/proc")
                .unwrap()
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter(|&pid| pgid_of(pid) == Some(pgid))
                .filter(|&pid| cwd(pid).is_some_and(|c| c.starts_with(&dir)))
                .count()
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while members() < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "the group never started"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_process_group_working_in_the_directory_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = start_in(dir.path(), true);
        let pgid = child.id() as i32;
        wait_until_group_runs_in(dir.path(), pgid).await;
        let reaped = reap(dir.path(), Duration::from_secs(2)).await;
        assert_eq!(reaped, [pgid]);
        let _ = child.wait();
        assert!(
            !group_alive(pgid),
            "the whole group is gone, the sleep included"
        );
    }

    #[tokio::test]
    async fn a_persons_shell_in_a_worktree_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut shell = start_in(dir.path(), false);
        let pgid = shell.id() as i32;
        // Wait until the shell really runs there, so the sweep could see it.
        wait_until_group_runs_in(dir.path(), pgid).await;
        assert!(reap(dir.path(), Duration::from_millis(10)).await.is_empty());
        assert!(group_alive(pgid));
        signal_group(pgid, libc::SIGKILL);
        let _ = shell.wait();
    }

    #[tokio::test]
    async fn nothing_outside_the_directory_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        assert!(reap(dir.path(), Duration::from_millis(10)).await.is_empty());
    }
}
