//! Agents reaching for the harness over the network (issue #22, class 5): with default
//! settings (no token on loopback, `HARNESS_AGENT_NETWORK=open`) an agent's `curl` to
//! the server's port created tasks, paused the orchestrator and changed its own agent;
//! its bad logins locked the person out. The port is closed to agents whatever the
//! token setting, while other ports stay open to them.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    cli_agent, completes, engine, git_repo,
    helpers::{TestApp, json_with, secret, spawn_with},
    session_output,
};

/// Commits `port.txt` (the server's port) and `control.txt` (a port of a listener the
/// test holds, which the agent may reach) so the agent knows where to go.
fn tell_ports(repo: &std::path::Path, port: u16, control: u16) {
    std::fs::write(repo.join("port.txt"), port.to_string()).unwrap();
    std::fs::write(repo.join("control.txt"), control.to_string()).unwrap();
    git_repo::git(repo, &["add", "port.txt", "control.txt"]);
    git_repo::git(repo, &["commit", "-qm", "ports"]);
}

/// What the agent tries, each printing one line the test reads: a task created over a
/// raw `/dev/tcp` socket, the orchestrator paused and its own agent raised with `curl`,
/// and, as a control that networking works at all, a connection to the test's listener.
const CALL_HOME: &str = r#"port=$(cat port.txt)
body='{"title":"planted by an agent"}'
bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf 'POST /api/tasks HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${#body}\r\n\r\n%s' '$body' >&3 && head -1 <&3" | sed 's/^/STATUS /'
curl -s -m 5 -o /dev/null -w 'PAUSE %{http_code}\n' -X POST "http://127.0.0.1:$port/api/orchestrator/pause"
curl -s -m 5 -o /dev/null -w 'RAISE %{http_code}\n' -X PATCH -H 'Content-Type: application/json' -d '{"max_concurrency":16}' "http://127.0.0.1:$port/api/agents/build-1"
if bash -c "exec 3<>/dev/tcp/127.0.0.1/$(cat control.txt)"; then echo 'CONTROL OPEN'; else echo 'CONTROL SHUT'; fi
"#;

/// Ten wrong tokens and more: the login limit's burst, from the agent.
const BAD_LOGINS: &str = r#"port=$(cat port.txt)
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
  curl -s -m 5 -o /dev/null -w 'LOGIN %{http_code}\n' -X POST -H 'Content-Type: application/json' -d '{"token":"guess"}' "http://127.0.0.1:$port/api/auth/login"
done
if bash -c "exec 3<>/dev/tcp/127.0.0.1/$(cat control.txt)"; then echo 'CONTROL OPEN'; else echo 'CONTROL SHUT'; fi
"#;

/// Runs `script` as a CLI agent on a server tweaked by `tweak`; returns the app, its
/// task and the agent's output. The listener the control line reaches lives as long.
async fn agent_calls_home(
    script: &str,
    tweak: impl FnOnce(&mut harness::config::Settings),
) -> (TestApp, Value, String) {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let control = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app = spawn_with(|s| {
        engine(s, &path, None);
        cli_agent(s, script);
        // The ports guard, as where user namespaces are refused: the agent shares the
        // host's loopback (the control listener), all but the harness's own port.
        s.engine.sandbox.netns.mode = harness::engine::sandbox::net::NetnsMode::Off;
        tweak(s);
    })
    .await;
    tell_ports(&path, app.addr.port(), control.local_addr().unwrap().port());
    let task = app.create_task(json!({"title": "Call home"})).await;
    let task = completes(&app, &task).await;
    let out = session_output(&app, &task).await;
    assert!(
        out.contains("CONTROL OPEN"),
        "the agent could not reach any port, so nothing is shown: {out}"
    );
    (app, task, out)
}

