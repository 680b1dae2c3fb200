//! Remote workers end to end: the real server on port 0 with a temporary database and a
//! real git workspace, and `harness worker` as real child processes (the `process`
//! executor runs the binary cargo built) speaking the worker protocol over HTTP and git
//! smart HTTP. The CLI agent is the fake `claude` of tests/fixtures; the `anthropic`
//! runtime talks to the fake Messages API of the testkit.

use harness_testkit::fake_anthropic;
use harness_testkit::fake_kube;
use harness_testkit::git_repo;
mod helpers;

mod confinement;
mod credentials;
mod kubernetes;
mod landing;
mod protocol;
mod questions;
mod restart;
mod roles;
mod spend;
mod subtasks;

use std::{path::Path, time::Duration};

use harness::{
    config::{AgentOverride, Settings, executors::RemoteSettings},
    executor::{ExecutorKind, Limits, NetworkMode},
};
use harness_domain::agent::RuntimeKind;
use reqwest::StatusCode;
use serde_json::Value;

use helpers::{TestApp, json_with};

/// Stops the orchestrator, then its workers: a stop detaches them (they outlive the
/// orchestrator, to be re-adopted), so a test that is done with them ends them here:
/// every process working in this app's worker scratch, by process group.
pub async fn stop_with_workers(app: TestApp) {
    let dir = app.stop().await;
    let scratch = dir.path().join("data/worktrees/.workers");
    let Ok(scratch) = scratch.canonicalize() else {
        return;
    };
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let in_scratch = std::fs::read_link(format!("/proc/{pid}/cwd"))
            .is_ok_and(|cwd| cwd.starts_with(&scratch));
        if in_scratch {
            // SAFETY: signals a process (and its group) working in this test's scratch.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// A fast engine on `workspace` whose `build-1` runs the fake CLI `mode` through a
/// `harness worker` child process.
pub fn remote_engine(settings: &mut Settings, workspace: &Path, mode: &str, heartbeat: f64) {
    let e = &mut settings.engine;
    e.workspace = Some(workspace.to_path_buf());
    e.worktrees_dir = settings.database_path.parent().unwrap().join("worktrees");
    e.tick = Duration::from_millis(100);
    e.session_spacing = Duration::ZERO;
    e.retry_base = Duration::from_millis(50);
    e.retry_cap = Duration::from_millis(200);
    e.session_timeout = Duration::from_secs(60);
    e.git_author_name = "Harness Test".into();
    e.git_author_email = "harness-test@example.com".into();
    e.sandbox
        .read_paths
        .push(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    e.executors.process = Some(RemoteSettings {
        max_concurrent: 2,
        orchestrator_url: None,
        network: NetworkMode::Bridge,
        limits: Limits::default(),
        image: None,
        heartbeat_timeout: Duration::from_secs_f64(heartbeat),
        harness_binary: Some(worker_binary().into()),
    });
    e.agents.insert(
        "build-1".into(),
        AgentOverride {
            runtime: Some(RuntimeKind::Cli),
            command: Some(vec![
                "env".into(),
                format!("FAKE_CLAUDE_MODE={mode}"),
                fixture("fake-claude"),
            ]),
            executor: Some(ExecutorKind::Process),
            ..AgentOverride::default()
        },
    );
}

/// The binary run as `harness worker`: cargo's build of this crate, or
/// `HARNESS_TEST_WORKER_BINARY` (a copy, where a shared target directory may hold
/// another checkout's build under cargo's path).
fn worker_binary() -> String {
    std::env::var("HARNESS_TEST_WORKER_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_harness").to_owned())
}

pub async fn wait_for(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let value = json_with(app.get(path).await, StatusCode::OK).await;
        if done(&value) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting on {path}: {value:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn sessions_of(app: &TestApp, task: &Value) -> Vec<Value> {
    let page = json_with(
        app.get(&format!("/api/sessions?task_id={}", task["id"]))
            .await,
        StatusCode::OK,
    )
    .await;
    page["items"].as_array().unwrap().clone()
}

/// The running session of `task`, once its worker is started (its place is recorded).
pub async fn running_worker(app: &TestApp, task: &Value) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let sessions = sessions_of(app, task).await;
        if let Some(s) = sessions
            .iter()
            .find(|s| s["executor"] == "process" && s["executor_name"].as_str().is_some())
        {
            return s.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no worker started: {sessions:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn worker_pid(session: &Value) -> i32 {
    session["executor_name"]
        .as_str()
        .unwrap()
        .trim_start_matches("pid ")
        .parse()
        .unwrap()
}

pub fn alive(pid: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !status.is_empty() && !status.contains(") Z ")
}
