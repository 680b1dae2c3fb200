//! Tasks run by `cli` agents: real child processes in their own process groups.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    cli_agent, fast_engine, git_repo,
    helpers::{json_with, spawn_with},
    sessions_of, status_is, wait_for_task,
};

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn alive(pid: i32) -> bool {
    // Signal 0 checks existence; a zombie still counts, so read its state too.
    let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !status.is_empty() && !status.contains(") Z ")
}

async fn read_pid(path: PathBuf) -> i32 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn cancelling_a_running_cli_session_kills_the_agent_and_its_child() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let script = fixture("fake-claude");
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(s, "build-1", &["env", "FAKE_CLAUDE_MODE=sleep", &script]);
    })
    .await;
    let task = app.create_task(json!({"title": "Sleepy"})).await;
    wait_for_task(&app, &task["id"], status_is("in_progress")).await;
    let worktree = app
        .dir
        .path()
        .join("data/worktrees")
        .join(task["display_id"].as_str().unwrap());
    // The pids the agent wrote are its own PID namespace's where it has one.
    let parent = read_pid(worktree.join("parent.pid")).await;
    let child = read_pid(worktree.join("child.pid")).await;
    let parent = harness_testkit::procs::host_pid(parent, &worktree).expect("the agent runs");
    let child = harness_testkit::procs::host_pid(child, &worktree).expect("its child runs");
    assert!(alive(parent) && alive(child));

    let cancelled = json_with(
        app.post_empty(&format!("/api/tasks/{}/cancel", task["id"]))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while alive(parent) || alive(child) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "agent {parent} or its child {child} survived the cancel"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let session = crate::wait_for(
        &app,
        &format!("/api/sessions?task_id={}", task["id"]),
        |p| p["items"][0]["status"] == "cancelled",
    )
    .await;
    assert_eq!(session["items"][0]["status"], "cancelled");
}

#[tokio::test]
async fn a_cli_agent_edits_files_and_its_work_is_merged() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let script = fixture("fake-claude");
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(s, "build-1", &[&script]);
        s.engine.verify = vec!["test -s from-agent.txt".into()];
    })
    .await;
    let task = app
        .create_task(json!({"title": "Write from the CLI"}))
        .await;
    wait_for_task(&app, &task["id"], status_is("completed")).await;
    let merged = git_repo::git(&path, &["show", "main:from-agent.txt"]);
    assert!(
        merged.contains("Write from the CLI"),
        "the prompt reached the agent on stdin: {merged}"
    );
    let session = &sessions_of(&app, &task).await[0];
    assert!(
        (session["cost_usd"].as_f64().unwrap() - 0.0123).abs() < 1e-9,
        "{session}"
    );
}

/// A CLI agent that records when it ran, writes a file named after its worktree and
/// reports success in stream-json.
const PARALLEL_AGENT: &str = r#"
cat > /dev/null
name=$(basename "$PWD")
date +%s%N > "$STAMPS/$name.start"
sleep 1.5
echo "$name" > "$name.txt"
date +%s%N > "$STAMPS/$name.end"
echo '{"type":"result","subtype":"success","is_error":false,"result":"wrote the file","total_cost_usd":0.001,"usage":{"input_tokens":1,"output_tokens":1}}'
"#;

#[tokio::test]
async fn two_agents_run_at_once_in_separate_worktrees_without_interfering() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let stamps = tempfile::tempdir().unwrap();
    let stamps_env = format!("STAMPS={}", stamps.path().display());
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        // The stamps are written outside the worktrees, so the sandbox must allow it.
        s.engine
            .sandbox
            .write_paths
            .push(stamps.path().to_path_buf());
        for agent in ["build-1", "build-2"] {
            cli_agent(
                s,
                agent,
                &["env", &stamps_env, "bash", "-c", PARALLEL_AGENT],
            );
        }
    })
    .await;
    let a = app.create_task(json!({"title": "Left"})).await;
    let b = app.create_task(json!({"title": "Right"})).await;
    let a = wait_for_task(&app, &a["id"], status_is("completed")).await;
    let b = wait_for_task(&app, &b["id"], status_is("completed")).await;

    let read = |name: String| -> u128 {
        std::fs::read_to_string(stamps.path().join(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (da, db) = (
        a["display_id"].as_str().unwrap(),
        b["display_id"].as_str().unwrap(),
    );
    let (a_start, a_end) = (read(format!("{da}.start")), read(format!("{da}.end")));
    let (b_start, b_end) = (read(format!("{db}.start")), read(format!("{db}.end")));
    assert!(
        a_start < b_end && b_start < a_end,
        "the two sessions did not overlap"
    );
    assert_ne!(a["assigned_agent"], b["assigned_agent"]);
    assert_eq!(
        (a["attempts"].as_i64(), b["attempts"].as_i64()),
        (Some(1), Some(1)),
        "both merged on their first attempt"
    );
    assert_eq!(
        git_repo::git(&path, &["show", &format!("main:{da}.txt")]),
        da
    );
    assert_eq!(
        git_repo::git(&path, &["show", &format!("main:{db}.txt")]),
        db
    );
}

#[tokio::test]
async fn a_cli_agent_killed_mid_run_still_records_its_spend() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let script = fixture("fake-claude");
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(s, "build-1", &["env", "FAKE_CLAUDE_MODE=sleep", &script]);
    })
    .await;
    let task = app.create_task(json!({"title": "Spends then hangs"})).await;
    wait_for_task(&app, &task["id"], status_is("in_progress")).await;
    // The agent has streamed its one message (with usage) once it wrote child.pid.
    let worktree = app.dir.path().join("data/worktrees/T-1");
    read_pid(worktree.join("child.pid")).await;
    crate::wait_for(
        &app,
        &format!("/api/sessions?task_id={}", task["id"]),
        |p| p["items"][0]["input_tokens"] == 1000,
    )
    .await;
    app.post_empty(&format!("/api/tasks/{}/cancel", task["id"]))
        .await;
    let sessions = crate::wait_for(
        &app,
        &format!("/api/sessions?task_id={}", task["id"]),
        |p| p["items"][0]["status"] == "cancelled",
    )
    .await;
    let session = &sessions["items"][0];
    assert_eq!(
        (
            session["input_tokens"].as_u64(),
            session["output_tokens"].as_u64()
        ),
        (Some(1000), Some(500)),
        "{session}"
    );
    // claude-sonnet-4-5 at $3 / $15 per million tokens.
    assert!(
        (session["cost_usd"].as_f64().unwrap() - 0.0105).abs() < 1e-6,
        "{session}"
    );
}
