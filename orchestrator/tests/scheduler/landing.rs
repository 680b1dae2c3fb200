//! Landing: what lands on the base is exactly what was verified, and a git that hangs
//! while landing times out and frees the merge lock.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    cli_agent, fast_engine, git_repo,
    helpers::{TestApp, json_with, spawn_in, spawn_with},
    sessions_of, wait_for_task,
};

/// A CLI agent that writes a.txt (title with Alpha) or b.txt, holding its worktree's
/// name, and waits (bounded) until
/// both agents have written theirs, so both verify against the same base.
const PAIRED_AGENT: &str = r#"
prompt=$(cat)
case "$prompt" in
  *Alpha*) file=a.txt ;;
  *) file=b.txt ;;
esac
basename "$PWD" > "$file"
touch "$SYNC/$(basename "$PWD")"
i=0
while [ "$(ls "$SYNC" | wc -l)" -lt 2 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
"#;

/// The path of the fake Claude Code CLI (tests/fixtures/fake-claude).
fn fake_claude() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fake-claude")
        .display()
        .to_string()
}

async fn paired_app(path: &Path, sync: &Path, verify: &str) -> TestApp {
    let sync_env = format!("SYNC={}", sync.display());
    spawn_with(|s| {
        fast_engine(s, path, None);
        for agent in ["build-1", "build-2"] {
            cli_agent(s, agent, &["env", &sync_env, "sh", "-c", PAIRED_AGENT]);
        }
        s.engine.verify = vec![verify.to_owned()];
    })
    .await
}

/// Waits until one task completed and the other is blocked; returns (landed, refused).
async fn one_lands_one_is_refused(app: &TestApp, a: &Value, b: &Value) -> (Value, Value) {
    let done = |t: &Value| t["status"] == "completed" || t["status"] == "blocked";
    let a = wait_for_task(app, &a["id"], done).await;
    let b = wait_for_task(app, &b["id"], done).await;
    match (a["status"].as_str(), b["status"].as_str()) {
        (Some("completed"), Some("blocked")) => (a, b),
        (Some("blocked"), Some("completed")) => (b, a),
        other => panic!("expected one landed and one refused, got {other:?}: {a:#} {b:#}"),
    }
}

#[tokio::test]
async fn two_tasks_that_pass_alone_but_break_together_never_leave_a_failing_base() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let sync = tempfile::tempdir().unwrap();
    // Each file alone passes; both together fail.
    let app = paired_app(&path, sync.path(), "test ! -f a.txt || test ! -f b.txt").await;
    let a = app
        .create_task(json!({"title": "Alpha", "max_attempts": 1}))
        .await;
    let b = app
        .create_task(json!({"title": "Beta", "max_attempts": 1}))
        .await;
    let (landed, refused) = one_lands_one_is_refused(&app, &a, &b).await;

    for commit in git_repo::git(&path, &["rev-list", "main"]).lines() {
        let files = git_repo::git(&path, &["ls-tree", "--name-only", commit]);
        assert!(
            !(files.contains("a.txt") && files.contains("b.txt")),
            "main reached {commit}, a tree that fails verification: {files}"
        );
    }
    let failure = refused["last_failure"].as_str().unwrap_or_default();
    assert!(
        failure.contains("brought up to main"),
        "the refusal says it verified the combined tree: {failure}"
    );
    let session = &sessions_of(&app, &landed).await[0];
    assert_eq!(session["landing"], "merge", "{session}");
}

#[tokio::test]
async fn a_conflict_with_the_base_names_the_files_for_the_next_attempt() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let sync = tempfile::tempdir().unwrap();
    // Both titles say Alpha: both agents write a.txt, each with its own content.
    let app = paired_app(&path, sync.path(), "true").await;
    let a = app
        .create_task(json!({"title": "Alpha one", "max_attempts": 1}))
        .await;
    let b = app
        .create_task(json!({"title": "Alpha two", "max_attempts": 1}))
        .await;
    let (_, refused) = one_lands_one_is_refused(&app, &a, &b).await;
    let failure = refused["last_failure"].as_str().unwrap_or_default();
    assert!(
        failure.contains("conflicts") && failure.contains("- a.txt"),
        "the next attempt is told which files conflict: {failure}"
    );
}

