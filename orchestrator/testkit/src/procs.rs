//! Process checks for tests: is a PID still running?

use std::{path::Path, time::Duration};

/// True while `pid` exists and is not a zombie (a zombie has exited; it only waits for
/// its parent to collect the status).
pub fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the command name, which is in parentheses.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

/// Waits (bounded) until `path` holds a PID, and returns it.
pub async fn read_pid(path: &Path) -> i32 {
    for _ in 0..500 {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} never held a pid", path.display());
}

/// Waits (bounded) until `pid` is no longer running.
pub async fn gone(pid: i32) -> bool {
    for _ in 0..200 {
        if !running(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// The host's pid of the process whose pid in its own PID namespace is `inner` (the
/// same number where it has none) and that works in `cwd`: an agent writes its pids
/// as its namespace numbers them.
pub fn host_pid(inner: i32, cwd: &Path) -> Option<i32> {
    let cwd = std::fs::canonicalize(cwd).ok()?;
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            let nspid = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
            let last: i32 = nspid.split_whitespace().last()?.parse().ok()?;
            let here = std::fs::read_link(entry.path().join("cwd")).ok()?;
            (last == inner && here == cwd).then_some(pid)
        })
}

/// The running processes whose working directory is `dir` or below it.
pub fn working_in(dir: &Path) -> Vec<i32> {
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cwd = std::fs::read_link(entry.path().join("cwd")).ok()?;
            (cwd.starts_with(&dir) && running(pid)).then_some(pid)
        })
        .collect()
}
