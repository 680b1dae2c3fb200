//! Agents reaching for the server's process, the harness API, and the machine's
//! resources.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    attempt, cli_agent, completes, engine, git_repo,
    helpers::{json_with, secret, spawn_with},
    run_commands, session_output,
};

#[tokio::test]
async fn the_servers_environment_memory_and_signals_are_out_of_reach() {
    // `cargo test` puts CARGO_MANIFEST_DIR in this (the server's) environment: a
    // variable the agent must not see through its own environment either.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    // The server's pid, which is not the agent's parent in a PID namespace of its own.
    let server = "$(cat server.pid)";
    let script = [
        attempt("server environ", &format!("cat /proc/{server}/environ")),
        attempt("server memory map", &format!("cat /proc/{server}/maps")),
        attempt("server open files", &format!("ls /proc/{server}/fd")),
        attempt("signal the server", &format!("kill -0 {server}")),
        // Its parent: the server, or the harness's init of its PID namespace (a fork of
        // the server, so the same memory; it keeps no descriptor open).
        attempt("parent memory map", "cat /proc/$PPID/maps"),
        attempt("parent environ", "cat /proc/$PPID/environ"),
        attempt(
            "server command line",
            &format!("test -s /proc/{server}/cmdline"),
        ),
        "env | sed 's/^/ENV /'".to_owned(),
    ]
    .join("\n");
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    std::fs::write(path.join("server.pid"), std::process::id().to_string()).unwrap();
    git_repo::git(&path, &["add", "server.pid"]);
    git_repo::git(&path, &["commit", "-qm", "pid"]);
    let app = spawn_with(|s| {
        engine(s, &path, None);
        cli_agent(s, &script);
    })
    .await;
    let task = app.create_task(json!({"title": "Peek"})).await;
    completes(&app, &task).await;
    let out = session_output(&app, &task).await;
    for what in [
        "server environ",
        "server memory map",
        "server open files",
        "signal the server",
        "parent memory map",
        "parent environ",
    ] {
        assert!(out.contains(&format!("BLOCKED {what}")), "{what}: {out}");
    }
    // Where agents have a /proc of their own, no other process of the machine shows;
    // elsewhere command lines stay readable (docs/SECURITY.md says so).
    let private_proc = harness::engine::sandbox::net::netns::probe().is_ok()
        && harness::engine::sandbox::pidns::probe().is_ok();
    if private_proc {
        assert!(out.contains("BLOCKED server command line"), "{out}");
    }
    let escaped: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("ESCAPED") && !l.contains("server command line"))
        .collect();
    assert!(escaped.is_empty(), "{out}");
    assert!(out.contains("ENV PARENT_HARNESS_AGENT=1"), "{out}");
    assert!(!out.contains("CARGO_MANIFEST_DIR"), "{out}");
}

/// Commits `port.txt` so the agent knows where the server listens.
fn tell_port(repo: &std::path::Path, port: u16) {
    std::fs::write(repo.join("port.txt"), port.to_string()).unwrap();
    git_repo::git(repo, &["add", "port.txt"]);
    git_repo::git(repo, &["commit", "-qm", "port"]);
}

const CREATE_TASK_RAW: &str = r#"port=$(cat port.txt)
body='{"title":"planted by an agent"}'
bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf 'POST /api/tasks HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${#body}\r\n\r\n%s' '$body' >&3 && head -1 <&3" | sed 's/^/STATUS /'
"#;

async fn task_titles(app: &crate::helpers::TestApp) -> Vec<String> {
    let page = json_with(app.get("/api/tasks").await, StatusCode::OK).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn calling_the_harness_api_without_the_token_is_refused() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        engine(s, &path, None);
        cli_agent(s, CREATE_TASK_RAW);
        s.api_token = secret("hostile-test-token");
    })
    .await;
    tell_port(&path, app.addr.port());
    let task = app.create_task(json!({"title": "Call home"})).await;
    completes(&app, &task).await;
    let out = session_output(&app, &task).await;
    // The harness's port is closed to agents (hostile/network.rs): no answer at all is
    // the usual outcome; an answer, where one comes, must be a refusal.
    if let Some(status) = out.lines().find_map(|l| l.strip_prefix("STATUS ")) {
        assert!(
            status.starts_with("HTTP/1.") && !status.contains(" 2"),
            "{status}"
        );
    }
    assert_eq!(task_titles(&app).await, ["Call home"]);
}

#[tokio::test]
async fn with_network_none_the_agent_cannot_even_connect() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let script = attempt(
        "connect to the server",
        "bash -c 'exec 3<>/dev/tcp/127.0.0.1/$(cat port.txt)'",
    );
    let app = spawn_with(|s| {
        engine(s, &path, None);
        cli_agent(s, &script);
        s.engine.sandbox.network = harness::engine::sandbox::Network::None;
    })
    .await;
    tell_port(&path, app.addr.port());
    let task = app.create_task(json!({"title": "Offline"})).await;
    completes(&app, &task).await;
    let out = session_output(&app, &task).await;
    assert!(out.contains("BLOCKED connect to the server"), "{out}");
}

#[tokio::test]
async fn exhausting_memory_or_forking_without_bound_leaves_the_server_up() {
    // RLIMIT_NPROC does not bind root, so as root the bomb drops to `nobody` first;
    // the limit the harness set is inherited across that change and bounds it.
    // SAFETY: geteuid has no arguments and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let drop_root = if root {
        "setpriv --reuid=65534 --regid=65534 --clear-groups "
    } else {
        ""
    };
    let commands = [
        "bash -c 'ulimit -d; ulimit -u'".to_owned(),
        "awk 'BEGIN { s = \"x\"; while (length(s) < 2^31) s = s s; print \"ALLOCATED\" }'; echo awk=$?".to_owned(),
        format!("{drop_root}sh -c 'b() {{ b | b & }}; b; sleep 2; echo bomb-survived-by-its-leader' 2>/dev/null; echo bomb=$?"),
    ];
    // As any other user, the limit counts every process and thread of that user: this
    // test binary's own (its servers, their agent spawner threads) included. So the
    // bomb gets 64 more than the user already runs.
    let processes = if root { 64 } else { user_tasks() + 64 };
    let (app, _task, results, _repo) = run_commands(&commands, |s| {
        s.engine.sandbox.limits.memory_bytes = Some(256 << 20);
        s.engine.sandbox.limits.processes = Some(processes);
    })
    .await;
    assert!(
        results[0].contains(&format!("262144\n{processes}")),
        "{}",
        results[0]
    );
    assert!(
        !results[1].contains("ALLOCATED") && !results[1].contains("awk=0"),
        "{}",
        results[1]
    );
    assert!(results[2].contains("bomb="), "{}", results[2]);
    // The server answers, and the board works.
    let again = app.create_task(json!({"title": "still here"})).await;
    let fetched: Value = json_with(
        app.get(&format!("/api/tasks/{}", again["id"])).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched["title"], "still here");
}

/// The processes and threads of this process's user now (what `RLIMIT_NPROC` counts).
fn user_tasks() -> u64 {
    // SAFETY: geteuid has no arguments and cannot fail.
    let uid = unsafe { libc::geteuid() }.to_string();
    let mut count = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let ours = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().next())
            == Some(uid.as_str());
        if ours {
            count += status
                .lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(1);
        }
    }
    count
}
