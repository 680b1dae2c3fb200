//! `TestApp`: one server per test, on its own temporary database, and the HTTP client
//! that talks to it.
//!
//! The server is `harness`'s own, which this crate does not depend on: a test binary
//! builds and runs it in the function it gives [`TestApp::start`].

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use harness_board::Board;
use harness_config::{Secret, Settings};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: Client,
    pub board: Board,
    pub dir: TempDir,
    pub token: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A server a test started: the address it listens on, its board, and the task serving
/// it until its [`Shutdown`] resolves.
pub struct Serving {
    pub addr: SocketAddr,
    pub board: Board,
    pub task: JoinHandle<anyhow::Result<()>>,
}

/// What a server under test runs until: it resolves when the test stops the server
/// ([`TestApp::stop`]) or drops it, as a shutdown signal would.
pub struct Shutdown(oneshot::Receiver<()>);

impl Future for Shutdown {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// Settings for a test: everything inside `dir`, nothing from the environment.
fn settings_in(dir: &TempDir) -> Settings {
    let mut settings = Settings::for_database(dir.path().join("data/harness.db"));
    settings.dashboard_dir = Some(dir.path().join("no-dashboard"));
    settings
}

/// A client from the harness's own HTTP setup (a bare reqwest client has no TLS
/// provider in this build).
pub fn test_client(timeout: Option<Duration>) -> Client {
    harness_base::http_client::client(harness_base::http_client::Timeouts {
        connect: Duration::from_secs(10),
        request: timeout,
    })
    .unwrap()
}

pub fn secret(token: &str) -> Option<Secret> {
    Some(Secret::new(token))
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        harness_base::telemetry::init(harness_base::telemetry::LogFormat::Text);
    }
}

impl TestApp {
    /// Starts a server on `dir` (new, or kept from a stopped one to test restarts):
    /// `serve` builds it from settings with everything inside `dir` and nothing from the
    /// environment, changed by `tweak`, and runs it until the [`Shutdown`] it is given.
    pub async fn start<F, Fut>(dir: TempDir, tweak: impl FnOnce(&mut Settings), serve: F) -> Self
    where
        F: FnOnce(Settings, Shutdown) -> Fut,
        Fut: Future<Output = Serving>,
    {
        init_logs();
        let mut settings = settings_in(&dir);
        tweak(&mut settings);
        let token = settings.api_token.as_ref().map(|t| t.expose().to_owned());
        let (tx, rx) = oneshot::channel::<()>();
        let Serving { addr, board, task } = serve(settings, Shutdown(rx)).await;
        TestApp {
            addr,
            client: test_client(Some(Duration::from_secs(10))),
            board,
            dir,
            token,
            stop: Some(tx),
            handle: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.authed(self.client.get(self.url(path)))
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.authed(self.client.post(self.url(path)).json(&body))
            .send()
            .await
            .unwrap()
    }

    pub async fn post_empty(&self, path: &str) -> Response {
        self.authed(self.client.post(self.url(path)))
            .send()
            .await
            .unwrap()
    }

    pub async fn post_raw(&self, path: &str, body: &'static str, content_type: &str) -> Response {
        self.authed(
            self.client
                .post(self.url(path))
                .header("content-type", content_type)
                .body(body),
        )
        .send()
        .await
        .unwrap()
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.authed(self.client.patch(self.url(path)).json(&body))
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.authed(self.client.put(self.url(path)).json(&body))
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.authed(self.client.delete(self.url(path)))
            .send()
            .await
            .unwrap()
    }

    /// Creates a task and returns its JSON; panics unless the answer is 201.
    pub async fn create_task(&self, body: Value) -> Value {
        let response = self.post("/api/tasks", body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    pub async fn task_titled(&self, title: &str) -> Value {
        self.create_task(json!({ "title": title })).await
    }

    /// Stops the server as a shutdown signal would, and waits for it.
    pub async fn stop(mut self) -> TempDir {
        if let Some(tx) = self.stop.take() {
            // A server that ended already has no receiver; the join below says how.
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("clean shutdown");
        }
        let Self { dir, .. } = self;
        dir
    }
}

/// Reads a JSON body and checks the status, showing the body when it is wrong.
pub async fn json_with(response: Response, expected: StatusCode) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, expected, "body: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Asserts our error format, and returns the error's field.
pub async fn error_field(response: Response, expected: StatusCode) -> Option<String> {
    let body = json_with(response, expected).await;
    let error = &body["error"];
    assert!(error["code"].is_string(), "no error code in {body}");
    assert!(
        !error["message"].as_str().unwrap_or("").is_empty(),
        "no message in {body}"
    );
    error["field"].as_str().map(str::to_owned)
}
