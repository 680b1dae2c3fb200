//! The `process` executor: `harness worker` as a process on the orchestrator's machine,
//! in a scratch directory, from the launch's environment only. It runs the same protocol
//! as a container (credential, git over HTTP, uplink), without the container's
//! confinement: for protocol tests and for measuring the protocol's own cost.
//!
//! Like a container, a worker outlives the orchestrator: it runs in its own process
//! group, is not killed when the orchestrator stops cleanly (the scheduler detaches it)
//! or is killed (no parent-death signal), and the next run re-adopts it by its pid,
//! checked against the scratch directory it works in (`/proc/PID/cwd`), so a reused pid
//! is never mistaken for it. Workers not detached are stopped when the backend is
//! dropped (an embedding that tears the orchestrator down without stopping it).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use futures_util::future::BoxFuture;

use harness_engine::sandbox::Mode;

use super::{ExecutorBackend, ExecutorError, ExecutorKind, Handle, Launch, Status};

/// A worker this run knows: one it started (its child) or one it re-adopted.
enum Worker {
    Child(tokio::process::Child),
    Adopted(i32),
}

pub struct ProcessBackend {
    binary: PathBuf,
    /// The server's `HARNESS_SANDBOX`, passed on: the worker runs on this machine with
    /// no container around it, so its agent needs Landlock exactly as a local one does.
    sandbox: Mode,
    /// Where each worker gets its scratch directory.
    scratch: PathBuf,
    workers: Arc<Mutex<HashMap<i64, (Worker, PathBuf)>>>,
}

impl ProcessBackend {
    pub fn new(binary: PathBuf, scratch: PathBuf, sandbox: Mode) -> Self {
        Self {
            binary,
            sandbox,
            scratch,
            workers: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (Worker, PathBuf)>> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn dir(&self, attempt: i64) -> PathBuf {
        self.scratch.join(format!("worker-{attempt}"))
    }
}

/// True while `pid` runs (not a zombie) with its working directory in `dir`.
fn runs_in(pid: i32, dir: &Path) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim().chars().next());
    let alive = !matches!(state, Some('Z' | 'X') | None);
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    alive && std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir)
}

/// Removes a worker's scratch directory, if there is one; a failure is logged (the
/// sweep at the next start tries again). Blocking.
fn remove_scratch(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => {
            tracing::warn!(%err, dir = %dir.display(), "cannot remove a worker's scratch directory");
        }
    }
}

/// Kills the worker's process group (the worker, its agent, their commands).
fn kill_group(pid: i32) {
    if pid > 0 {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is
        // touched. The group is the worker's own (it was started as a group leader).
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
}

/// Pids of the processes working under `scratch/worker-N` for an N not in `keep`.
fn strays(scratch: &Path, keep: &BTreeSet<i64>) -> Vec<i32> {
    let Ok(scratch) = scratch.canonicalize() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) else {
                return false;
            };
            let Ok(rest) = cwd.strip_prefix(&scratch) else {
                return false;
            };
            let attempt = rest.components().next().and_then(|c| {
                c.as_os_str()
                    .to_str()?
                    .strip_prefix("worker-")?
                    .parse()
                    .ok()
            });
            attempt.is_some_and(|a: i64| !keep.contains(&a))
        })
        .collect()
}

impl Drop for ProcessBackend {
    fn drop(&mut self) {
        for (_, (worker, _)) in self.lock().drain() {
            match worker {
                Worker::Child(child) => {
                    if let Some(pid) = child.id() {
                        kill_group(i32::try_from(pid).unwrap_or(0));
                    }
                }
                Worker::Adopted(pid) => kill_group(pid),
            }
        }
    }
}

impl ExecutorBackend for ProcessBackend {
    fn kind(&self) -> ExecutorKind {
        ExecutorKind::Process
    }

