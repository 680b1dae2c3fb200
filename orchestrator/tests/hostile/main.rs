//! Hostile agents: each test is an agent that tries one way out of its sandbox, driven
//! through the real runtimes (the scripted Messages API stand-in, or a scripted CLI
//! agent as a real child process) on a real server, database and git repository. Each
//! asserts that the attempt failed and that the harness noticed nothing broken: the
//! task still ends as it should and the server keeps answering.
//!
//! The tests run as root on CI machines; Landlock applies to root too, and it is what
//! must stop these agents (file permissions do not stop root).

use harness_testkit::fake_anthropic;
use harness_testkit::git_repo;
mod helpers;

mod acp;
mod file_race;
mod filesystem;
mod git_data;
mod git_escape;
mod git_planted;
mod grants;
mod lifetime;
mod network;
mod processes;
mod terminal;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use harness::config::{AgentOverride, Settings};
use harness_domain::agent::RuntimeKind;
use reqwest::StatusCode;
use serde_json::{Value, json};

use fake_anthropic::{FakeAnthropic, Reply};
use helpers::{TestApp, json_with, spawn_with};

/// A fast engine on `workspace`, with the Messages API stand-in when given.
pub fn engine(settings: &mut Settings, workspace: &Path, anthropic_url: Option<&str>) {
    let e = &mut settings.engine;
    e.workspace = Some(workspace.to_path_buf());
    e.worktrees_dir = settings.database_path.parent().unwrap().join("worktrees");
    e.tick = Duration::from_millis(100);
    e.session_spacing = Duration::ZERO;
    e.retry_base = Duration::from_millis(50);
    e.retry_cap = Duration::from_millis(200);
    e.session_timeout = Duration::from_secs(60);
    // These agents probe their sandbox and report; most change no file, and they are
    // here to be confined, not to land work: the build role may finish unchanged.
    let mut roles = harness::config::RolesFile::default();
    roles.roles.insert(
        "build".into(),
        harness_domain::role::RoleSpec {
            requires_changes: Some(false),
            ..harness_domain::role::RoleSpec::default()
        },
    );
    e.roles = harness::config::RoleSettings::load(roles, None).expect("valid roles");
    if let Some(url) = anthropic_url {
        e.anthropic_base_url = url.to_owned();
        e.anthropic_api_key = Some(harness::config::Secret::new(fake_anthropic::API_KEY));
    }
}

/// Makes `build-1` a CLI agent running `script` with `sh -c`: the scripted CLI agent.
pub fn cli_agent(settings: &mut Settings, script: &str) {
    settings.engine.agents.insert(
        "build-1".to_owned(),
        AgentOverride {
            runtime: Some(RuntimeKind::Cli),
            command: Some(vec!["sh".into(), "-c".into(), script.into()]),
            ..AgentOverride::default()
        },
    );
}

/// Polls `path` until `done` holds; fails after 60 s with the last value.
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

/// Waits until the task is `completed`, and checks the server is healthy.
pub async fn completes(app: &TestApp, task: &Value) -> Value {
    let done = wait_for(app, &format!("/api/tasks/{}", task["id"]), |t| {
        t["status"] == "completed" || t["status"] == "blocked"
    })
    .await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    done
}

/// Everything the task's sessions logged, one string.
pub async fn session_output(app: &TestApp, task: &Value) -> String {
    let page = json_with(
        app.get(&format!("/api/sessions?task_id={}", task["id"]))
            .await,
        StatusCode::OK,
    )
    .await;
    let mut text = String::new();
    for session in page["items"].as_array().unwrap() {
        let logs = json_with(
            app.get(&format!("/api/sessions/{}/logs", session["id"]))
                .await,
            StatusCode::OK,
        )
        .await;
        for line in logs["items"].as_array().unwrap() {
            text.push_str(line["content"].as_str().unwrap_or_default());
            text.push('\n');
        }
    }
    text
}

/// An anthropic agent that runs each of `commands` with `run_command`, one per turn,
/// then completes. Returns the app, the task and each command's tool result.
pub async fn run_commands(
    commands: &[String],
    tweak: impl FnOnce(&mut Settings),
) -> (TestApp, Value, Vec<String>, tempfile::TempDir) {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let mut script: Vec<_> = commands
        .iter()
        .map(|c| Reply::tool("run_command", json!({"command": c, "timeout_secs": 30})))
        .collect();
    script.push(Reply::tool("complete_task", json!({"summary": "tried"})));
    let fake = FakeAnthropic::start(script).await;
    let app = spawn_with(|s| {
        engine(s, &path, Some(&fake.base_url));
        tweak(s);
    })
    .await;
    let task = app.create_task(json!({"title": "Hostile"})).await;
    let task = completes(&app, &task).await;
    let results = fake
        .requests()
        .iter()
        .skip(1)
        .take(commands.len())
        .map(|r| {
            let result = &r.last_tool_results()[0];
            match &result["content"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }
        })
        .collect();
    (app, task, results, repo)
}

/// The data directory of a test app.
pub fn data_dir(app: &TestApp) -> PathBuf {
    app.dir.path().join("data")
}

/// The shell fragment that prints `BLOCKED <what>` when `command` fails and
/// `ESCAPED <what>` when it succeeds.
pub fn attempt(what: &str, command: &str) -> String {
    format!(
        "if {command} >/dev/null 2>&1; then echo 'ESCAPED {what}'; else echo 'BLOCKED {what}'; fi"
    )
}
