//! Bounds on what a session keeps: its log is capped with a visible marker.

use serde_json::json;

use crate::{
    cli_agent, fast_engine, git_repo, helpers::spawn_with, logs_of, sessions_of, status_is,
    wait_for_task,
};

/// Prints 200 lines, then writes a file: proof it kept running past the cap.
const CHATTY_AGENT: &str = r#"
cat > /dev/null
i=0
while [ $i -lt 200 ]; do echo "line $i"; i=$((i+1)); done
echo "still running" > after-the-cap.txt
"#;

#[tokio::test]
async fn a_session_past_its_log_cap_keeps_running_and_shows_where_output_was_cut() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(s, "build-1", &["sh", "-c", CHATTY_AGENT]);
        s.engine.reliability.session_log_max_lines = 20;
    })
    .await;
    let task = app.create_task(json!({"title": "Chatty"})).await;
    wait_for_task(&app, &task["id"], status_is("completed")).await;
    assert_eq!(
        git_repo::git(&path, &["show", "main:after-the-cap.txt"]),
        "still running"
    );
    let session = &sessions_of(&app, &task).await[0];
    let logs = logs_of(&app, session).await;
    let texts: Vec<&str> = logs
        .iter()
        .map(|l| l["content"].as_str().unwrap())
        .collect();
    let cut = texts
        .iter()
        .position(|t| t.starts_with("[log cut here"))
        .unwrap_or_else(|| panic!("no marker in {texts:#?}"));
    assert!(
        texts[..cut].iter().any(|t| t.starts_with("line ")),
        "output before the cut is kept"
    );
    assert!(
        !texts.contains(&"line 199"),
        "output past the cap is not stored"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("lines (") && t.contains("were not stored")),
        "the end says how much was cut: {texts:#?}"
    );
    assert!(logs.len() < 40, "{} lines stored", logs.len());
    let stored: u64 = texts.iter().map(|t| t.len() as u64).sum();
    assert_eq!(session["log_bytes"].as_u64(), Some(stored), "{session}");
}

fn sleeping_agent(s: &mut harness::config::Settings) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fake-claude")
        .display()
        .to_string();
    cli_agent(s, "build-1", &["env", "FAKE_CLAUDE_MODE=sleep", &script]);
}

/// Waits until the task's one session ended; returns it.
async fn ended_session(
    app: &crate::helpers::TestApp,
    task: &serde_json::Value,
) -> serde_json::Value {
    let page = crate::wait_for(app, &format!("/api/sessions?task_id={}", task["id"]), |p| {
        p["items"][0]["status"]
            .as_str()
            .is_some_and(|s| s != "running")
    })
    .await;
    page["items"][0].clone()
}

#[tokio::test]
async fn a_session_crossing_its_cost_cap_mid_run_is_stopped_and_says_so() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        sleeping_agent(s);
        // The agent's one message costs $0.0105, then it waits five minutes.
        s.engine.reliability.session_max_usd = Some(0.001);
    })
    .await;
    let task = app
        .create_task(json!({"title": "Expensive", "max_attempts": 1}))
        .await;
    let session = ended_session(&app, &task).await;
    assert_eq!(session["status"], "failed", "{session}");
    assert!(
        session["exit_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("session cost limit"),
        "{session}"
    );
    wait_for_task(&app, &task["id"], status_is("blocked")).await;
    let events = crate::wait_for(&app, "/api/events?type=session.stopped", |e| {
        e["items"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    assert_eq!(events["items"][0]["session_id"], session["id"], "{events}");
}

#[tokio::test]
async fn a_budget_crossed_mid_session_stops_the_session_and_requeues_the_task() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        sleeping_agent(s);
        s.budget.daily_usd = Some(0.005);
    })
    .await;
    let task = app
        .create_task(json!({"title": "Crosses the budget"}))
        .await;
    let session = ended_session(&app, &task).await;
    assert_eq!(session["status"], "interrupted", "{session}");
    assert!(
        session["exit_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("budget limit was crossed"),
        "{session}"
    );
    let task = wait_for_task(&app, &task["id"], status_is("pending")).await;
    assert_eq!(task["attempts"], 0, "not the task's fault: {task}");
}

#[tokio::test]
async fn a_long_silent_command_is_not_taken_for_a_stuck_session() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        // A build that prints nothing for three times the stuck limit.
        cli_agent(
            s,
            "build-1",
            &[
                "sh",
                "-c",
                "cat > /dev/null; sleep 1.5; echo built > built.txt",
            ],
        );
        s.engine.stuck_after = std::time::Duration::from_millis(500);
    })
    .await;
    let task = app
        .create_task(json!({"title": "Long build", "max_attempts": 1}))
        .await;
    let task = wait_for_task(&app, &task["id"], |t| {
        t["status"] == "completed" || t["status"] == "blocked"
    })
    .await;
    assert_eq!(task["status"], "completed", "{task}");
}

#[tokio::test]
async fn a_task_crossing_its_own_cost_cap_mid_session_is_stopped() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        sleeping_agent(s);
    })
    .await;
    let bad = app
        .post("/api/tasks", json!({"title": "Capped", "max_cost_usd": -1}))
        .await;
    assert_eq!(bad.status(), 422);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["field"], "max_cost_usd", "{body}");

    let task = app
        .create_task(json!({"title": "Capped", "max_attempts": 1, "max_cost_usd": 0.001}))
        .await;
    assert_eq!(task["max_cost_usd"], 0.001);
    let session = ended_session(&app, &task).await;
    assert_eq!(session["status"], "failed", "{session}");
    assert!(
        session["exit_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("task's cost limit"),
        "{session}"
    );
    wait_for_task(&app, &task["id"], status_is("blocked")).await;
}

#[tokio::test]
async fn preparing_the_worktree_counts_toward_the_session_timeout() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(
            s,
            "build-1",
            &["sh", "-c", "cat > /dev/null; echo ran > ran.txt"],
        );
        // Creating a worktree takes longer than this, so nothing is left for the agent.
        s.engine.session_timeout = std::time::Duration::from_micros(1);
    })
    .await;
    let task = app
        .create_task(json!({"title": "No time left", "max_attempts": 1}))
        .await;
    let task = wait_for_task(&app, &task["id"], status_is("blocked")).await;
    assert_eq!(task["last_failure"], "the session timed out", "{task}");
    let session = &sessions_of(&app, &task).await[0];
    let logs = logs_of(&app, session).await;
    assert!(
        logs.iter()
            .any(|l| l["content"] == "the session timeout was used up preparing the worktree"),
        "{logs:?}"
    );
    let worktree = app.dir.path().join("data/worktrees/T-1");
    assert!(worktree.exists(), "the worktree was prepared");
    assert!(!worktree.join("ran.txt").exists(), "the agent never ran");
}
