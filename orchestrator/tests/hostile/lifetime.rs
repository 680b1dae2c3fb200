//! Class 6 of issue #22: agent processes outlived their session. `setsid -f` left the
//! process group the harness kills, so it survived the end of `run_command`, of the
//! CLI session and of the task; after a `kill -9` of the server, the orphan sweep found
//! only processes still working in a worktree with the marker in their environment,
//! so `cd /` and `env -i` hid them.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{cli_agent, completes, engine, git_repo, helpers::spawn_with, session_output};
use harness_testkit::fake_anthropic::{FakeAnthropic, Reply};

/// Starts three processes that leave the agent's group and session, one of them also
/// leaving the worktree and its environment, and prints `PIDS <pid>…`. Each runs
/// `sleep 1000.TOKEN`, by which the test finds it from outside (in its own PID
/// namespace an agent's pids are not the host's).
const ESCAPE: &str = r#"p="$TMPDIR/pids"
setsid -f sh -c 'echo $$ >> "$0"; exec sleep 1000.TOKEN' "$p" </dev/null >/dev/null 2>&1
setsid -f sh -c 'echo $$ >> "$0"; cd /; exec env -i sleep 1000.TOKEN' "$p" </dev/null >/dev/null 2>&1
( setsid sh -c 'echo $$ >> "$0"; cd /; exec env -i sleep 1000.TOKEN' "$p" </dev/null >/dev/null 2>&1 & )
for i in $(seq 100); do [ "$(wc -l < "$p")" -ge 3 ] && break; sleep 0.05; done
echo PIDS $(cat "$p")"#;

/// The escape script with a token of its own, and that token.
fn escape() -> (String, String) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let token = format!("{}{n}", std::process::id());
    (ESCAPE.replace("TOKEN", &token), token)
}

/// Checks the agent printed three pids after `PIDS`: the escapees did start.
fn started(text: &str) {
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("PIDS "))
        .unwrap_or_else(|| panic!("the agent printed no pids: {text}"));
    assert_eq!(line.split_whitespace().count(), 3, "{text}");
}

/// The host's pids of the running escapees of `token`.
fn escapees(token: &str) -> Vec<i32> {
    let wanted = format!("sleep\01000.{token}\0");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmd| cmd == wanted.as_bytes())
        })
        .filter(|&pid| running(pid))
        .collect()
}

/// True while `pid` runs (a zombie has ended; init may be slow to reap it).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat[stat.rfind(')').unwrap() + 1..].trim_start();
        !state.starts_with('Z') && !state.starts_with('X')
    })
}

/// Fails unless every escapee of `token` has stopped within a second (the kill is sent
/// before the harness moves on; the second is for the kernel to finish it).
async fn all_gone(token: &str, when: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while !escapees(token).is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let alive = escapees(token);
    for &pid in &alive {
        // SAFETY: kill(2) only sends a signal; these are the test's own leftovers.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert!(alive.is_empty(), "still running {when}: {alive:?}");
}

#[tokio::test]
async fn what_an_agent_command_leaves_running_dies_when_the_command_returns() {
    let (escape, token) = escape();
    let script = vec![
        Reply::tool(
            "run_command",
            json!({"command": escape, "timeout_secs": 30}),
        ),
        // The window in which the test looks: the task is still running.
        Reply::tool(
            "run_command",
            json!({"command": "sleep 4", "timeout_secs": 30}),
        ),
        Reply::tool("complete_task", json!({"summary": "escaped?"})),
    ];
    let fake = FakeAnthropic::start(script).await;
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| engine(s, &path, Some(&fake.base_url))).await;
    let task = app.create_task(json!({"title": "Escape"})).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while fake.request_count() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the agent stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let result = &fake.requests()[1].last_tool_results()[0]["content"];
    let text = match result {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    started(&text);
    all_gone(&token, "after the command that started them returned").await;
    completes(&app, &task).await;
}

#[tokio::test]
async fn what_a_cli_agent_leaves_running_dies_with_its_session() {
    let (escape, token) = escape();
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        engine(s, &path, None);
        cli_agent(s, &escape);
    })
    .await;
    let task = app.create_task(json!({"title": "Escape"})).await;
    completes(&app, &task).await;
    started(&session_output(&app, &task).await);
    all_gone(&token, "after the task ended").await;
}

/// Set in the copy of this binary that runs one test alone.
const ALONE: &str = "HOSTILE_TEST_ALONE";

#[tokio::test]
async fn leftovers_of_a_crashed_server_are_found_by_their_mark_wherever_they_went() {
    use std::os::unix::process::CommandExt;
    // Where no cgroup can be made (uid 10001 in the orchestrator container), the
    // servers of the other tests in this process are subreapers that kill, at the end of
    // each of their runs, the marked children of this process that are no live run's:
    // exactly what these leftovers are. So the test runs alone, in a copy of this binary.
    if std::env::var_os(ALONE).is_none() {
        let name =
            "lifetime::leftovers_of_a_crashed_server_are_found_by_their_mark_wherever_they_went";
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--test-threads=1", "--nocapture"])
            .env(ALONE, "1")
            .status()
            .unwrap();
        assert!(status.success(), "{name} alone: {status}");
        return;
    }
    // The spawn point as the server runs it, and then no cleanup at all: the server
    // "died" with its agent's escaped processes running (in its cgroup, if it had one,
    // which a sweep on a live server does not take for a dead server's).
    let dir = tempfile::tempdir().unwrap();
    let config = harness::engine::sandbox::SandboxConfig::default();
    let prepared = config.prepare(dir.path(), dir.path(), &[]).unwrap();
    let entry = prepared.entry();
    let (escape, token) = escape();
    let mut command = std::process::Command::new("sh");
    command
        .args(["-c", &escape])
        .current_dir(dir.path())
        .env_clear()
        .envs(prepared.env().iter().map(|(k, v)| (k, v)));
    // SAFETY: `enter` makes only system calls, as at the server's own spawn point.
    unsafe {
        command.pre_exec(move || entry.enter());
    }
    let output = command.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    std::mem::forget(prepared);
    started(&text);
    // Each wrote its pid just before its `exec sleep`: give the exec a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while escapees(&token).len() < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        escapees(&token).len(),
        3,
        "the leftovers must run before the sweep: {text}"
    );

    // A fresh server on other data: its startup sweep is what finds them.
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| engine(s, &path, None)).await;
    all_gone(&token, "after a fresh server's startup sweep").await;
    drop(app);
}
