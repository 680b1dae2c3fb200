//! The `browser` tool group in real headless Chromium: an agent scripted through the
//! fake Messages API opens a page served from the workspace, clicks, reads, takes a
//! screenshot (an image the model sees), reads the console, is refused a URL outside
//! loopback (directly and through a redirect), and reports a finding whose screenshot
//! the API then serves.

use std::{net::SocketAddr, path::Path, time::Duration};

use axum::{Router, response::Redirect, routing::get};
use base64::Engine;
use harness::config::{AgentOverride, Settings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tower_http::services::ServeDir;

use crate::{
    fake_anthropic::{FakeAnthropic, Reply},
    fast_engine, git_repo,
    helpers::{json_with, spawn_with},
    wait_for_task,
};

const PAGE: &str = r#"<!doctype html>
<html><head><title>Save demo</title></head>
<body>
  <h1>Profile</h1>
  <label>Name <input id="name"></label>
  <button id="save" onclick="save()">Save</button>
  <p id="result"></p>
  <script>
    function save() {
      const name = document.getElementById('name').value;
      document.getElementById('result').textContent = 'Saved ' + name + '!';
      console.log('clicked save for', name);
    }
  </script>
</body></html>
"#;

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Serves the workspace's files on 127.0.0.1:0, and `/leave`, which redirects off
/// loopback.
async fn serve(root: &Path) -> SocketAddr {
    let app = Router::new()
        .route(
            "/leave",
            get(|| async { Redirect::temporary("http://example.com/") }),
        )
        .fallback_service(ServeDir::new(root));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn browser_agents(settings: &mut Settings) {
    for agent in ["build-1", "build-2"] {
        settings.engine.agents.insert(
            agent.to_owned(),
            AgentOverride {
                tools: Some(vec!["browser".into()]),
                ..AgentOverride::default()
            },
        );
    }
}

/// Chromium processes still running with a profile under `profiles`.
fn browsers_running(profiles: &Path) -> usize {
    let flag = format!("--user-data-dir={}", profiles.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|cmd| String::from_utf8_lossy(cmd).contains(&flag))
        .count()
}

/// The result the model got for the tool call made in request `index`.
fn result_of(fake: &FakeAnthropic, index: usize) -> Value {
    fake.requests()[index].last_tool_results()[0].clone()
}

fn text_of(result: &Value) -> String {
    match &result["content"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn an_agent_uses_the_page_in_chromium_and_reports_a_finding_with_its_screenshot() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n"), ("app/index.html", PAGE)]);
    let path = git_repo::repo_path(&repo);
    let site = serve(&path).await;
    let page = format!("http://127.0.0.1:{}/app/index.html", site.port());
    let fake = FakeAnthropic::start(vec![
        Reply::tool("browser_open", json!({"url": page})),
        Reply::tool("browser_type", json!({"selector": "#name", "text": "Ada"})),
        Reply::tool("browser_click", json!({"selector": "#save"})),
        Reply::tool("browser_read", json!({})),
        Reply::tool("browser_screenshot", json!({})),
        Reply::tool("browser_console", json!({})),
        Reply::tool("browser_open", json!({"url": "https://example.com/"})),
        Reply::tool(
            "browser_open",
            json!({"url": format!("http://localhost:{}/leave", site.port())}),
        ),
        Reply::tool("browser_click", json!({"selector": "#no-such-button"})),
        Reply::tool(
            "report_finding",
            json!({
                "title": "Saved message has no confirmation for screen readers",
                "detail": "Clicked Save; the text changed but nothing was announced.",
                "persona": "first-time user with a screen reader",
                "screenshot": "shot-1"
            }),
        ),
        Reply::tool(
            "complete_task",
            json!({"summary": "one finding reported", "no_changes_needed": "nothing to change for this test"})),
    ])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        browser_agents(s);
        // The page is served on the host's loopback, which only agents without a
        // namespace of their own share.
        s.engine.sandbox.netns.mode = harness::engine::sandbox::net::NetnsMode::Off;
    })
    .await;
    let task = app
        .create_task(json!({"title": "Try the profile page"}))
        .await;
    wait_for_task(&app, &task["id"], |t| t["status"] == "completed").await;

    let opened = result_of(&fake, 1);
    assert_eq!(opened["is_error"], Value::Null, "{opened}");
    assert!(text_of(&opened).contains("Save demo"), "{opened}");

    let read = text_of(&result_of(&fake, 4));
    assert!(read.contains("Saved Ada!"), "the click's result: {read}");
    assert!(
        read.contains("button \"Save\""),
        "accessibility tree: {read}"
    );

    let shot = result_of(&fake, 5);
    let image = &shot["content"][1];
    assert_eq!(image["type"], "image", "{shot}");
    assert_eq!(image["source"]["media_type"], "image/png");
    let png = base64::engine::general_purpose::STANDARD
        .decode(image["source"]["data"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(PNG_MAGIC));

    let console = text_of(&result_of(&fake, 6));
    assert!(console.contains("clicked save for Ada"), "{console}");

    for (index, what) in [(7, "a foreign URL"), (8, "a redirect off loopback")] {
        let refused = result_of(&fake, index);
        assert_eq!(refused["is_error"], true, "{what}: {refused}");
        assert!(text_of(&refused).contains("refused"), "{what}: {refused}");
    }
    let missing = result_of(&fake, 9);
    assert_eq!(missing["is_error"], true);
    assert!(text_of(&missing).contains("#no-such-button"), "{missing}");
    assert!(text_of(&result_of(&fake, 10)).contains("reported"));

    let findings = json_with(
        app.get(&format!("/api/tasks/{}/findings", task["id"]))
            .await,
        StatusCode::OK,
    )
    .await;
    let items = findings["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{findings}");
    let finding = &items[0];
    assert_eq!(finding["persona"], "first-time user with a screen reader");
    assert_eq!(finding["has_screenshot"], true);
    let response = app
        .get(&format!("/api/findings/{}/screenshot", finding["id"]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.bytes().await.unwrap().as_ref(), png.as_slice());

    // The browser went with its session.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let profiles = app.dir.path().join("data/worktrees/.browsers");
    assert!(
        profiles.is_dir(),
        "the browser made its profile under {profiles:?}"
    );
    while browsers_running(&profiles) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Chromium outlived its session"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn findings_of_an_unknown_task_or_screenshot_are_404_and_need_auth() {
    let app = spawn_with(|s| s.api_token = crate::helpers::secret("browser-test")).await;
    let missing = app.get("/api/tasks/9999/findings").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "{body}");
    assert_eq!(
        app.get("/api/findings/abc/screenshot").await.status(),
        StatusCode::NOT_FOUND
    );
    let anonymous = app
        .client
        .get(app.url("/api/findings/1/screenshot"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// Chromium that resolves `*.test` to 127.0.0.1 (tests/fixtures/chromium-test-hosts):
/// `http://staging.test:PORT` is beyond loopback to the origin policy, yet local.
fn chromium_with_test_hosts() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chromium-test-hosts")
}

#[tokio::test]
async fn the_human_sim_agent_tests_a_usability_task_on_the_tasks_origin_and_reports_a_finding() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n"), ("app/index.html", PAGE)]);
    let path = git_repo::repo_path(&repo);
    let site = serve(&path).await;
    let staging = format!("http://staging.test:{}", site.port());
    let fake = FakeAnthropic::start(vec![
        Reply::tool(
            "browser_open",
            json!({"url": format!("{staging}/app/index.html")}),
        ),
        Reply::tool(
            "browser_open",
            json!({"url": format!("http://other.test:{}/app/index.html", site.port())}),
        ),
        Reply::tool("browser_click", json!({"selector": "#save"})),
        Reply::tool("browser_screenshot", json!({})),
        Reply::tool(
            "report_finding",
            json!({
                "title": "Save accepts an empty name",
                "detail": "Clicked Save without a name; it said 'Saved !'.",
                "persona": "first-time user on a phone",
                "screenshot": "shot-1"
            }),
        ),
        Reply::tool("complete_task", json!({"summary": "1 finding"})),
    ])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        // The staging site is on the host's loopback (see above).
        s.engine.sandbox.netns.mode = harness::engine::sandbox::net::NetnsMode::Off;
        s.engine.roles = harness::config::RoleSettings::load(
            harness::config::RolesFile::default(),
            Some(chromium_with_test_hosts()),
        )
        .unwrap();
        s.engine.agents.insert(
            "tester".into(),
            AgentOverride {
                role: Some("human-sim".into()),
                ..AgentOverride::default()
            },
        );
    })
    .await;
    let task = app
        .create_task(json!({
            "title": "Try saving the profile as a first-time user on a phone",
            "category": "usability",
            "browser_origins": [staging.clone()]
        }))
        .await;
    assert_eq!(task["browser_origins"], json!([staging]));
    let done = wait_for_task(&app, &task["id"], |t| t["status"] == "completed").await;
    assert_eq!(
        done["assigned_agent"], "tester",
        "usability goes to human-sim"
    );

    let system = fake.requests()[0].body["system"].to_string();
    assert!(system.contains("report_finding"), "{system}");
    let opened = result_of(&fake, 1);
    assert_eq!(
        opened["is_error"],
        Value::Null,
        "the task's origin: {opened}"
    );
    assert!(text_of(&opened).contains("Save demo"), "{opened}");
    let refused = result_of(&fake, 2);
    assert_eq!(refused["is_error"], true, "{refused}");
    assert!(
        text_of(&refused).contains("refused: the browser may open only loopback"),
        "another origin: {refused}"
    );
    let shot = result_of(&fake, 4);
    assert_eq!(shot["content"][1]["type"], "image", "{shot}");

    let findings = json_with(
        app.get(&format!("/api/tasks/{}/findings", task["id"]))
            .await,
        StatusCode::OK,
    )
    .await;
    let finding = &findings["items"][0];
    assert_eq!(finding["title"], "Save accepts an empty name", "{findings}");
    assert_eq!(finding["persona"], "first-time user on a phone");
    assert_eq!(finding["has_screenshot"], true);
    let response = app
        .get(&format!("/api/findings/{}/screenshot", finding["id"]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.unwrap().starts_with(PNG_MAGIC));
}

#[tokio::test]
async fn a_task_origin_that_is_not_an_origin_is_refused_naming_the_field() {
    let app = crate::helpers::spawn_app().await;
    for bad in [
        json!(["staging.example.com"]),
        json!(["https://x.example/path"]),
        json!("https://x.example"),
    ] {
        let response = app
            .post(
                "/api/tasks",
                json!({"title": "Test it", "browser_origins": bad}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["field"], "browser_origins", "{bad}: {body}");
    }
    let task = app
        .create_task(
            json!({"title": "Test it", "browser_origins": ["https://Staging.example.com/"]}),
        )
        .await;
    assert_eq!(
        task["browser_origins"],
        json!(["https://staging.example.com"])
    );
    let read = json_with(
        app.get(&format!("/api/tasks/{}", task["id"])).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        read["browser_origins"],
        json!(["https://staging.example.com"])
    );
}

/// What the human-sim role's prompt asks: the agent starts the app in its worktree with
/// `run_command` and `background: true`, and the browser opens it: the server outlives
/// the call that started it, and goes when the session ends.
#[tokio::test]
async fn an_app_the_agent_starts_in_the_background_is_open_to_its_browser() {
    background_app_in_the_browser(false).await;
}

/// The same in the worktree's own network namespace: the app listens on the
/// namespace's loopback, which Chromium shares, and the harness still drives Chromium
/// (its DevTools port is relayed out); the host's loopback never sees the app.
#[tokio::test]
async fn in_the_worktrees_namespace_the_browser_opens_the_app_its_commands_started() {
    if let Err(why) = harness::engine::sandbox::net::netns::probe() {
        assert!(
            std::env::var_os("CI").is_none() || Path::new("/.dockerenv").exists(),
            "CI must allow user and network namespaces: {why}"
        );
        eprintln!("skipped: no network namespace for agents here: {why}");
        return;
    }
    background_app_in_the_browser(true).await;
}

async fn background_app_in_the_browser(netns: bool) {
    let repo = git_repo::init_repo(&[("README.md", "hello\n"), ("app/index.html", PAGE)]);
    let path = git_repo::repo_path(&repo);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let start = format!("exec /usr/bin/python3 -m http.server --bind 127.0.0.1 {port}");
    let page = format!("http://127.0.0.1:{port}/app/index.html");
    let fake = FakeAnthropic::start(vec![
        Reply::tool(
            "run_command",
            json!({"command": start, "background": true}),
        ),
        Reply::tool("browser_open", json!({"url": page})),
        Reply::tool(
            "complete_task",
            json!({"summary": "opened the app", "no_changes_needed": "a usability check changes nothing"}),
        ),
    ])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        browser_agents(s);
        s.engine.sandbox.netns.mode = if netns {
            harness::engine::sandbox::net::NetnsMode::Require
        } else {
            harness::engine::sandbox::net::NetnsMode::Off
        };
    })
    .await;
    let task = app.create_task(json!({"title": "Open the app"})).await;
    let probe = tokio::spawn(async move {
        // While the session runs, the host's loopback has the app only without a namespace.
        let mut seen = false;
        for _ in 0..100 {
            seen |= std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        seen
    });
    wait_for_task(&app, &task["id"], |t| t["status"] == "completed").await;

    let started = text_of(&result_of(&fake, 1));
    assert!(started.contains("running in the background"), "{started}");
    let opened = result_of(&fake, 2);
    assert_eq!(opened["is_error"], Value::Null, "{opened}");
    assert!(text_of(&opened).contains("Save demo"), "{opened}");
    if netns {
        assert!(!probe.await.unwrap(), "the app was on the host's loopback");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the app outlived its session"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