    fn launch<'a>(&'a self, launch: &'a Launch) -> BoxFuture<'a, Result<Handle, ExecutorError>> {
        Box::pin(async move {
            let fail = |message: String| ExecutorError::Launch {
                attempt: launch.attempt,
                message,
            };
            let dir = self.dir(launch.attempt);
            let fresh = dir.clone();
            // A fresh scratch directory, on the blocking pool: a leftover one of the same
            // attempt may hold a whole clone.
            let (log, log2) = tokio::task::spawn_blocking(move || {
                remove_scratch(&fresh);
                std::fs::create_dir_all(&fresh)?;
                let log = std::fs::File::create(fresh.join("worker.log"))?;
                let log2 = log.try_clone()?;
                Ok::<_, std::io::Error>((log, log2))
            })
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(e.to_string()))?;
            let mut command = tokio::process::Command::new(&self.binary);
            command
                .args(&launch.command)
                .env_clear()
                .envs(&launch.env)
                .env(harness_worker::ENV_DIR, dir.join("work"))
                .env(harness_worker::ENV_SANDBOX, self.sandbox.as_str())
                .current_dir(&dir)
                .stdin(std::process::Stdio::null())
                .stdout(log)
                .stderr(log2)
                // Its own group: a signal to the orchestrator's group (Ctrl-C) does not
                // reach it, and `remove` kills the whole group.
                .process_group(0);
            if let Some(path) = std::env::var_os("PATH") {
                command.env("PATH", path);
            }
            if !launch.env.contains_key("HOME") {
                command.env("HOME", &dir);
            }
            let child = command.spawn().map_err(|e| fail(e.to_string()))?;
            let pid = child.id().unwrap_or(0);
            self.lock()
                .insert(launch.attempt, (Worker::Child(child), dir));
            Ok(Handle {
                attempt: launch.attempt,
                id: pid.to_string(),
                name: format!("pid {pid}"),
                node: None,
            })
        })
    }

    fn status<'a>(&'a self, handle: &'a Handle) -> BoxFuture<'a, Result<Status, ExecutorError>> {
        Box::pin(async move {
            let mut workers = self.lock();
            let Some((worker, dir)) = workers.get_mut(&handle.attempt) else {
                return Ok(Status::Lost(format!("worker {} is gone", handle.name)));
            };
            match worker {
                Worker::Child(child) => match child.try_wait() {
                    Ok(None) => Ok(Status::Running { node: None }),
                    Ok(Some(status)) => Ok(Status::Exited(i64::from(
                        std::os::unix::process::ExitStatusExt::into_raw(status),
                    ))),
                    Err(err) => Err(ExecutorError::Status {
                        name: handle.name.clone(),
                        message: err.to_string(),
                    }),
                },
                // Not our child: its exit code went to the previous run.
                Worker::Adopted(pid) if runs_in(*pid, dir) => Ok(Status::Running { node: None }),
                Worker::Adopted(_) => Ok(Status::Lost(format!(
                    "worker {} is gone (it ended while the orchestrator was away, or since)",
                    handle.name
                ))),
            }
        })
    }

    fn logs_tail<'a>(&'a self, handle: &'a Handle, max_bytes: usize) -> BoxFuture<'a, String> {
        Box::pin(async move {
            let dir = self.lock().get(&handle.attempt).map(|(_, dir)| dir.clone());
            let text = dir
                .and_then(|d| std::fs::read(d.join("worker.log")).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            harness_engine::session::tail(&text, max_bytes).to_owned()
        })
    }

    fn remove<'a>(&'a self, handle: &'a Handle) -> BoxFuture<'a, Result<(), ExecutorError>> {
        Box::pin(async move {
            let entry = self.lock().remove(&handle.attempt);
            let dir = match entry {
                Some((Worker::Child(mut child), dir)) => {
                    if let Some(pid) = child.id() {
                        kill_group(i32::try_from(pid).unwrap_or(0));
                    }
                    // Reaps it; an error means it was gone already.
                    let _ = child.kill().await;
                    dir
                }
                Some((Worker::Adopted(pid), dir)) => {
                    if runs_in(pid, &dir) {
                        kill_group(pid);
                    }
                    dir
                }
                None => return Ok(()),
            };
            // It holds the worker's clone: removed on the blocking pool.
            if let Err(err) = tokio::task::spawn_blocking(move || remove_scratch(&dir)).await {
                tracing::warn!(%err, "cannot remove a worker's scratch directory");
            }
            Ok(())
        })
    }

    fn detach(&self, handle: &Handle) {
        // Dropping the child handle leaves the process running (tokio reaps it later).
        self.lock().remove(&handle.attempt);
    }

    fn adopt<'a>(
        &'a self,
        attempt: i64,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Handle, ExecutorError>> {
        Box::pin(async move {
            let fail = |message: &str| ExecutorError::Adopt {
                attempt,
                name: name.to_owned(),
                message: message.to_owned(),
            };
            let pid: i32 = name
                .strip_prefix("pid ")
                .and_then(|p| p.parse().ok())
                .filter(|p| *p > 0)
                .ok_or_else(|| fail("not a process executor's worker name"))?;
            let dir = self.dir(attempt);
            // Adopted even when it is gone already: `status` then says it is lost, and
            // the attempt is settled like a crash.
            self.lock().insert(attempt, (Worker::Adopted(pid), dir));
            Ok(Handle {
                attempt,
                id: pid.to_string(),
                name: name.to_owned(),
                node: None,
            })
        })
    }

    fn sweep<'a>(
        &'a self,
        _labels: &'a BTreeMap<String, String>,
        keep: &'a BTreeSet<i64>,
    ) -> BoxFuture<'a, Result<usize, ExecutorError>> {
        // Workers of a previous run that were not adopted, and their scratch.
        Box::pin(async move {
            for pid in strays(&self.scratch, keep) {
                // SAFETY: kill(2) on a pid found working in our scratch; no memory is
                // touched. Each process there is found, so no group kill is needed.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let mut removed = 0;
            if let Ok(entries) = std::fs::read_dir(&self.scratch) {
                for entry in entries.flatten() {
                    let name = entry.file_name();
                    let attempt = name
                        .to_str()
                        .and_then(|n| n.strip_prefix("worker-"))
                        .and_then(|n| n.parse::<i64>().ok());
                    if attempt.is_some_and(|a| !keep.contains(&a))
                        && std::fs::remove_dir_all(entry.path()).is_ok()
                    {
                        removed += 1;
                    }
                }
            }
            Ok(removed)
        })
    }
}
