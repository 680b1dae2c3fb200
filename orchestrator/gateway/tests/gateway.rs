//! The dashboard gateway against a real upstream axum server on a loopback port:
//! static files and their headers, SPA fallback, HTTP and WebSocket proxying, and
//! the answers when the orchestrator is down.

use std::{collections::HashMap, net::SocketAddr, path::Path};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{
        Query,
        ws::{Message as AxumMessage, WebSocket, WebSocketUpgrade},
    },
    http::{HeaderMap, Method, Uri},
    response::Response,
    routing::{any, get},
};
use futures_util::{SinkExt, StreamExt};
use harness_gateway::{self as gateway, GatewayConfig};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::oneshot};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

const ASSET: &str = "/assets/index-3f9a1c.js";
const INDEX: &str = "<!doctype html><html><body><div id=\"root\"></div></body></html>";

/// A running gateway and the temp dir holding its build; dropping it stops the server.
struct TestGateway {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

impl TestGateway {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Starts the gateway on port 0 over a build with `index.html` (when `with_index`) and
/// one large, hashed JavaScript asset.
async fn spawn_gateway(upstream: &str, with_index: bool) -> TestGateway {
    let dir = tempfile::tempdir().unwrap();
    write_build(dir.path(), with_index);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = GatewayConfig {
        upstream: upstream.to_owned(),
        dir: dir.path().to_path_buf(),
        web: Default::default(),
    };
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        gateway::serve(listener, config, shutdown).await.unwrap();
    });
    TestGateway {
        addr,
        _dir: dir,
        _stop: stop,
    }
}

fn write_build(dir: &Path, with_index: bool) {
    if with_index {
        std::fs::write(dir.join("index.html"), INDEX).unwrap();
    }
    std::fs::create_dir(dir.join("assets")).unwrap();
    // Large enough that the compression layer bothers with it.
    let script = "console.log('parent harness');\n".repeat(200);
    std::fs::write(dir.join(ASSET.trim_start_matches('/')), script).unwrap();
}

/// A stand-in orchestrator: `/api/echo` describes the request it got, `/ws` reports its
/// query and auth header and then echoes, `/health` answers ok.
async fn spawn_upstream() -> SocketAddr {
    let app = Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/api/echo", any(echo))
        .route("/ws", get(ws_echo));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Json<Value> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Json(json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query(),
        "body": String::from_utf8_lossy(&body),
        "authorization": header("authorization"),
        "cookie": header("cookie"),
        "x_forwarded_for": header("x-forwarded-for"),
        "x_forwarded_proto": header("x-forwarded-proto"),
        "connection": header("connection"),
        "host": header("host"),
        "origin": header("origin"),
    }))
}

async fn ws_echo(
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    ws.on_upgrade(move |socket| ws_session(socket, query, auth))
}

async fn ws_session(mut socket: WebSocket, query: HashMap<String, String>, auth: Option<String>) {
    let hello = json!({ "after": query.get("after"), "authorization": auth }).to_string();
    if socket.send(AxumMessage::Text(hello.into())).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = socket.recv().await {
        if let AxumMessage::Text(text) = message
            && socket.send(AxumMessage::Text(text)).await.is_err()
        {
            return;
        }
    }
}

/// An address where nothing listens: bound, read back, then released.
async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn client() -> reqwest::Client {
    harness_base::http_client::client(harness_base::http_client::Timeouts {
        connect: std::time::Duration::from_secs(10),
        request: None,
    })
    .unwrap()
}

#[tokio::test]
async fn hashed_assets_are_cached_for_a_year_and_compressed() {
    let gw = spawn_gateway(&closed_port().await, true).await;
    let response = client()
        .get(gw.url(ASSET))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(headers["content-encoding"], "gzip");
    let body = response.bytes().await.unwrap();
    assert!(body.starts_with(&[0x1f, 0x8b]), "body is not gzip");
}

