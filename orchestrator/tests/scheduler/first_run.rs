//! What a person meets on a first run: outcomes they can tell apart, nothing left behind
//! after landing, and loops that end (a worktree that cannot be prepared, sessions that
//! keep ending without an attempt, leftovers of an earlier run, an agent program the
//! sandbox cannot reach).

use std::path::Path;

use serde_json::{Value, json};

use crate::{
    cli_agent, fast_engine, git_repo,
    helpers::{TestApp, json_with, spawn_with},
    scheduler_passed_over, sessions_of, status_is, wait_for, wait_for_task,
};

/// Writes a file named after its worktree, so parallel tasks never conflict.
const WRITER: &str = r#"cat > /dev/null; basename "$PWD" > "$(basename "$PWD").txt""#;
/// Changes nothing.
const IDLER: &str = "cat > /dev/null";

fn git(path: &Path, args: &[&str]) -> String {
    git_repo::git(path, args)
}

/// An executable `agent` with `text` in `dir`; its path.
fn executable(dir: &Path, text: &str) -> String {
    let agent = dir.join("agent");
    std::fs::write(&agent, text).unwrap();
    std::fs::set_permissions(&agent, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    agent.to_str().unwrap().to_owned()
}

/// The statuses of the task's attempt sessions, newest first, once the scheduler has
/// had a chance to start another (an investigation of a blocked task is not counted).
async fn attempt_statuses(app: &TestApp, task: &Value) -> Vec<String> {
    scheduler_passed_over(app).await;
    sessions_of(app, task)
        .await
        .iter()
        .filter(|s| s["purpose"] == "attempt")
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect()
}

async fn finished(app: &TestApp, task: &Value) -> Value {
    wait_for_task(app, &task["id"], |t| {
        matches!(
            t["status"].as_str(),
            Some("completed" | "failed" | "blocked")
        )
    })
    .await
}

#[tokio::test]
async fn landed_tasks_leave_no_worktree_or_branch_even_with_verification_leftovers() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(s, "build-1", &["sh", "-c", WRITER]);
        cli_agent(s, "build-2", &["sh", "-c", WRITER]);
        // What a Python test run leaves: untracked caches and logs.
        s.engine.verify =
            vec!["mkdir -p __pycache__ && touch __pycache__/m.pyc && echo ok > test.log".into()];
    })
    .await;
    let mut tasks = Vec::new();
    for n in 0..4 {
        tasks.push(app.create_task(json!({"title": format!("Task {n}")})).await);
    }
    for task in &tasks {
        let done = wait_for_task(&app, &task["id"], status_is("completed")).await;
        assert_eq!(done["outcome"]["kind"], "landed", "{done:#}");
        let commit = done["outcome"]["commit"].as_str().unwrap();
        assert_eq!(git(&path, &["cat-file", "-t", commit]), "commit");
    }
    let worktrees = git(&path, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
    assert_eq!(git(&path, &["branch", "--list", "harness/*"]), "");
    assert_eq!(
        git(&path, &["status", "--porcelain"]),
        "",
        "the workspace stays clean"
    );
    let log = git(&path, &["log", "--no-merges", "--format=%s", "main"]);
    assert_eq!(log.lines().count(), 5, "{log}");
}

#[tokio::test]
async fn a_build_task_that_changes_nothing_fails_and_a_research_task_finishes_with_no_changes() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(s, "build-1", &["sh", "-c", IDLER]);
        cli_agent(s, "research", &["sh", "-c", IDLER]);
    })
    .await;
    let build = app
        .create_task(json!({"title": "Add a flag", "max_attempts": 1}))
        .await;
    let research = app
        .create_task(json!({"title": "Compare the options", "category": "research"}))
        .await;
    let research = wait_for_task(&app, &research["id"], status_is("completed")).await;
    assert_eq!(research["outcome"], json!({"kind": "no_changes"}));
    let build = finished(&app, &build).await;
    assert_ne!(build["status"], "completed", "{build:#}");
    assert!(build["outcome"].is_null(), "{build:#}");
    let failure = build["last_failure"].as_str().unwrap();
    assert!(failure.contains("without changing anything"), "{failure}");
    assert_eq!(
        git(&path, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        2,
        "the failed build attempt's worktree is kept for inspection, the research one is gone"
    );
}

#[tokio::test]
async fn a_worktree_that_cannot_be_prepared_uses_attempts_and_ends_blocked() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let blocker = repo.path().join("not-a-directory");
    std::fs::write(&blocker, "a file where the worktrees should go").unwrap();
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(s, "build-1", &["sh", "-c", WRITER]);
        s.engine.worktrees_dir = blocker.join("worktrees");
    })
    .await;
    let task = app
        .create_task(json!({"title": "Never prepared", "max_attempts": 2}))
        .await;
    let task = finished(&app, &task).await;
    assert_eq!(task["status"], "blocked", "{task:#}");
    assert_eq!(task["attempts"], 2);
    let failure = task["last_failure"].as_str().unwrap();
    assert!(failure.contains("cannot prepare the worktree"), "{failure}");
    let statuses = attempt_statuses(&app, &task).await;
    assert_eq!(
        statuses,
        ["failed", "failed"],
        "one session per attempt, no more"
    );
}