#[tokio::test]
async fn a_hanging_git_while_landing_times_out_and_frees_the_merge_lock() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let script = fake_claude();
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(s, "build-1", &[&script]);
        s.engine.reliability.git_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    // The fast-forward in the main checkout reads its index: a FIFO there blocks git
    // for as long as nobody writes to it, like a credential prompt or a stuck LFS fetch.
    let index = path.join(".git/index");
    std::fs::remove_file(&index).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&index)
        .status()
        .unwrap();
    assert!(made.success());
    let first = app
        .create_task(json!({"title": "Lands on a hanging git", "max_attempts": 1}))
        .await;
    let first = wait_for_task(&app, &first["id"], |t| t["status"] == "blocked").await;
    assert!(
        first["last_failure"]
            .as_str()
            .unwrap_or_default()
            .contains("did not finish in 1s"),
        "{first}"
    );

    std::fs::remove_file(&index).unwrap();
    git_repo::git(&path, &["reset", "-q"]);
    let second = app.create_task(json!({"title": "Lands after it"})).await;
    wait_for_task(&app, &second["id"], |t| t["status"] == "completed").await;
    assert!(git_repo::git(&path, &["show", "main:from-agent.txt"]).contains("Lands after it"));
}

#[tokio::test]
async fn verified_work_waits_out_a_base_that_keeps_moving_and_lands_without_a_second_session() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let script = fake_claude();
    let go = tempfile::tempdir().unwrap();
    // Each round's verification numbers itself in the worktree (`.round`) and waits for
    // the test to say go for that round, so the test moves the base while it verifies.
    let verify = format!(
        "r=$(( $(cat .round 2>/dev/null || echo 0) + 1 )); echo $r > .round; \
         i=0; while [ ! -e {go}/go-$r ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done",
        go = go.path().display()
    );
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(s, "build-1", &[&script]);
        s.engine.sandbox.read_paths.push(go.path().to_path_buf());
        s.engine.verify = vec![verify];
        s.engine.reliability.land_tries = 2;
    })
    .await;
    let task = app
        .create_task(json!({"title": "Chasing a moving base", "max_attempts": 1}))
        .await;
    let round_file = app.dir.path().join("data/worktrees/T-1/.round");
    for round in 1..=3 {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::fs::read_to_string(&round_file)
            .unwrap_or_default()
            .trim()
            != round.to_string()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "round {round} never verified"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // The base moves during the first two rounds; then it holds still.
        if round <= 2 {
            std::fs::write(path.join(format!("moved-{round}.txt")), "elsewhere\n").unwrap();
            git_repo::git(&path, &["add", "-A"]);
            git_repo::git(&path, &["commit", "-q", "-m", &format!("moved {round}")]);
        }
        std::fs::write(go.path().join(format!("go-{round}")), "").unwrap();
    }
    let task = wait_for_task(&app, &task["id"], |t| t["status"] == "completed").await;
    assert_eq!(task["outcome"]["kind"], "landed", "{task:#}");
    assert!(
        git_repo::git(&path, &["ls-tree", "--name-only", "main"]).contains("from-agent.txt"),
        "the verified work landed"
    );
    let sessions = sessions_of(&app, &task).await;
    assert_eq!(sessions.len(), 1, "the agent ran once: {sessions:#?}");
    let logs = crate::logs_of(&app, &sessions[0]).await;
    let said = |text: &str| {
        logs.iter()
            .any(|l| l["content"].as_str().is_some_and(|c| c.contains(text)))
    };
    assert!(
        said("moved while this branch was verified (round 1 of 2)"),
        "{logs:?}"
    );
    assert!(
        said("verified, waiting to land: main kept moving for 2 rounds"),
        "{logs:?}"
    );
}

