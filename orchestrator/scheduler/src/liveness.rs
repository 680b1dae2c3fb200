//! Signs of life beyond log output, for the stuck watchdog: a command still running in
//! the session's worktree (a long, silent build) means the session is working, not stuck.
//!
//! (A line a `run_command` prints is a sign of life too: `SessionSink::alive`.)
//!
//! For a CLI agent the agent process itself (our direct child) does not count, only what
//! it started; for the Messages API runtime every process there is a `run_command`.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use super::sink::now_millis;

/// Marks the session alive while a command runs in `worktree`. Runs until aborted.
pub(crate) async fn while_commands_run(
    worktree: PathBuf,
    agent_is_child: bool,
    last_activity: Arc<AtomicI64>,
    step: Duration,
) {
    let canonical = tokio::task::spawn_blocking(move || worktree.canonicalize()).await;
    let Ok(Ok(worktree)) = canonical else {
        return;
    };
    loop {
        tokio::time::sleep(step).await;
        let dir = worktree.clone();
        let running = tokio::task::spawn_blocking(move || command_running_in(&dir, agent_is_child))
            .await
            .unwrap_or(false);
        if running {
            last_activity.store(now_millis(), Ordering::Relaxed);
        }
    }
}

/// True when a process works under `dir`; with `agent_is_child`, our direct children
/// (the agent itself) are not counted. Linux only (reads /proc).
pub(crate) fn command_running_in(dir: &Path, agent_is_child: bool) -> bool {
    let own = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| pid.to_string() != own)
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c.starts_with(dir))
        })
        .any(|pid| !agent_is_child || parent_of(pid).as_deref() != Some(own.as_str()))
}

/// Field 4 of /proc/PID/stat; the command name before it may contain spaces.
fn parent_of(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_in_the_worktree_is_a_sign_of_life_unless_it_is_the_agent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().canonicalize().unwrap();
        assert!(!command_running_in(&path, false));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(&path)
            .spawn()
            .unwrap();
        let seen = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            command_running_in(&path, false)
        });
        // Our own direct child counts as the agent itself for a CLI session.
        let agent_only = command_running_in(&path, true);
        // The probe may have exited already; either way it is reaped next.
        let _ = child.kill();
        let _ = child.wait();
        assert!(seen, "the running command was not seen");
        assert!(!agent_only, "the agent process itself is not a command");
    }
}
