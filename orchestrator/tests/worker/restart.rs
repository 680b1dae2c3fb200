//! Workers outlive the orchestrator: a restart re-adopts them, and a worker lost while
//! it was away (or since) is requeued and counted as a crash.

use std::{path::Path, time::Duration};

use harness::config::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    alive, fixture, git_repo,
    helpers::{TestApp, json_with, spawn_in, spawn_with},
    remote_engine, running_worker, sessions_of, wait_for, worker_pid,
};

/// `remote_engine` with the fake agent in `gate` mode: it ticks until `gate` exists.
fn gated(s: &mut Settings, workspace: &Path, gate: &Path) {
    remote_engine(s, workspace, "gate", 5.0);
    let agent = s.engine.agents.get_mut("build-1").unwrap();
    agent.command = Some(vec![
        "env".into(),
        "FAKE_CLAUDE_MODE=gate".into(),
        format!("FAKE_CLAUDE_GATE={}", gate.display()),
        fixture("fake-claude"),
    ]);
    s.engine
        .sandbox
        .read_paths
        .push(gate.parent().unwrap().to_path_buf());
    s.engine.verify = vec!["test -s from-agent.txt".into()];
}

/// The tick the agent last wrote in the worker's clone (0 before the first).
fn ticks(app_dir: &Path, session: &Value) -> u64 {
    let file = app_dir.join(format!(
        "data/worktrees/.workers/worker-{}/work/repo/.ticks",
        session["id"]
    ));
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

async fn wait_ticks(app_dir: &Path, session: &Value, at_least: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while ticks(app_dir, session) < at_least {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent did not tick {at_least} times"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn log_texts(app: &TestApp, session: i64) -> Vec<String> {
    let logs = json_with(
        app.get(&format!("/api/sessions/{session}/logs?limit=5000"))
            .await,
        StatusCode::OK,
    )
    .await;
    logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn history(app: &TestApp, task: &Value) -> Vec<Value> {
    let page = json_with(
        app.get(&format!("/api/tasks/{}/history", task["id"])).await,
        StatusCode::OK,
    )
    .await;
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_worker_carries_on_across_an_orchestrator_restart_and_is_re_adopted() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let gates = tempfile::tempdir().unwrap();
    let gate = gates.path().join("open");
    let app = spawn_with(|s| gated(s, &path, &gate)).await;
    let port = app.addr.port();
    let task = app.create_task(json!({"title": "Across a restart"})).await;
    let session = running_worker(&app, &task).await;
    let pid = worker_pid(&session);
    wait_for(
        &app,
        &format!("/api/sessions/{}/logs", session["id"]),
        |l| l.to_string().contains("tick 3"),
    )
    .await;

    // A clean stop (an upgrade): the worker is detached, not stopped.
    let dir = app.stop().await;
    assert!(
        alive(pid),
        "the worker {pid} did not outlive the orchestrator"
    );
    // It keeps working while the orchestrator is away: these ticks wait in its queue.
    let before = ticks(dir.path(), &session);
    wait_ticks(dir.path(), &session, before + 10).await;

    // The same database and port: the worker reconnects with the credential it holds.
    let app = spawn_in(dir, |s| {
        gated(s, &path, &gate);
        s.port = port;
    })
    .await;
    std::fs::write(&gate, "").unwrap();
    let done = wait_for(&app, &format!("/api/tasks/{}", task["id"]), |t| {
        t["status"] != "in_progress" && t["status"] != "verifying"
    })
    .await;
    assert_eq!(done["status"], "completed", "{done:#}");
    let landed = std::fs::read_to_string(path.join("from-agent.txt")).unwrap();
    assert!(landed.contains("Across a restart"), "{landed}");

    // One session throughout, the same worker, finished by the second run.
    let sessions = sessions_of(&app, &task).await;
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    assert_eq!(sessions[0]["id"], session["id"]);
    assert_eq!(sessions[0]["status"], "succeeded", "{sessions:#?}");
    assert_eq!(sessions[0]["executor_name"], session["executor_name"]);
    let id = session["id"].as_i64().unwrap();
    let texts = log_texts(&app, id).await;
    assert!(
        texts.iter().any(|t| t.contains("following worker")),
        "{texts:#?}"
    );
    // Every tick once, in order: none lost or repeated across the restart.
    let numbers: Vec<u64> = texts
        .iter()
        .filter_map(|t| t.strip_prefix("tick ")?.parse().ok())
        .collect();
    let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
    assert_eq!(numbers, expected, "ticks in the log");
    assert!(numbers.len() as u64 >= before + 10, "{numbers:?}");
    // Not counted as a crash: no requeue in the task's history.
    let history = history(&app, &task).await;
    assert!(
        history
            .iter()
            .all(|h| h["to_status"] != "pending" || h["from_status"].is_null()),
        "{history:#?}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while alive(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "worker {pid} left running"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_worker_gone_while_the_orchestrator_was_away_is_requeued_as_a_crash() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let tweak = |s: &mut Settings| {
        remote_engine(s, &path, "sleep", 2.0);
        s.engine.reliability.max_crash_interruptions = 1;
    };
    let app = spawn_with(tweak).await;
    let task = app.create_task(json!({"title": "Lost while away"})).await;
    let session = running_worker(&app, &task).await;
    let pid = worker_pid(&session);
    let dir = app.stop().await;
    assert!(
        alive(pid),
        "the worker {pid} did not outlive the orchestrator"
    );
    // Its whole process group (worker, agent, the agent's child).
    // SAFETY: kill(2) only sends a signal; no memory is touched. The group is the
    // worker's own (it was started as a group leader).
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while alive(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "worker {pid} not killed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let app = spawn_in(dir, tweak).await;
    let session = wait_for(&app, &format!("/api/sessions/{}", session["id"]), |s| {
        s["status"] != "running"
    })
    .await;
    assert_eq!(session["status"], "interrupted", "{session:#}");
    assert!(
        session["exit_reason"]
            .as_str()
            .is_some_and(|r| r.contains("the worker was lost") && r.contains("gone")),
        "{session:#}"
    );
    // Counted as a crash: with HARNESS_MAX_CRASH_INTERRUPTIONS at 1 the task is blocked,
    // without using an attempt.
    let task = wait_for(&app, &format!("/api/tasks/{}", task["id"]), |t| {
        t["status"] == "blocked"
    })
    .await;
    assert!(
        task["last_failure"]
            .as_str()
            .is_some_and(|r| r.contains("1 orchestrator crashes or lost workers")),
        "{task:#}"
    );
    assert_eq!(task["attempts"], 0, "{task:#}");
}

#[tokio::test]
async fn a_worker_that_stops_heart_beating_counts_as_a_crash_until_the_task_blocks() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        remote_engine(s, &path, "sleep", 1.0);
        s.engine.reliability.max_crash_interruptions = 2;
    })
    .await;
    let task = app.create_task(json!({"title": "Goes silent twice"})).await;
    let mut frozen = Vec::new();
    for round in 1..=2 {
        // The round's own worker (the first round's session has ended by the second).
        let session = loop {
            let sessions = sessions_of(&app, &task).await;
            if let Some(s) = sessions
                .iter()
                .find(|s| s["status"] == "running" && s["executor_name"].as_str().is_some())
            {
                break s.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let pid = worker_pid(&session);
        // SAFETY: kill(2) only sends a signal; no memory is touched.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        frozen.push(pid);
        let ended = wait_for(&app, &format!("/api/sessions/{}", session["id"]), |s| {
            s["status"] != "running"
        })
        .await;
        assert_eq!(ended["status"], "interrupted", "round {round}: {ended:#}");
    }
    let task = wait_for(&app, &format!("/api/tasks/{}", task["id"]), |t| {
        t["status"] == "blocked"
    })
    .await;
    assert!(
        task["last_failure"]
            .as_str()
            .is_some_and(|r| r.contains("2 orchestrator crashes or lost workers")),
        "{task:#}"
    );
    assert_eq!(task["attempts"], 0, "lost workers use no attempt: {task:#}");
    let history = history(&app, &task).await;
    let counted = history
        .iter()
        .filter(|h| {
            h["to_status"] == "pending"
                && h["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("no heartbeat") && r.contains("counted as a crash"))
        })
        .count();
    assert_eq!(
        counted, 1,
        "the first loss requeued, the second blocked: {history:#?}"
    );
    for pid in frozen {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while alive(pid) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "worker {pid} not removed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `harness serve` as its own process (so it can be killed with SIGKILL) on `port` (0:
/// a free one), on the database and `harness.toml` in `dir`.
struct Served {
    child: std::process::Child,
    port: u16,
}

impl Served {
    fn start(dir: &Path, port: u16) -> Self {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(crate::worker_binary())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_PATH", dir.join("data/harness.db"))
            .env("HARNESS_DASHBOARD_DIR", dir.join("no-dashboard"))
            .current_dir(dir)
            .args(["serve", "--port", &port.to_string(), "--bind", "127.0.0.1"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("harness serve starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
        Self { child, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get_json(served: &Served, path: &str) -> Value {
    crate::helpers::test_client(Some(Duration::from_secs(10)))
        .get(served.url(path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn poll(served: &Served, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let value = get_json(served, path).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_is_re_adopted_after_the_orchestrator_is_killed_losing_no_event() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gates/open");
    std::fs::create_dir_all(gate.parent().unwrap()).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let toml = format!(
        "workspace = {repo:?}\ntick_secs = 0.1\nsession_spacing_secs = 0\nretry_base_secs = 0.05\n\
         agent_read_paths = [{fixtures:?}, {gates:?}]\n\
         [executors.process]\nheartbeat_timeout_secs = 5\nharness_binary = {bin:?}\n\
         [agents.build-1]\nruntime = \"cli\"\nexecutor = \"process\"\n\
         command = [\"env\", \"FAKE_CLAUDE_MODE=gate\", \"FAKE_CLAUDE_GATE={gate}\", {fake:?}]\n",
        repo = path.display().to_string(),
        fixtures = fixtures.display().to_string(),
        gates = gate.parent().unwrap().display().to_string(),
        bin = crate::worker_binary(),
        gate = gate.display(),
        fake = fixture("fake-claude"),
    );
    std::fs::write(dir.path().join("harness.toml"), toml).unwrap();

    let mut served = Served::start(dir.path(), 0);
    let task: Value = crate::helpers::test_client(None)
        .post(served.url("/api/tasks"))
        .json(&json!({"title": "Across a kill"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sessions = poll(
        &served,
        &format!("/api/sessions?task_id={}", task["id"]),
        |p| p["items"][0]["executor_name"].as_str().is_some(),
    )
    .await;
    let session = sessions["items"][0].clone();
    let pid = worker_pid(&session);
    wait_ticks(dir.path(), &session, 3).await;

    // A crash: nothing of the orchestrator's shutdown runs.
    served.kill_9();
    assert!(
        alive(pid),
        "the worker {pid} did not outlive the orchestrator"
    );
    let before = ticks(dir.path(), &session);
    wait_ticks(dir.path(), &session, before + 10).await;

    let served = Served::start(dir.path(), served.port);
    std::fs::write(&gate, "").unwrap();
    let done = poll(&served, &format!("/api/tasks/{}", task["id"]), |t| {
        t["status"] != "in_progress" && t["status"] != "verifying"
    })
    .await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(done["attempts"], 1, "{done:#}");
    let sessions = get_json(&served, &format!("/api/sessions?task_id={}", task["id"])).await;
    let items = sessions["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{sessions:#}");
    assert_eq!(items[0]["status"], "succeeded", "{sessions:#}");
    let logs = get_json(
        &served,
        &format!("/api/sessions/{}/logs?limit=5000", session["id"]),
    )
    .await;
    let numbers: Vec<u64> = logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["content"].as_str()?.strip_prefix("tick ")?.parse().ok())
        .collect();
    let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
    assert_eq!(numbers, expected, "ticks in the log");
    assert!(numbers.len() as u64 >= before + 10, "{numbers:?}");
}

#[tokio::test]
async fn a_worker_gives_up_on_an_orchestrator_away_longer_than_the_reconnect_window() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        remote_engine(s, &path, "sleep", 2.0);
        s.engine.reliability.worker_reconnect = Duration::from_secs(10);
    })
    .await;
    let task = app.create_task(json!({"title": "Left alone"})).await;
    let session = running_worker(&app, &task).await;
    let pid = worker_pid(&session);
    wait_for(
        &app,
        &format!("/api/sessions/{}/logs", session["id"]),
        |l| l.to_string().contains("worker cloned"),
    )
    .await;
    let stopped = tokio::time::Instant::now();
    let _dir = app.stop().await;
    assert!(
        alive(pid),
        "the worker {pid} did not outlive the orchestrator"
    );
    // The default window (300 s) would keep it retrying far past this deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while alive(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "worker {pid} still retrying after its 10 s window"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // It did retry: an orchestrator back within the window would have re-adopted it.
    assert!(
        stopped.elapsed() >= Duration::from_secs(9),
        "worker {pid} gave up after {:?}",
        stopped.elapsed()
    );
}
