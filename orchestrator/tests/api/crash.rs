//! Crash safety: kill -9 in the middle of writes loses nothing that was acknowledged,
//! with many clients writing at once so that their writes share group commits.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tempfile::TempDir;

use crate::{
    cli::{Server, harness},
    helpers::test_client,
};

/// What the writers saw: the titles the server acknowledged (201), and how many
/// requests were sent but never answered because the server died under them.
struct Written {
    acknowledged: Vec<String>,
    unanswered: usize,
}

/// `clients` loops creating tasks until the server is gone; `count` follows the
/// acknowledgements so the test can kill at a known point without sleeping.
fn start_writers(
    base: &str,
    clients: usize,
    count: Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<Written>> {
    (0..clients)
        .map(|c| {
            let (base, count) = (base.to_owned(), count.clone());
            tokio::spawn(async move {
                let client = test_client(Some(Duration::from_secs(10)));
                let mut written = Written {
                    acknowledged: Vec::new(),
                    unanswered: 0,
                };
                for i in 0..100_000 {
                    let title = format!("crash-test {c}-{i}");
                    let sent = client
                        .post(format!("{base}/api/tasks"))
                        .body(format!(r#"{{"title":"{title}"}}"#))
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 201 => {
                            written.acknowledged.push(title);
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => panic!("unexpected {} while writing", r.status()),
                        Err(e) if e.is_connect() => break, // the server was already gone
                        Err(_) => {
                            written.unanswered += 1; // sent, then the server died
                            break;
                        }
                    }
                }
                written
            })
        })
        .collect()
}

/// Writes with `clients` concurrent clients, kills the server with SIGKILL once
/// `before_kill` writes were acknowledged, and returns what the clients saw.
async fn kill_during_writes(dir: &Path, clients: usize, before_kill: usize) -> Written {
    let mut server = Server::start(dir);
    let count = Arc::new(AtomicUsize::new(0));
    let writers = start_writers(&server.base, clients, count.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while count.load(Ordering::Relaxed) < before_kill {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} writes acknowledged",
            count.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(5));
    let mut all = Written {
        acknowledged: Vec::new(),
        unanswered: 0,
    };
    for w in writers {
        let w = w.await.unwrap();
        all.acknowledged.extend(w.acknowledged);
        all.unanswered += w.unanswered;
    }
    all
}

/// After a restart: every acknowledged task is there, the file is intact, and no
/// change is half there (each task has the history row of its creation).
async fn assert_survived(dir: &Path, acknowledged: &[String]) {
    let restarted = Server::start(dir);
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

    let db = dir.join("data/harness.db");
    assert_all_present(&db, acknowledged);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let without_history: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM tasks t WHERE NOT EXISTS
               (SELECT 1 FROM task_history h WHERE h.task_id = t.id AND h.reason = 'created')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(without_history, 0, "tasks committed without their history");
    let out = harness(dir).arg("migrate").output().unwrap();
    assert!(out.status.success(), "the database reopens cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_concurrent_writes_loses_no_acknowledged_task() {
    let dir = TempDir::new().unwrap();
    let written = kill_during_writes(dir.path(), 16, 300).await;
    assert!(written.acknowledged.len() >= 300);
    assert_survived(dir.path(), &written.acknowledged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_a_batch_loses_no_acknowledged_task() {
    let dir = TempDir::new().unwrap();
    // Batches that stay open long and grow large: at any instant one is being filled,
    // so the kill lands while writes sit in an uncommitted batch.
    std::fs::write(
        dir.path().join("harness.toml"),
        "write_batch = 10000\nwrite_batch_ms = 200\n",
    )
    .unwrap();
    let written = kill_during_writes(dir.path(), 32, 300).await;
    assert!(
        written.unanswered > 0,
        "the kill should land while writes wait in a batch"
    );
    assert_survived(dir.path(), &written.acknowledged).await;
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
    // As the agent's own PID namespace numbers them, where it has one.
    let pids: Vec<String> = ["parent.pid", "child.pid"]
        .iter()
        .map(|f| {
            let inner = std::fs::read_to_string(worktree.join(f)).unwrap_or_default();
            inner
                .trim()
                .parse()
                .ok()
                .and_then(|inner| harness_testkit::procs::host_pid(inner, &worktree))
                .map(|pid| pid.to_string())
                .unwrap_or_default()
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
    assert_eq!(task["crash_interruptions"], 2, "the count is shown: {task}");
    let events = task_json(&server.base, "/api/events?type=task.blocked").await;
    assert_eq!(events["items"].as_array().unwrap().len(), 1, "{events}");

    // A human unblocking it gives it a fresh count, as it gives fresh attempts: one
    // more crash does not block it again at once.
    let unblocked: serde_json::Value = test_client(None)
        .post(format!("{}/api/tasks/1/unblock", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unblocked["status"], "pending", "{unblocked}");
    assert_eq!(unblocked["crash_interruptions"], 0, "{unblocked}");
    let mut server = server;
    let pid_file = dir.path().join("data/worktrees/T-1/parent.pid");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !pid_file.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent never ran again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(5));
    let server = Server::start(dir.path());
    let task = task_json(&server.base, "/api/tasks/1").await;
    assert_eq!(task["crash_interruptions"], 1, "{task}");
    assert_ne!(task["status"], "blocked", "{task}");
}
