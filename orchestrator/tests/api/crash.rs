//! Crash safety: kill -9 in the middle of writes loses nothing that was acknowledged.

use std::{path::Path, time::Duration};

use tempfile::TempDir;

use crate::{
    cli::{Server, harness},
    helpers::test_client,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_loses_no_acknowledged_task() {
    let dir = TempDir::new().unwrap();
    let mut server = Server::start(dir.path());
    let base = server.base.clone();
    // How many creates were answered 201 so far: the kill waits for a good number.
    let (acked, mut acked_rx) = tokio::sync::watch::channel(0usize);
    let writer = tokio::spawn(async move {
        let client = test_client(Some(Duration::from_secs(5)));
        let mut acknowledged = Vec::new();
        for i in 0..100_000 {
            let title = format!("crash-test {i}");
            let sent = client
                .post(format!("{base}/api/tasks"))
                .body(format!(r#"{{"title":"{title}"}}"#))
                .send()
                .await;
            match sent {
                Ok(r) if r.status() == 201 => {
                    acknowledged.push(title);
                    acked.send_replace(acknowledged.len());
                }
                _ => break, // the server is gone
            }
        }
        acknowledged
    });
    tokio::time::timeout(Duration::from_secs(30), acked_rx.wait_for(|n| *n >= 200))
        .await
        .expect("200 creates were not acknowledged in 30 s")
        .expect("the writer stopped before 200 creates");
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(5));
    let acknowledged = writer.await.unwrap();
    assert!(
        acknowledged.len() > 10,
        "the loop should have written for a while"
    );

    let restarted = Server::start(dir.path());
    let client = test_client(None);
    let body: serde_json::Value = client
        .get(format!("{}/api/tasks?limit=1&q=crash-test", restarted.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["total"].as_u64().unwrap() >= acknowledged.len() as u64);
    drop(restarted);

    assert_all_present(&dir.path().join("data/harness.db"), &acknowledged);
    let out = harness(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success(), "the database reopens cleanly");
}

fn assert_all_present(db: &Path, titles: &[String]) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut stmt = conn
        .prepare("SELECT 1 FROM tasks WHERE title = ?1")
        .unwrap();
    let missing: Vec<&String> = titles
        .iter()
        .filter(|t| !stmt.exists([t.as_str()]).unwrap())
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged tasks are missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );
}

/// A harness.toml that points the engine at `repo` with `build-1` running `command`.
fn engine_config(dir: &Path, repo: &Path, command: &[String]) {
    let command = command
        .iter()
        .map(|c| format!("{c:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    // The fake CLI lives in the source tree, which the agent sandbox does not grant.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let toml = format!(
        "workspace = {repo:?}\ntick_secs = 0.1\nsession_spacing_secs = 0\nretry_base_secs = 0.05\n\
         agent_read_paths = [{fixtures:?}]\n\
         [agents.build-1]\nruntime = \"cli\"\ncommand = [{command}]\n",
        repo = repo.display().to_string(),
        fixtures = fixtures.display().to_string()
    );
    std::fs::write(dir.join("harness.toml"), toml).unwrap();
}

async fn task_json(base: &str, path: &str) -> serde_json::Value {
    test_client(None)
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_session_interrupts_it_and_the_task_runs_again_to_completion() {
    let repo_dir = crate::git_repo::init_repo(&[("README.md", "hello\n")]);
    let repo = crate::git_repo::repo_path(&repo_dir);
    let dir = TempDir::new().unwrap();
    let fake = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fake-claude")
        .display()
        .to_string();
    engine_config(
        dir.path(),
        &repo,
        &["env".into(), "FAKE_CLAUDE_MODE=sleep".into(), fake.clone()],
    );

    let mut server = Server::start(dir.path());
    let client = test_client(None);
    let task: serde_json::Value = client
        .post(format!("{}/api/tasks", server.base))
        .body(r#"{"title":"survive a crash"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pid_file = dir.path().join("data/worktrees/T-1/parent.pid");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !pid_file.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(5));
    // The agent and its child outlive the orchestrator: they are in their own group.
    let worktree = dir.path().join("data/worktrees/T-1");
    let pids: Vec<String> = ["parent.pid", "child.pid"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(worktree.join(f))
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .collect();
    assert!(
        pids.iter().all(|p| alive(p)),
        "the orphans should still run: {pids:?}"
    );

    engine_config(dir.path(), &repo, &[fake]);
    let server = Server::start(dir.path());
    // Startup stopped the orphans before anything else ran.
    assert!(
        pids.iter().all(|p| !alive(p)),
        "orphaned agent processes survived the restart: {pids:?}"
    );
    let id = task["id"].as_i64().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let done = loop {
        let t = task_json(&server.base, &format!("/api/tasks/{id}")).await;
        if t["status"] == "completed" {
            break t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never completed: {t}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let history = task_json(&server.base, &format!("/api/tasks/{id}/history")).await;
    assert_eq!(
        done["attempts"], 1,
        "the interrupted attempt is not counted: {history}"
    );
    let mut sessions = task_json(&server.base, &format!("/api/sessions?task_id={id}")).await;
    while sessions["items"][0]["status"] == "running" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session never ended: {sessions}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        sessions = task_json(&server.base, &format!("/api/sessions?task_id={id}")).await;
    }
    let statuses: Vec<&str> = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["succeeded", "interrupted"]);
    let merged = crate::git_repo::git(&repo, &["show", "main:from-agent.txt"]);
    assert!(merged.contains("survive a crash"));
}

/// Running and not a zombie.
fn alive(pid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !pid.is_empty() && !stat.is_empty() && !stat.contains(") Z ")
}

/// Starts the server (creating the task first when `title` is given), waits for the
/// agent of T-1 to write its pid file, then kills the server with -9.
async fn crash_while_the_agent_runs(dir: &Path, title: Option<&str>) {
    let pid_file = dir.join("data/worktrees/T-1/parent.pid");
    let mut server = Server::start(dir);
    if let Some(title) = title {
        let created = crate::helpers::test_client(None)
            .post(format!("{}/api/tasks", server.base))
            .body(format!(r#"{{"title":"{title}"}}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !pid_file.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(5));
    std::fs::remove_file(&pid_file).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_crashes_the_server_twice_ends_blocked() {
    let repo_dir = crate::git_repo::init_repo(&[("README.md", "hello\n")]);
    let repo = crate::git_repo::repo_path(&repo_dir);
    let dir = TempDir::new().unwrap();
    let fake = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fake-claude")
        .display()
        .to_string();
    engine_config(
        dir.path(),
        &repo,
        &["env".into(), "FAKE_CLAUDE_MODE=sleep".into(), fake],
    );
    crash_while_the_agent_runs(dir.path(), Some("takes the server down")).await;
    crash_while_the_agent_runs(dir.path(), None).await;

    let server = Server::start(dir.path());
    let task = task_json(&server.base, "/api/tasks/1").await;
    assert_eq!(task["status"], "blocked", "{task}");
    assert!(
        task["last_failure"]
            .as_str()
            .unwrap_or_default()
            .contains("2 orchestrator crashes"),
        "{task}"
    );
    assert_eq!(task["attempts"], 0, "crashes use no attempt: {task}");
    let events = task_json(&server.base, "/api/events?type=task.blocked").await;
    assert_eq!(events["items"].as_array().unwrap().len(), 1, "{events}");
}