#[tokio::test]
async fn index_html_is_served_at_the_root_and_never_cached() {
    let gw = spawn_gateway(&closed_port().await, true).await;
    let response = client().get(gw.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert_eq!(response.text().await.unwrap(), INDEX);
}

#[tokio::test]
async fn client_side_routes_fall_back_to_index_html() {
    let gw = spawn_gateway(&closed_port().await, true).await;
    let response = client().get(gw.url("/tasks/T-12")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert_eq!(response.text().await.unwrap(), INDEX);
}

#[tokio::test]
async fn a_missing_asset_is_a_404_not_index_html() {
    let gw = spawn_gateway(&closed_port().await, true).await;
    let response = client()
        .get(gw.url("/assets/gone-123.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn without_a_build_the_root_says_so_with_a_200() {
    let gw = spawn_gateway(&closed_port().await, false).await;
    let response = client().get(gw.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Dashboard build missing")
    );
}

#[tokio::test]
async fn the_gateway_reports_its_own_health() {
    let gw = spawn_gateway(&closed_port().await, true).await;
    let response = client()
        .get(gw.url("/gateway/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
}

#[tokio::test]
async fn get_with_query_and_credentials_reaches_the_upstream() {
    let upstream = spawn_upstream().await;
    let gw = spawn_gateway(&format!("http://{upstream}"), true).await;
    let response = client()
        .get(gw.url("/api/echo?status=ready&limit=5"))
        .header("authorization", "Bearer secret-token-123456")
        .header("cookie", "session=abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echo: Value = response.json().await.unwrap();
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/api/echo");
    assert_eq!(echo["query"], "status=ready&limit=5");
    assert_eq!(echo["authorization"], "Bearer secret-token-123456");
    assert_eq!(echo["cookie"], "session=abc");
    assert_eq!(echo["x_forwarded_for"], "127.0.0.1");
    assert_eq!(echo["x_forwarded_proto"], "http");
}

#[tokio::test]
async fn post_bodies_reach_the_upstream() {
    let upstream = spawn_upstream().await;
    let gw = spawn_gateway(&format!("http://{upstream}"), true).await;
    let response = client()
        .post(gw.url("/api/echo"))
        .header("content-type", "application/json")
        .body(r#"{"title":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echo: Value = response.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], r#"{"title":"x"}"#);
}

#[tokio::test]
async fn hop_by_hop_headers_are_not_forwarded() {
    let upstream = spawn_upstream().await;
    let gw = spawn_gateway(&format!("http://{upstream}"), true).await;
    let response = client()
        .get(gw.url("/api/echo"))
        .header("connection", "x-private-hop")
        .header("x-private-hop", "1")
        .send()
        .await
        .unwrap();
    let echo: Value = response.json().await.unwrap();
    assert_ne!(echo["connection"], "x-private-hop");
}

#[tokio::test]
async fn health_is_proxied() {
    let upstream = spawn_upstream().await;
    let gw = spawn_gateway(&format!("http://{upstream}"), true).await;
    let response = client().get(gw.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "ok");
}

#[tokio::test]
async fn a_websocket_round_trips_through_the_proxy() {
    let upstream = spawn_upstream().await;
    let gw = spawn_gateway(&format!("http://{upstream}"), true).await;
    let mut request = format!("ws://{}/ws?after=12", gw.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        "Bearer secret-token-123456".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    let hello = next_text(&mut socket).await;
    assert_eq!(
        hello,
        json!({"after": "12", "authorization": "Bearer secret-token-123456"})
    );
    socket
        .send(Message::Text(r#"{"ping":1}"#.into()))
        .await
        .unwrap();
    assert_eq!(next_text(&mut socket).await, json!({"ping": 1}));
    socket.close(None).await.unwrap();
}

async fn next_text<S>(socket: &mut S) -> Value
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let wait = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next());
    match wait.await.expect("no message within 5 s") {
        Some(Ok(Message::Text(text))) => serde_json::from_str(&text).unwrap(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[tokio::test]
async fn a_down_upstream_is_a_502_with_our_error_json_while_root_stays_200() {
    let upstream = closed_port().await;
    let gw = spawn_gateway(&upstream, true).await;
    for path in ["/api/tasks", "/api/", "/health", "/ws?after=3"] {
        let response = client().get(gw.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 502, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error": {
                "code": "upstream_unavailable",
                "message": format!("orchestrator unreachable at {upstream}"),
            }})
        );
    }
    let root = client().get(gw.url("/")).send().await.unwrap();
    assert_eq!(root.status(), 200);
}

#[tokio::test]
async fn the_browsers_host_and_origin_reach_the_orchestrator_for_its_own_checks() {
    let upstream = spawn_upstream().await;
    let gw = spawn_gateway(&format!("http://{upstream}"), true).await;
    let own = format!("http://localhost:{}", gw.addr.port());
    let response = client()
        .post(gw.url("/api/echo"))
        .header("host", format!("localhost:{}", gw.addr.port()))
        .header("origin", &own)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echo: Value = response.json().await.unwrap();
    assert_eq!(echo["host"], format!("localhost:{}", gw.addr.port()));
    assert_eq!(echo["origin"], own);
}

#[tokio::test]
async fn the_gateway_refuses_a_rebinding_host_and_a_foreign_origin() {
    let upstream = spawn_upstream().await;
    let gw = spawn_gateway(&format!("http://{upstream}"), true).await;
    let rebound = format!("attacker.example:{}", gw.addr.port());
    for path in ["/", "/api/echo"] {
        let response = client()
            .get(gw.url(path))
            .header("host", &rebound)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let health = client()
        .get(gw.url("/gateway/health"))
        .header("host", &rebound)
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "container health checks use any name");
    let foreign = client()
        .post(gw.url("/api/echo"))
        .header("origin", "http://evil.example")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
}

#[tokio::test]
async fn the_spa_from_the_gateway_carries_the_security_headers() {
    let gw = spawn_gateway(&closed_port().await, true).await;
    let response = client().get(gw.url("/")).send().await.unwrap();
    let h = response.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
}

/// The `harness-gateway` binary the dashboard image runs: `serve` answers with the build
/// and proxies `/health`, and `healthcheck` reports the gateway's own health by exit code.
#[tokio::test]
async fn the_gateway_binary_serves_the_build_and_its_healthcheck_answers() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    const BIN: &str = env!("CARGO_BIN_EXE_harness-gateway");
    let upstream = spawn_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    write_build(dir.path(), true);
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0", "--bind", "127.0.0.1"])
        .env("HARNESS_UPSTREAM", format!("http://{upstream}"))
        .env("HARNESS_DASHBOARD_DIR", dir.path())
        .env("HARNESS_LOG_FORMAT", "json")
        .env("HARNESS_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let addr = tokio::task::spawn_blocking(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| serde_json::from_str::<Value>(&line).ok())
            .find_map(|line| line["address"].as_str().map(str::to_owned))
    })
    .await
    .unwrap()
    .expect("the gateway logs the address it listens on");

    let index = client()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(index.status(), 200);
    assert_eq!(index.text().await.unwrap(), INDEX);
    let health = client()
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");

    let check = |url: String| {
        Command::new(BIN)
            .args(["healthcheck", "--url", &url])
            .status()
            .unwrap()
            .success()
    };
    let own = format!("http://{addr}/gateway/health");
    assert!(
        tokio::task::spawn_blocking(move || check(own))
            .await
            .unwrap()
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let gone = format!("http://{addr}/gateway/health");
    assert!(
        !tokio::task::spawn_blocking(move || check(gone))
            .await
            .unwrap()
    );
}
