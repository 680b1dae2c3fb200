//! Limits that stop new sessions: the budget, and pause.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    fake_anthropic::{FakeAnthropic, Reply},
    fast_engine, git_repo,
    helpers::{json_with, spawn_with},
    scheduler_passed_over, status_is, wait_for_task,
};

#[tokio::test]
async fn reaching_the_budget_stops_new_sessions() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(vec![
        Reply::tool(
            "complete_task",
            json!({"summary": "one", "no_changes_needed": "nothing to change for this test"}),
        ),
        Reply::tool(
            "complete_task",
            json!({"summary": "two", "no_changes_needed": "nothing to change for this test"}),
        ),
    ])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        // One scripted reply costs more than this.
        s.budget.daily_usd = Some(0.001);
        s.engine.max_concurrent = 1;
    })
    .await;
    let first = app
        .create_task(json!({"title": "First", "priority": "P0"}))
        .await;
    wait_for_task(&app, &first["id"], status_is("completed")).await;
    let second = app.create_task(json!({"title": "Second"})).await;
    scheduler_passed_over(&app).await;

    let still = json_with(
        app.get(&format!("/api/tasks/{}", second["id"])).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(still["status"], "pending");
    assert_eq!(fake.request_count(), 1);
    let budget = json_with(app.get("/api/budget").await, StatusCode::OK).await;
    assert_eq!(budget["exceeded"], true);
    let events = json_with(
        app.get("/api/events?type=budget.exceeded").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(events["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_paused_orchestrator_starts_nothing_until_resumed() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(vec![Reply::tool(
        "complete_task",
        json!({"summary": "ok", "no_changes_needed": "nothing to change for this test"}),
    )])
    .await;
    let app = spawn_with(|s| fast_engine(s, &path, Some(&fake.base_url))).await;
    app.post_empty("/api/orchestrator/pause").await;
    let task = app.create_task(json!({"title": "Later"})).await;
    scheduler_passed_over(&app).await;
    assert_eq!(fake.request_count(), 0);
    app.post_empty("/api/orchestrator/resume").await;
    wait_for_task(&app, &task["id"], status_is("completed")).await;
}

#[tokio::test]
async fn a_task_waits_for_its_dependencies() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(vec![
        Reply::tool(
            "complete_task",
            json!({"summary": "base done", "no_changes_needed": "nothing to change for this test"}),
        ),
        Reply::tool(
            "complete_task",
            json!({"summary": "top done", "no_changes_needed": "nothing to change for this test"}),
        ),
    ])
    .await;
    let app = spawn_with(|s| fast_engine(s, &path, Some(&fake.base_url))).await;
    app.post_empty("/api/orchestrator/pause").await;
    let base = app
        .create_task(json!({"title": "Base", "priority": "P4"}))
        .await;
    let top = app
        .create_task(json!({"title": "Top", "priority": "P0", "depends_on": [base["id"]]}))
        .await;
    app.post_empty("/api/orchestrator/resume").await;
    let top = wait_for_task(&app, &top["id"], status_is("completed")).await;
    let base = wait_for_task(&app, &base["id"], status_is("completed")).await;
    assert!(
        base["updated_at"].as_str() < top["updated_at"].as_str(),
        "the P0 task ran before its dependency"
    );
}

#[tokio::test]
async fn a_failed_attempts_worktree_is_set_aside_when_its_retention_passes() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(vec![
        Reply::tool(
            "write_file",
            json!({"path": "attempt.txt", "content": "work worth keeping"}),
        ),
        Reply::tool("complete_task", json!({"summary": "done?"})),
    ])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        s.engine.verify = vec!["false".into()];
        s.engine.worktree_retention = Duration::ZERO;
    })
    .await;
    let task = app
        .create_task(json!({"title": "Fails once", "max_attempts": 1}))
        .await;
    wait_for_task(&app, &task["id"], status_is("blocked")).await;
    let worktree = app.dir.path().join("data/worktrees/T-1");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while worktree.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the expired worktree was never removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kept = git_repo::git(&path, &["branch", "--list", "harness/T-1-kept-*"]);
    let branch = kept.trim().trim_start_matches(['*', '+', ' ']).to_owned();
    assert!(!branch.is_empty(), "no kept branch");
    assert_eq!(
        git_repo::git(&path, &["show", &format!("{branch}:attempt.txt")]),
        "work worth keeping"
    );
}