#[tokio::test]
async fn sessions_that_keep_ending_without_an_attempt_are_bounded() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let bin = tempfile::tempdir().unwrap();
    // Executable, found on disk, but it cannot start: its interpreter does not exist.
    let program = executable(bin.path(), "#!/nonexistent/interpreter\n");
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(s, "build-1", &[&program]);
        s.engine.sandbox.read_paths.push(bin.path().to_path_buf());
        s.engine.reliability.max_requeues = 2;
    })
    .await;
    let task = app
        .create_task(json!({"title": "Cannot start", "max_attempts": 2}))
        .await;
    let task = finished(&app, &task).await;
    assert_eq!(task["status"], "blocked", "{task:#}");
    let failure = task["last_failure"].as_str().unwrap();
    assert!(failure.contains("ended without finishing"), "{failure}");
    let statuses = attempt_statuses(&app, &task).await;
    assert_eq!(
        statuses,
        ["failed", "failed", "interrupted", "interrupted"],
        "two requeues, then two counted attempts, newest first"
    );
}

#[tokio::test]
async fn an_agent_program_outside_the_sandbox_s_reach_is_unconfigured_and_never_started() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let bin = tempfile::tempdir().unwrap();
    let program = executable(bin.path(), "#!/bin/sh\ncat > /dev/null\necho hi > hi.txt\n");
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(s, "build-1", &[&program]);
        cli_agent(s, "build-2", &[&program]);
    })
    .await;
    let task = app.create_task(json!({"title": "Unreachable"})).await;
    let agent = wait_for(&app, "/api/agents/build-1", status_is("unconfigured")).await;
    let reason = agent["status_reason"].as_str().unwrap();
    assert!(reason.contains("HARNESS_AGENT_READ_PATHS"), "{reason}");
    assert!(
        reason.contains(&bin.path().canonicalize().unwrap().display().to_string()),
        "{reason}"
    );
    scheduler_passed_over(&app).await;
    assert!(sessions_of(&app, &task).await.is_empty());
}

#[tokio::test]
async fn leftovers_holding_the_task_s_branch_are_set_aside_and_the_attempt_lands() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    // An earlier run with another data directory left T-1's worktree, with work in it.
    let old = repo.path().join("old-data/worktrees/T-1");
    git(
        &path,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "harness/T-1",
            old.to_str().unwrap(),
            "main",
        ],
    );
    std::fs::write(old.join("unsaved.txt"), "work of the earlier run\n").unwrap();
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(s, "build-1", &["sh", "-c", WRITER]);
        cli_agent(s, "build-2", &["sh", "-c", WRITER]);
    })
    .await;
    let task = app.create_task(json!({"title": "After a move"})).await;
    assert_eq!(task["display_id"], "T-1");
    let task = wait_for_task(&app, &task["id"], status_is("completed")).await;
    assert_eq!(task["outcome"]["kind"], "landed");
    assert!(!old.exists(), "the leftover worktree was set aside");
    let kept = git(
        &path,
        &[
            "branch",
            "--list",
            "harness/T-1-kept-*",
            "--format=%(refname:short)",
        ],
    );
    assert_eq!(kept.lines().count(), 1, "{kept}");
    assert_eq!(
        git(&path, &["show", &format!("{kept}:unsaved.txt")]),
        "work of the earlier run"
    );
    let logs = json_with(
        app.get(&format!(
            "/api/sessions/{}/logs",
            sessions_of(&app, &task).await[0]["id"]
        ))
        .await,
        reqwest::StatusCode::OK,
    )
    .await;
    assert!(
        logs.to_string().contains("set aside a leftover worktree"),
        "{logs:#}"
    );
}

#[tokio::test]
async fn an_api_that_keeps_failing_ends_in_counted_attempts_not_endless_sessions() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    // An empty script: every request is a 500, so every session is interrupted.
    let fake = crate::fake_anthropic::FakeAnthropic::start(Vec::new()).await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        s.engine.reliability.max_requeues = 2;
    })
    .await;
    let task = app
        .create_task(json!({"title": "The API is down", "max_attempts": 1}))
        .await;
    let task = finished(&app, &task).await;
    assert_eq!(task["status"], "blocked", "{task:#}");
    let failure = task["last_failure"].as_str().unwrap();
    assert!(
        failure.contains("3 sessions ended without finishing"),
        "{failure}"
    );
    let statuses = attempt_statuses(&app, &task).await;
    assert_eq!(
        statuses,
        ["failed", "interrupted", "interrupted"],
        "newest first"
    );
}
