//! Agent processes left behind by a crash of the orchestrator.
//!
//! When the orchestrator dies with `kill -9`, its agents (and whatever they started,
//! in their own session, another directory, an empty environment) keep running. At
//! startup nothing of ours runs yet, so three signs find them, none of which an agent
//! can erase:
//! - the cgroup of a server that is gone (`harness-<pid>`, sandbox/tree.rs): everything
//!   in it is killed and the cgroup removed;
//! - the agent marker of the process itself ([`tree::is_agent`]: its RLIMIT_NOFILE hard
//!   limit, `no_new_privs`, our uid), on a process whose nearest unmarked ancestor is one
//!   of our own ancestors (init, or the supervisor that restarted us): it was re-parented
//!   there when its server died (or this process, when no live run of ours is in
//!   between: a subreaper gets back what its runs left). The agents of a live server or worker (the `process`
//!   executor's, which outlive the orchestrator and are re-adopted) have that live,
//!   unmarked process as their nearest unmarked ancestor and are left alone;
//! - for agents started without the marker (the sandbox `off`): a working directory
//!   inside our worktrees directory AND the environment marker ([`AGENT_MARKER`]); their
//!   process group is stopped.
//!
//! A person's shell or editor in a worktree has neither marker and is left alone;
//! matching on what the process is, not on a stored pid, means a reused pid is never hit.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    time::Duration,
};

use super::{
    process::{group_alive, signal_group},
    sandbox::{AGENT_MARKER, tree},
};

/// Stops every leftover agent process (see the module doc); `dir` is the worktrees
/// directory. Returns the process ids it stopped. Linux only (reads /proc); elsewhere
/// it finds nothing.
pub async fn reap(dir: &Path, grace: Duration) -> Vec<i32> {
    reap_except(dir, None, grace).await
}

/// [`reap`], sparing what works under `spare` (the `process` executor's workers, which
/// outlive the orchestrator and are re-adopted or swept by the scheduler).
pub async fn reap_except(dir: &Path, spare: Option<&Path>, grace: Duration) -> Vec<i32> {
    let mut stopped = tokio::task::spawn_blocking(tree::sweep_stale_cgroups)
        .await
        .unwrap_or_default();
    let marked = marked_leftovers();
    let groups = match dir.canonicalize() {
        Ok(dir) => groups_working_in(&dir, spare.and_then(|s| s.canonicalize().ok()).as_deref()),
        Err(_) => Vec::new(),
    };
    let signal_all = |signal| {
        for &pid in &marked {
            // SAFETY: kill(2) only sends a signal.
            unsafe { libc::kill(pid, signal) };
        }
        for &(pgid, _) in &groups {
            signal_group(pgid, signal);
        }
    };
    signal_all(libc::SIGTERM);
    let deadline = tokio::time::Instant::now() + grace;
    let any_alive =
        || marked.iter().any(|&p| running(p)) || groups.iter().any(|&(g, _)| group_alive(g));
    while any_alive() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal_all(libc::SIGKILL);
    stopped.extend(marked);
    stopped.extend(groups.into_iter().flat_map(|(_, members)| members));
    stopped.sort_unstable();
    stopped.dedup();
    stopped
}

/// Marked agent processes left by a server that is gone: their nearest unmarked
/// ancestor is one of our own ancestors (where a dead server's processes are
/// re-parented), or this process itself with no live run of ours in between (in a
/// process that is a subreaper, what a run left behind comes back to it).
fn marked_leftovers() -> Vec<i32> {
    let me = std::process::id() as i32;
    let ours: HashSet<i32> = ancestors(me).into_iter().collect();
    tree::with_leaders(|leaders| {
        tree::all_pids()
            .into_iter()
            .filter(|&pid| pid != me && running(pid) && tree::is_agent(pid))
            .filter(|&pid| {
                let mut chain = std::iter::once(pid).chain(ancestors(pid));
                let first_unmarked = chain.find(|&p| leaders.contains(&p) || !tree::is_agent(p));
                first_unmarked
                    .is_some_and(|a| !leaders.contains(&a) && (a == me || ours.contains(&a)))
            })
            .collect()
    })
}

/// The parents of `pid`, nearest first, up to init (bounded).
fn ancestors(pid: i32) -> Vec<i32> {
    let mut chain = Vec::new();
    let mut current = pid;
    while chain.len() < tree::MAX_ANCESTORS {
        match tree::parent_of(current) {
            Some(parent) if parent > 0 => {
                chain.push(parent);
                current = parent;
            }
            _ => break,
        }
    }
    chain
}

/// True while `pid` exists and is not a zombie (which no signal can stop, and which
/// its parent, maybe not us, reaps).
fn running(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    !matches!(state, Some("Z" | "X"))
}

/// The process groups (and their members found) of marked processes working under `dir`.
fn groups_working_in(dir: &Path, spare: Option<&Path>) -> Vec<(i32, Vec<i32>)> {
    let own_group = unsafe_getpgrp();
    let mut groups: Vec<(i32, Vec<i32>)> = Vec::new();
    let found = tree::all_pids()
        .into_iter()
        .filter(|pid| {
            cwd(*pid)
                .is_some_and(|c| c.starts_with(dir) && !spare.is_some_and(|s| c.starts_with(s)))
        })
        .filter(|pid| started_by_us(*pid))
        .filter_map(|pid| Some((pgid_of(pid)?, pid)))
        .filter(|&(g, _)| g > 1 && g != own_group);
    for (pgid, pid) in found {
        match groups.iter_mut().find(|(g, _)| *g == pgid) {
            Some((_, members)) => members.push(pid),
            None => groups.push((pgid, vec![pid])),
        }
    }
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
        assert!(reaped.contains(&pgid), "{reaped:?}");
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
        let reaped = reap(dir.path(), Duration::from_millis(10)).await;
        assert!(!reaped.contains(&pgid), "{reaped:?}");
        assert!(group_alive(pgid));
        signal_group(pgid, libc::SIGKILL);
        let _ = shell.wait();
    }

    #[tokio::test]
    async fn a_process_without_a_marker_is_not_touched() {
        let dir = tempfile::tempdir().unwrap();
        let mut other = std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .unwrap();
        let pid = other.id() as i32;
        let reaped = reap(dir.path(), Duration::from_millis(10)).await;
        assert!(!reaped.contains(&pid), "{reaped:?}");
        assert!(running(pid));
        other.kill().unwrap();
        let _ = other.wait();
    }
}
