//! The agent engine end to end: the real server on a temporary database, a real
//! temporary git repository as the workspace, the fake Messages API over real HTTP, and
//! fake CLI agents as real child processes.

use harness_testkit::fake_anthropic;
use harness_testkit::git_repo;
mod helpers;

mod acp_flow;
mod anthropic_flow;
mod bounds;
mod browser;
mod cli_flow;
mod first_run;
mod investigator;
mod landing;
mod limits;
mod openai_flow;
mod pull_requests;
mod review;
mod roles;
mod setup;

use std::{path::Path, time::Duration};

use harness::config::{AgentOverride, Settings};
use harness_domain::agent::RuntimeKind;
use reqwest::StatusCode;
use serde_json::Value;

use helpers::{TestApp, json_with};

/// Settings for a fast engine: tiny delays so retries and ticks happen within a test.
pub fn fast_engine(settings: &mut Settings, workspace: &Path, anthropic_url: Option<&str>) {
    let e = &mut settings.engine;
    e.workspace = Some(workspace.to_path_buf());
    e.worktrees_dir = settings.database_path.parent().unwrap().join("worktrees");
    e.tick = Duration::from_millis(100);
    e.session_spacing = Duration::ZERO;
    e.retry_base = Duration::from_millis(50);
    e.retry_cap = Duration::from_millis(200);
    e.api_backoff = Duration::from_millis(20);
    e.session_timeout = Duration::from_secs(60);
    e.git_author_name = "Harness Test".into();
    e.git_author_email = "harness-test@example.com".into();
    // The fake CLI agents live in the source tree, which agents may not read otherwise.
    e.sandbox
        .read_paths
        .push(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    if let Some(url) = anthropic_url {
        e.anthropic_base_url = url.to_owned();
        e.anthropic_api_key = Some(harness::config::Secret::new(fake_anthropic::API_KEY));
    }
}

/// Makes `agent` a CLI agent running `command`.
pub fn cli_agent(settings: &mut Settings, agent: &str, command: &[&str]) {
    settings.engine.agents.insert(
        agent.to_owned(),
        AgentOverride {
            runtime: Some(RuntimeKind::Cli),
            command: Some(command.iter().map(|s| (*s).to_owned()).collect()),
            ..AgentOverride::default()
        },
    );
}

/// Waits for the positive signal that the scheduler looked at the board as it is now:
/// a whole pass that began after this call (the count moves by two, because a pass
/// may already be under way). What it did not start by then, it passed over.
pub async fn scheduler_passed_over(app: &TestApp) {
    let mut passes = app.board.runs().passes();
    let start = *passes.borrow_and_update();
    app.board.runs().wake();
    tokio::time::timeout(
        Duration::from_secs(30),
        passes.wait_for(|n| *n >= start + 2),
    )
    .await
    .expect("the scheduler completed no pass in 30 s")
    .expect("the scheduler stopped");
}

/// Polls the task until `done` says so; fails after 30 s with the last state.
pub async fn wait_for_task(app: &TestApp, id: &Value, done: impl Fn(&Value) -> bool) -> Value {
    wait_for(app, &format!("/api/tasks/{id}"), done).await
}

pub async fn wait_for(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
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

pub fn status_is(status: &'static str) -> impl Fn(&Value) -> bool {
    move |t| t["status"] == status
}

/// The task's sessions, newest first, once the newest has ended (its usage and cost are
/// recorded at its end).
pub async fn ended_sessions(app: &TestApp, task: &Value) -> Vec<Value> {
    wait_for(app, &format!("/api/sessions?task_id={}", task["id"]), |p| {
        p["items"][0]["status"] != "running"
    })
    .await;
    sessions_of(app, task).await
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

pub async fn logs_of(app: &TestApp, session: &Value) -> Vec<Value> {
    let logs = json_with(
        app.get(&format!("/api/sessions/{}/logs", session["id"]))
            .await,
        StatusCode::OK,
    )
    .await;
    logs["items"].as_array().unwrap().clone()
}

pub async fn history_of(app: &TestApp, task: &Value) -> Vec<(String, String)> {
    let h = json_with(
        app.get(&format!("/api/tasks/{}/history", task["id"])).await,
        StatusCode::OK,
    )
    .await;
    h["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["from_status"].as_str().unwrap_or("").to_owned(),
                i["to_status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}
