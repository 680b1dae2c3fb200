//! Missing setup: the orchestrator still serves and says exactly what to set.

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    fast_engine, git_repo,
    helpers::{json_with, spawn_app, spawn_with},
    scheduler_passed_over, wait_for,
};

#[tokio::test]
async fn without_a_workspace_agents_are_unconfigured_and_tasks_wait() {
    let app = spawn_app().await;
    let agent = wait_for(&app, "/api/agents/build-1", |a| {
        a["status"] == "unconfigured"
    })
    .await;
    assert!(
        agent["status_reason"]
            .as_str()
            .unwrap()
            .contains("HARNESS_WORKSPACE"),
        "{agent}"
    );
    let task = app.create_task(json!({"title": "Waits"})).await;
    scheduler_passed_over(&app).await;
    let task = json_with(
        app.get(&format!("/api/tasks/{}", task["id"])).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (task["status"].as_str(), task["attempts"].as_i64()),
        (Some("pending"), Some(0))
    );
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_an_api_key_anthropic_agents_say_to_set_it() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| fast_engine(s, &path, None)).await;
    let agent = wait_for(&app, "/api/agents/qa", |a| a["status"] == "unconfigured").await;
    assert!(
        agent["status_reason"]
            .as_str()
            .unwrap()
            .contains("ANTHROPIC_API_KEY"),
        "{agent}"
    );
}

#[tokio::test]
async fn a_workspace_that_is_not_a_git_repository_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with(|s| fast_engine(s, dir.path(), Some("http://127.0.0.1:9"))).await;
    let agent = wait_for(&app, "/api/agents/build-1", |a| {
        a["status"] == "unconfigured"
    })
    .await;
    assert!(
        agent["status_reason"]
            .as_str()
            .unwrap()
            .contains("not a git repository"),
        "{agent}"
    );
}

#[tokio::test]
async fn a_cli_agent_whose_command_is_missing_is_unconfigured() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        crate::cli_agent(s, "build-2", &["no-such-agent-cli"]);
    })
    .await;
    let agent = wait_for(&app, "/api/agents/build-2", |a| {
        a["status"] == "unconfigured"
    })
    .await;
    assert_eq!(agent["runtime"], "cli");
    assert!(
        agent["status_reason"]
            .as_str()
            .unwrap()
            .contains("no-such-agent-cli"),
        "{agent}"
    );
}

#[tokio::test]
async fn with_the_sandbox_off_agents_run_but_say_they_are_unconfined() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some("http://127.0.0.1:9"));
        s.engine.sandbox.mode = harness::engine::sandbox::Mode::Off;
    })
    .await;
    let agent = wait_for(&app, "/api/agents/build-1", |a| {
        a["status_reason"]
            .as_str()
            .is_some_and(|r| r.contains("without Landlock"))
    })
    .await;
    assert_eq!(agent["status"], "idle", "{agent}");
}

#[tokio::test]
async fn with_the_sandbox_required_and_no_landlock_agents_are_unconfigured_and_say_why() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some("http://127.0.0.1:9"));
        s.engine.sandbox.mode = harness::engine::sandbox::Mode::Require;
        // HARNESS_SANDBOX_ASSUME_ABI=0: the test-only stand-in for a kernel without
        // Landlock (docs/SECURITY.md).
        s.engine.sandbox.assume_abi = Some(0);
    })
    .await;
    let agent = wait_for(&app, "/api/agents/build-1", |a| {
        a["status"] == "unconfigured"
    })
    .await;
    let reason = agent["status_reason"].as_str().unwrap();
    assert!(
        reason.contains("no Landlock") && reason.contains("HARNESS_SANDBOX=warn"),
        "{agent}"
    );
    let task = app.create_task(json!({"title": "Waits"})).await;
    scheduler_passed_over(&app).await;
    let task = json_with(
        app.get(&format!("/api/tasks/{}", task["id"])).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (task["status"].as_str(), task["attempts"].as_i64()),
        (Some("pending"), Some(0))
    );
}

#[tokio::test]
async fn with_the_sandbox_on_warn_and_no_landlock_agents_run_and_say_they_are_unconfined() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some("http://127.0.0.1:9"));
        s.engine.sandbox.mode = harness::engine::sandbox::Mode::Warn;
        s.engine.sandbox.assume_abi = Some(0);
    })
    .await;
    let agent = wait_for(&app, "/api/agents/build-1", |a| {
        a["status"] == "idle"
            && a["status_reason"]
                .as_str()
                .is_some_and(|r| r.contains("UNCONFINED"))
    })
    .await;
    assert!(
        agent["status_reason"]
            .as_str()
            .unwrap()
            .contains("no Landlock"),
        "{agent}"
    );
}