#[tokio::test]
async fn a_checkout_that_refuses_the_landing_keeps_the_work_verified_until_it_lands() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    // The agent writes from-agent.txt; the person has an uncommitted file of that name
    // in the checked-out base, so git refuses to fast-forward over it.
    std::fs::write(path.join("from-agent.txt"), "the person's own draft\n").unwrap();
    let script = fake_claude();
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        cli_agent(s, "build-1", &[&script]);
        s.engine.retry_base = std::time::Duration::from_secs(30);
        s.engine.retry_cap = std::time::Duration::from_secs(30);
    })
    .await;
    let task = app
        .create_task(json!({"title": "Blocked by a draft", "max_attempts": 1}))
        .await;
    let waiting = wait_for_task(&app, &task["id"], |t| {
        t["outcome"]["kind"] == "waiting_to_land"
    })
    .await;
    assert_eq!(waiting["status"], "verifying");
    let reason = waiting["outcome"]["reason"].as_str().unwrap();
    assert!(reason.contains("refuses the fast-forward"), "{reason}");
    let events = json_with(app.get("/api/events").await, StatusCode::OK).await;
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "task.waiting_to_land"),
        "{events:#}"
    );
    // The person moves the draft away and asks to land now (the next timed retry is
    // 30 s away, past this test's patience).
    std::fs::remove_file(path.join("from-agent.txt")).unwrap();
    let asked = app
        .post_empty(&format!("/api/tasks/{}/land", task["id"]))
        .await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let task = wait_for_task(&app, &task["id"], |t| t["status"] == "completed").await;
    assert_eq!(task["outcome"]["kind"], "landed", "{task:#}");
    assert_eq!(
        sessions_of(&app, &task).await.len(),
        1,
        "no second agent session"
    );
    assert!(git_repo::git(&path, &["show", "main:from-agent.txt"]).contains("Blocked by a draft"));
    // Nothing waits now: asking again is a conflict naming the task's state.
    let again = app
        .post_empty(&format!("/api/tasks/{}/land", task["id"]))
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
}

/// A task left `verifying` by a crash, whose attempt recorded `commit`, after a restart.
async fn restarted_with_commit(commit_on_main: bool) -> Value {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| fast_engine(s, &path, None)).await;
    // Nothing runs by itself: the test plays the attempt on the board.
    let paused = app.post("/api/orchestrator/pause", json!({})).await;
    assert!(paused.status().is_success(), "{}", paused.status());
    let task = app.create_task(json!({"title": "Landed once"})).await;
    let id = harness_domain::task::TaskId::new(task["id"].as_i64().unwrap()).unwrap();
    let agent = harness_domain::agent::AgentId::parse("build-1").unwrap();
    let agent = app.board.get_agent(agent).await.unwrap();
    let (_, session) = app.board.claim(id, &agent).await.unwrap();
    if !commit_on_main {
        git_repo::git(&path, &["checkout", "-q", "-b", "side"]);
    }
    git_repo::git(
        &path,
        &["commit", "-q", "--allow-empty", "-m", "the attempt's work"],
    );
    let commit = git_repo::git(&path, &["rev-parse", "HEAD"]);
    git_repo::git(&path, &["checkout", "-q", "main"]);
    app.board.record_commit(session.id, commit).await.unwrap();
    app.board.enter_verifying(id).await.unwrap();

    let dir = app.stop().await;
    let app = spawn_in(dir, |s| fast_engine(s, &path, None)).await;
    let task = json_with(app.get(&format!("/api/tasks/{id}")).await, StatusCode::OK).await;
    app.stop().await;
    task
}

#[tokio::test]
async fn a_task_whose_attempt_landed_before_a_crash_is_completed_not_run_again() {
    let task = restarted_with_commit(true).await;
    assert_eq!(task["status"], "completed", "{task:#}");
    assert_eq!(task["attempts"], 1, "{task:#}");
}

#[tokio::test]
async fn a_task_whose_attempt_had_not_landed_before_a_crash_runs_again() {
    let task = restarted_with_commit(false).await;
    assert_eq!(task["status"], "pending", "{task:#}");
    assert_eq!(task["attempts"], 0, "{task:#}");
}