#[tokio::test]
async fn without_a_token_an_agent_cannot_reach_the_harness_api() {
    let (app, _task, out) = agent_calls_home(CALL_HOME, |s| s.api_token = None).await;
    assert!(!out.contains("STATUS HTTP"), "the API answered: {out}");
    assert!(out.contains("PAUSE 000"), "{out}");
    assert!(out.contains("RAISE 000"), "{out}");
    // Checked through the API: nothing the agent asked for happened.
    let page = json_with(app.get("/api/tasks").await, StatusCode::OK).await;
    let titles: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(titles, ["Call home"]);
    let status = json_with(app.get("/api/orchestrator/status").await, StatusCode::OK).await;
    assert_eq!(status["paused"], false, "{status:#}");
    let agent = json_with(app.get("/api/agents/build-1").await, StatusCode::OK).await;
    assert_ne!(agent["max_concurrency"], 16, "{agent:#}");
}

#[tokio::test]
async fn an_agents_bad_logins_never_lock_the_person_out() {
    let token = "the-persons-token";
    let (app, _task, out) = agent_calls_home(BAD_LOGINS, |s| s.api_token = secret(token)).await;
    assert!(!out.contains("LOGIN 401"), "the API answered: {out}");
    assert!(!out.contains("LOGIN 429"), "the API answered: {out}");
    // The person logs in from the same loopback address: the bucket is untouched.
    let login = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::NO_CONTENT);
}

/// A port free now, for a server whose port the agent's allow-list must name up front.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Whether agents can have their own network namespace here; a loud failure under
/// `CI=true` outside a container (a container's seccomp profile refuses `unshare`).
fn netns_available() -> bool {
    match harness::engine::sandbox::net::netns::probe() {
        Ok(()) => true,
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none() || std::path::Path::new("/.dockerenv").exists(),
                "CI must allow user and network namespaces: {why}"
            );
            eprintln!("skipped: no network namespace for agents here: {why}");
            false
        }
    }
}

/// An HTTP server on 127.0.0.1 answering `body` to anything, while the test runs.
fn origin(body: &'static str) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut s in listener.incoming().flatten().take(16) {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// In its own namespace the agent reaches only what the allow-list names, through the
/// harness's proxy: a listed local server yes, an unlisted domain no, the harness's own
/// port no even when listed, and nothing on the host's loopback directly.
const THROUGH_THE_PROXY: &str = r#"port=$(cat port.txt); allowed=$(cat control.txt)
curl -s -m 5 --noproxy '' -x "$HTTP_PROXY" -w ' ALLOWED %{http_code}\n' "http://127.0.0.1:$allowed/"
curl -s -m 5 --noproxy '' -x "$HTTP_PROXY" -w ' HARNESS %{http_code}\n' "http://127.0.0.1:$port/api/tasks"
curl -s -m 5 -o /dev/null -w 'ELSEWHERE %{http_connect}\n' https://example.com/
if bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"; then echo 'DIRECT OPEN'; else echo 'DIRECT SHUT'; fi
"#;

#[tokio::test]
async fn in_its_own_namespace_an_agent_reaches_only_the_allow_list() {
    if !netns_available() {
        return;
    }
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let (port, allowed) = (free_port(), origin("hello from the allowed server"));
    let app = spawn_with(|s| {
        engine(s, &path, None);
        cli_agent(s, THROUGH_THE_PROXY);
        s.port = port;
        s.engine.sandbox.netns = harness::engine::sandbox::net::NetnsSettings {
            mode: harness::engine::sandbox::net::NetnsMode::Require,
            egress: harness::engine::egress::Egress::parse(&format!(
                "127.0.0.1:{allowed},127.0.0.1:{port}"
            ))
            .unwrap(),
        };
    })
    .await;
    assert_eq!(app.addr.port(), port);
    tell_ports(&path, port, allowed);
    let task = app.create_task(json!({"title": "Call out"})).await;
    let task = completes(&app, &task).await;
    let out = session_output(&app, &task).await;
    assert!(
        out.contains("hello from the allowed server ALLOWED 200"),
        "{out}"
    );
    assert!(
        out.contains("port") && out.contains("harness's own"),
        "{out}"
    );
    assert!(out.contains("HARNESS 403"), "{out}");
    assert!(out.contains("ELSEWHERE 403"), "{out}");
    assert!(out.contains("DIRECT SHUT"), "{out}");
    let page = json_with(app.get("/api/tasks").await, StatusCode::OK).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page:#}");
}
