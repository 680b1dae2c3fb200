//! The investigator is a scheduled session: it obeys pause, the budget and cancel, and
//! works in its own worktree.

use std::{path::Path, time::Duration};

use harness::config::Overrun;
use serde_json::{Value, json};

use crate::{
    cli_agent, fast_engine, git_repo,
    helpers::{TestApp, spawn_with},
    sessions_of, status_is, wait_for, wait_for_task,
};

fn fake_claude() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fake-claude")
        .display()
        .to_string()
}

async fn waiting_because(app: &TestApp, reason: &str) -> Value {
    let events = wait_for(app, "/api/events?type=investigation.waiting", |e| {
        e["items"]
            .as_array()
            .is_some_and(|i| i.iter().any(|e| e["payload"]["reason"] == reason))
    })
    .await;
    events["items"][0].clone()
}

#[tokio::test]
async fn the_investigator_waits_while_paused_and_is_cancelled_through_the_api() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let script = fake_claude();
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(
            s,
            "build-1",
            &["sh", "-c", "cat > /dev/null; sleep 1; exit 1"],
        );
        cli_agent(
            s,
            "investigator",
            &["env", "FAKE_CLAUDE_MODE=sleep", &script],
        );
    })
    .await;
    let task = app
        .create_task(json!({"title": "Fails", "max_attempts": 1}))
        .await;
    wait_for_task(&app, &task["id"], status_is("in_progress")).await;
    app.post_empty("/api/orchestrator/pause").await;
    wait_for_task(&app, &task["id"], status_is("blocked")).await;
    waiting_because(&app, "the orchestrator is paused").await;
    assert_eq!(
        sessions_of(&app, &task).await.len(),
        1,
        "nothing started while paused"
    );

    app.post_empty("/api/orchestrator/resume").await;
    let page = wait_for(
        &app,
        &format!("/api/sessions?task_id={}", task["id"]),
        |p| p["items"][0]["purpose"] == "investigation" && p["items"][0]["status"] == "running",
    )
    .await;
    let investigation = page["items"][0].clone();
    let worktree = app.dir.path().join("data/worktrees/T-1.investigation");
    let pid_file = worktree.join("parent.pid");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !pid_file.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the investigator never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !path.join("parent.pid").exists(),
        "the investigator never runs in the user's checkout"
    );

    app.post_empty(&format!("/api/tasks/{}/cancel", task["id"]))
        .await;
    let ended = wait_for(
        &app,
        &format!("/api/sessions/{}", investigation["id"]),
        |s| s["status"] != "running",
    )
    .await;
    assert_eq!(ended["status"], "cancelled", "{ended}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while worktree.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the investigation worktree was not removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_investigator_waits_while_the_budget_is_exceeded() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let script = fake_claude();
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(s, "build-1", &["env", "FAKE_CLAUDE_MODE=error", &script]);
        cli_agent(s, "investigator", &[&script]);
        // The failing attempt costs more than this; it may finish, the investigator waits.
        s.budget.daily_usd = Some(0.001);
        s.engine.reliability.budget_overrun = Overrun::Finish;
    })
    .await;
    let task = app
        .create_task(json!({"title": "Fails expensively", "max_attempts": 1}))
        .await;
    wait_for_task(&app, &task["id"], status_is("blocked")).await;
    waiting_because(&app, "a budget limit is reached").await;
    let sessions = sessions_of(&app, &task).await;
    assert_eq!(
        sessions.len(),
        1,
        "no investigation over budget: {sessions:?}"
    );
}

#[tokio::test]
async fn an_unblock_stops_the_investigation_before_the_next_attempt_starts() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let script = fake_claude();
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(s, "build-1", &["sh", "-c", "cat > /dev/null; exit 1"]);
        cli_agent(
            s,
            "investigator",
            &["env", "FAKE_CLAUDE_MODE=sleep", &script],
        );
    })
    .await;
    let task = app
        .create_task(json!({"title": "Unblocked mid-investigation", "max_attempts": 1}))
        .await;
    let page = wait_for(
        &app,
        &format!("/api/sessions?task_id={}", task["id"]),
        |p| p["items"][0]["purpose"] == "investigation" && p["items"][0]["status"] == "running",
    )
    .await;
    let investigation = page["items"][0].clone();
    app.post_empty(&format!("/api/tasks/{}/unblock", task["id"]))
        .await;
    let ended = wait_for(
        &app,
        &format!("/api/sessions/{}", investigation["id"]),
        |s| s["status"] != "running",
    )
    .await;
    assert_eq!(ended["status"], "cancelled", "{ended}");
    let next_attempt =
        |s: &Value| s["purpose"] == "attempt" && s["id"].as_i64() > investigation["id"].as_i64();
    let page = wait_for(
        &app,
        &format!("/api/sessions?task_id={}", task["id"]),
        |p| {
            p["items"]
                .as_array()
                .is_some_and(|i| i.iter().any(next_attempt))
        },
    )
    .await;
    let next = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| next_attempt(s))
        .unwrap();
    assert!(
        next["started_at"].as_str() >= ended["ended_at"].as_str(),
        "the next attempt started before the investigation ended: {page}"
    );
}

#[tokio::test]
async fn the_investigator_waits_for_a_free_session_slot() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let script = fake_claude();
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        // "Fails" fails at once; any other task runs until it is cancelled.
        cli_agent(
            s,
            "build-1",
            &[
                "sh",
                "-c",
                "prompt=$(cat); case \"$prompt\" in *Fails*) sleep 0.2; exit 1 ;; esac; exec sleep 300",
            ],
        );
        cli_agent(s, "investigator", &[&script]);
        s.engine.max_concurrent = 1;
        // The investigator looks again once a tick; the scheduler starts work on a wake.
        s.engine.tick = Duration::from_secs(2);
    })
    .await;
    let failing = app
        .create_task(json!({"title": "Fails", "max_attempts": 1}))
        .await;
    wait_for_task(&app, &failing["id"], status_is("in_progress")).await;
    app.post_empty("/api/orchestrator/pause").await;
    wait_for_task(&app, &failing["id"], status_is("blocked")).await;
    waiting_because(&app, "the orchestrator is paused").await;
    let busy = app.create_task(json!({"title": "Holds the slot"})).await;
    app.post_empty("/api/orchestrator/resume").await;
    wait_for_task(&app, &busy["id"], status_is("in_progress")).await;
    waiting_because(&app, "every session slot is busy").await;
    assert_eq!(
        sessions_of(&app, &failing).await.len(),
        1,
        "no investigation while the one slot is taken"
    );

    app.post_empty(&format!("/api/tasks/{}/cancel", busy["id"]))
        .await;
    let page = wait_for(
        &app,
        &format!("/api/sessions?task_id={}", failing["id"]),
        |p| p["items"][0]["purpose"] == "investigation",
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    let busy_sessions = sessions_of(&app, &busy).await;
    assert_ne!(busy_sessions[0]["status"], "running", "{busy_sessions:?}");
}
