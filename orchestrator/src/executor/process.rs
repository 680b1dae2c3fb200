//! The `process` executor: `harness worker` as a child process of the orchestrator, in a
//! scratch directory, from the launch's environment only. It runs the same protocol as a
//! container (credential, git over HTTP, uplink), without the container's confinement:
//! for protocol tests and for measuring the protocol's own cost.

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    sync::{Arc, Mutex},
};

use futures_util::future::BoxFuture;

use super::{ExecutorBackend, ExecutorError, ExecutorKind, Handle, Launch, Status};

pub struct ProcessBackend {
    binary: PathBuf,
    /// Where each worker gets its scratch directory.
    scratch: PathBuf,
    children: Arc<Mutex<HashMap<i64, (tokio::process::Child, PathBuf)>>>,
}

impl ProcessBackend {
    pub fn new(binary: PathBuf, scratch: PathBuf) -> Self {
        Self {
            binary,
            scratch,
            children: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (tokio::process::Child, PathBuf)>> {
        self.children.lock().unwrap_or_else(|e| e.into_inner())
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
            let dir = self.scratch.join(format!("worker-{}", launch.attempt));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).map_err(|e| fail(e.to_string()))?;
            let log =
                std::fs::File::create(dir.join("worker.log")).map_err(|e| fail(e.to_string()))?;
            let log2 = log.try_clone().map_err(|e| fail(e.to_string()))?;
            let mut command = tokio::process::Command::new(&self.binary);
            command
                .args(&launch.command)
                .env_clear()
                .envs(&launch.env)
                .env(crate::worker::ENV_DIR, dir.join("work"))
                .current_dir(&dir)
                .stdin(std::process::Stdio::null())
                .stdout(log)
                .stderr(log2)
                .kill_on_drop(true);
            if let Some(path) = std::env::var_os("PATH") {
                command.env("PATH", path);
            }
            if !launch.env.contains_key("HOME") {
                command.env("HOME", &dir);
            }
            let child = command.spawn().map_err(|e| fail(e.to_string()))?;
            let pid = child.id().unwrap_or(0);
            self.lock().insert(launch.attempt, (child, dir));
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
            let mut children = self.lock();
            let Some((child, _)) = children.get_mut(&handle.attempt) else {
                return Ok(Status::Failed {
                    reason: format!("worker {} is gone", handle.name),
                    uses_attempt: false,
                });
            };
            match child.try_wait() {
                Ok(None) => Ok(Status::Running),
                Ok(Some(status)) => Ok(Status::Exited(i64::from(
                    std::os::unix::process::ExitStatusExt::into_raw(status),
                ))),
                Err(err) => Err(ExecutorError::Status {
                    name: handle.name.clone(),
                    message: err.to_string(),
                }),
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
            crate::engine::session::tail(&text, max_bytes).to_owned()
        })
    }

    fn remove<'a>(&'a self, handle: &'a Handle) -> BoxFuture<'a, Result<(), ExecutorError>> {
        Box::pin(async move {
            let entry = self.lock().remove(&handle.attempt);
            if let Some((mut child, dir)) = entry {
                let _ = child.kill().await;
                let _ = std::fs::remove_dir_all(dir);
            }
            Ok(())
        })
    }

    fn sweep<'a>(
        &'a self,
        _labels: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<usize, ExecutorError>> {
        // Children die with the orchestrator (kill_on_drop); only scratch may be left.
        Box::pin(async move {
            let mut removed = 0;
            if let Ok(entries) = std::fs::read_dir(&self.scratch) {
                for entry in entries.flatten() {
                    let name = entry.file_name();
                    if name.to_string_lossy().starts_with("worker-")
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
