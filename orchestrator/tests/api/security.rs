//! Safe defaults of the server: where it may listen open, which Host and Origin it
//! accepts, dashboard logins (revocation, expiry, rate limit, Secure), security
//! headers, and secrets read from files.

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use harness::config::PublicUrl;
use reqwest::{StatusCode, header};
use serde_json::json;
use tempfile::TempDir;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue};

use crate::{
    cli::harness,
    helpers::{TestApp, error_field, json_with, secret, spawn_app, spawn_in, spawn_with},
};

const TOKEN: &str = "a-long-test-token-0123456789";

/// Runs `harness` to completion: (success, stdout, stderr).
fn run(cmd: &mut std::process::Command) -> (bool, String, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_one_line_naming(stderr: &str, name: &str) {
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(name), "{stderr}");
}

// ---- where the server may listen ---------------------------------------------------

#[test]
fn serve_refuses_a_non_loopback_bind_without_a_token() {
    let dir = TempDir::new().unwrap();
    let (ok, _, err) = run(harness(dir.path()).args(["serve", "--port", "0", "--bind", "0.0.0.0"]));
    assert!(!ok);
    assert_one_line_naming(&err, "HARNESS_API_TOKEN");
    assert!(err.contains("HARNESS_ALLOW_OPEN"), "{err}");
    assert!(
        !dir.path().join("data/harness.db").exists(),
        "it refused before opening the database"
    );
}

#[test]
fn in_compose_the_published_address_decides() {
    let dir = TempDir::new().unwrap();
    let (ok, _, err) = run(harness(dir.path())
        .env("HARNESS_PUBLISHED_BIND", "0.0.0.0")
        .args(["serve", "--port", "0", "--bind", "127.0.0.1"]));
    assert!(!ok);
    assert_one_line_naming(&err, "HARNESS_PUBLISHED_BIND");
}

/// Starts `harness serve` with extra environment and returns its base URL.
fn start(dir: &Path, env: &[(&str, &str)]) -> crate::cli::Server {
    let mut cmd = harness(dir);
    cmd.envs(env.iter().copied());
    crate::cli::Server::start_with(cmd)
}

#[tokio::test]
async fn an_open_server_on_a_published_address_starts_when_allowed_open() {
    let dir = TempDir::new().unwrap();
    let server = start(
        dir.path(),
        &[
            ("HARNESS_PUBLISHED_BIND", "0.0.0.0"),
            ("HARNESS_ALLOW_OPEN", "1"),
        ],
    );
    let status: serde_json::Value = crate::helpers::test_client(None)
        .get(format!("{}/api/auth/status", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["auth_required"], false);
}

#[tokio::test]
async fn the_token_can_come_from_a_file_and_then_a_published_address_is_fine() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let server = start(
        dir.path(),
        &[
            ("HARNESS_PUBLISHED_BIND", "0.0.0.0"),
            ("HARNESS_API_TOKEN_FILE", file.to_str().unwrap()),
        ],
    );
    let client = crate::helpers::test_client(None);
    let url = format!("{}/api/tasks", server.base);
    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let with_token = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(
        with_token.status(),
        StatusCode::OK,
        "the trailing newline is not part of it"
    );
}

#[test]
fn a_secret_file_that_cannot_be_read_is_one_line_naming_the_variable() {
    let dir = TempDir::new().unwrap();
    for var in ["HARNESS_API_TOKEN_FILE", "ANTHROPIC_API_KEY_FILE"] {
        let (ok, _, err) = run(harness(dir.path())
            .env(var, dir.path().join("missing"))
            .args(["serve", "--port", "0"]));
        assert!(!ok, "{var}");
        assert_one_line_naming(&err, var);
    }
    let file = dir.path().join("token");
    std::fs::write(&file, TOKEN).unwrap();
    let (ok, _, err) = run(harness(dir.path())
        .env("HARNESS_API_TOKEN", TOKEN)
        .env("HARNESS_API_TOKEN_FILE", &file)
        .args(["serve", "--port", "0"]));
    assert!(!ok);
    assert_one_line_naming(&err, "not both");
}

#[test]
fn secrets_are_not_flags_but_help_lists_every_setting() {
    let dir = TempDir::new().unwrap();
    for flag in ["--api-token", "--anthropic-api-key"] {
        let (ok, _, err) = run(harness(dir.path()).args(["serve", flag, TOKEN]));
        assert!(!ok, "{flag} must not be accepted");
        assert!(err.contains(flag), "{err}");
    }
    let (_, out, _) = run(harness(dir.path()).args(["serve", "--help"]));
    for var in [
        "HARNESS_API_TOKEN",
        "HARNESS_API_TOKEN_FILE",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_API_KEY_FILE",
        "HARNESS_PUBLIC_URL",
        "HARNESS_ALLOWED_HOSTS",
        "HARNESS_PUBLISHED_BIND",
        "HARNESS_ALLOW_OPEN",
        "HARNESS_LOGIN_EXPIRY_HOURS",
        "HARNESS_TRUST_PROXY",
    ] {
        assert!(out.contains(var), "serve --help does not mention {var}");
    }
    let (_, out, _) = run(harness(dir.path()).args(["dashboard", "--help"]));
    assert!(out.contains("HARNESS_ALLOWED_HOSTS") && out.contains("HARNESS_ALLOW_OPEN"));
}

#[tokio::test]
async fn a_wide_gateway_in_front_of_an_open_orchestrator_refuses_to_start() {
    let open = spawn_app().await;
    let guarded = spawn_with(|s| s.api_token = secret(TOKEN)).await;
    let dir = TempDir::new().unwrap();
    let gateway = |upstream: String| {
        let mut cmd = harness(dir.path());
        cmd.env("HARNESS_UPSTREAM", upstream)
            .env("HARNESS_PUBLISHED_BIND", "0.0.0.0")
            .args(["dashboard", "--port", "0", "--bind", "127.0.0.1"]);
        cmd
    };
    let mut cmd = gateway(open.url(""));
    let (ok, _, err) = tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .unwrap();
    assert!(!ok);
    assert_one_line_naming(&err, "HARNESS_API_TOKEN");

    // In front of an orchestrator that wants a token, the gateway starts.
    harness::gateway::ensure_upstream_requires_token(&guarded.url(""))
        .await
        .unwrap();
}

// ---- Host and Origin ------------------------------------------------------------

#[tokio::test]
async fn a_foreign_origin_or_cross_site_post_is_refused_with_our_json_error() {
    let app = spawn_app().await;
    for (name, value) in [
        ("origin", "http://evil.example"),
        // An agent's dev server on another port of the same machine is another origin.
        ("origin", "http://127.0.0.1:5173"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let response = app
            .client
            .post(app.url("/api/tasks"))
            .header(name, value)
            .header("content-type", "text/plain")
            .body(r#"{"title":"csrf"}"#)
            .send()
            .await
            .unwrap();
        error_field(response, StatusCode::FORBIDDEN).await;
    }
    let listed = json_with(app.get("/api/tasks").await, StatusCode::OK).await;
    assert_eq!(listed["total"], 0, "no refused request created a task");

    let own = app
        .client
        .post(app.url("/api/tasks"))
        .header("origin", format!("http://{}", app.addr))
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"title": "from the dashboard"}))
        .send()
        .await
        .unwrap();
    json_with(own, StatusCode::CREATED).await;
}

#[tokio::test]
async fn a_rebinding_host_is_refused_on_reads_and_writes_but_health_answers() {
    let app = spawn_app().await;
    let rebound = format!("attacker.example:{}", app.addr.port());
    let get = app
        .client
        .get(app.url("/api/tasks"))
        .header(header::HOST, &rebound)
        .send()
        .await
        .unwrap();
    error_field(get, StatusCode::FORBIDDEN).await;
    let post = app
        .client
        .post(app.url("/api/tasks"))
        .header(header::HOST, &rebound)
        .header("origin", format!("http://{rebound}"))
        .json(&json!({"title": "rebound"}))
        .send()
        .await
        .unwrap();
    error_field(post, StatusCode::FORBIDDEN).await;
    let health = app
        .client
        .get(app.url("/health"))
        .header(header::HOST, &rebound)
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn configured_host_names_are_accepted() {
    let app = spawn_with(|s| {
        s.web.allowed_hosts = vec!["box.lan".into()];
        s.web.public_url = Some(PublicUrl {
            https: true,
            host: "harness.example.com".into(),
            port: 443,
        });
    })
    .await;
    for host in [
        "box.lan:3333",
        "harness.example.com",
        "localhost:1",
        "[::1]:2",
    ] {
        let response = app
            .client
            .get(app.url("/api/tasks"))
            .header(header::HOST, host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{host}");
    }
    // Behind a TLS proxy that rewrites Host, the public URL is the dashboard's origin.
    let response = app
        .client
        .post(app.url("/api/tasks"))
        .header("origin", "https://harness.example.com")
        .json(&json!({"title": "through the proxy"}))
        .send()
        .await
        .unwrap();
    json_with(response, StatusCode::CREATED).await;
}

#[tokio::test]
async fn curl_d_without_a_content_type_still_creates_a_task() {
    let app = spawn_app().await;
    // No Origin, no Content-Type: what `curl -d` sends, less its form content type.
    let bare = app
        .client
        .post(app.url("/api/tasks"))
        .body(r#"{"title":"bare"}"#)
        .send()
        .await
        .unwrap();
    json_with(bare, StatusCode::CREATED).await;
    let form = app
        .post_raw(
            "/api/tasks",
            r#"{"title":"curl -d"}"#,
            "application/x-www-form-urlencoded",
        )
        .await;
    json_with(form, StatusCode::CREATED).await;
}

#[tokio::test]
async fn the_websocket_refuses_a_rebinding_host_and_another_port_as_origin() {
    let app = spawn_app().await;
    let port = app.addr.port();
    let attempts = [
        (
            format!("attacker.example:{port}"),
            format!("http://attacker.example:{port}"),
        ),
        (
            format!("127.0.0.1:{port}"),
            "http://127.0.0.1:5173".to_owned(),
        ),
        (
            format!("127.0.0.1:{port}"),
            "http://evil.example".to_owned(),
        ),
    ];
    for (host, origin) in attempts {
        let mut request = app.ws_url("/ws").into_client_request().unwrap();
        let headers = request.headers_mut();
        headers.insert("host", HeaderValue::from_str(&host).unwrap());
        headers.insert("origin", HeaderValue::from_str(&origin).unwrap());
        let err = tokio_tungstenite::connect_async(request).await.unwrap_err();
        assert!(err.to_string().contains("403"), "{host} {origin}: {err}");
    }
    let mut own = app.ws_url("/ws").into_client_request().unwrap();
    own.headers_mut().insert(
        "origin",
        HeaderValue::from_str(&format!("http://localhost:{port}")).unwrap(),
    );
    own.headers_mut().insert(
        "host",
        HeaderValue::from_str(&format!("localhost:{port}")).unwrap(),
    );
    assert!(tokio_tungstenite::connect_async(own).await.is_ok());
}

// ---- dashboard logins ---------------------------------------------------------------

/// Logs in and returns the `name=value` part of the cookie, and the whole Set-Cookie.
async fn login(app: &TestApp, headers: &[(&str, &str)]) -> (String, String) {
    let mut request = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({ "token": TOKEN }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let set_cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    (set_cookie.split(';').next().unwrap().to_owned(), set_cookie)
}

async fn status_with_cookie(app: &TestApp, cookie: &str) -> StatusCode {
    app.client
        .get(app.url("/api/tasks"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn logout_revokes_the_session_on_the_server() {
    let app = spawn_with(|s| s.api_token = secret(TOKEN)).await;
    let (cookie, _) = login(&app, &[]).await;
    let (other, _) = login(&app, &[]).await;
    assert_ne!(cookie, other, "each login gets its own random id");
    assert_eq!(status_with_cookie(&app, &cookie).await, StatusCode::OK);

    let out = app
        .client
        .post(app.url("/api/auth/logout"))
        .header(header::COOKIE, &cookie)
        .header("origin", format!("http://{}", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(
        out.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );

    // A copy of the cookie kept by anyone is worthless now; the other login still works.
    assert_eq!(
        status_with_cookie(&app, &cookie).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status_with_cookie(&app, &other).await, StatusCode::OK);
    let stored: i64 = rusqlite::Connection::open(app.dir.path().join("data/harness.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM auth_sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn the_database_holds_only_a_hash_of_the_cookie() {
    let app = spawn_with(|s| s.api_token = secret(TOKEN)).await;
    let (cookie, _) = login(&app, &[]).await;
    let id = cookie.split_once('=').unwrap().1;
    let dump: String = rusqlite::Connection::open(app.dir.path().join("data/harness.db"))
        .unwrap()
        .query_row(
            "SELECT id_hash || token_fingerprint FROM auth_sessions",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!dump.contains(id) && !dump.contains(TOKEN), "{dump}");
}

#[tokio::test]
async fn a_login_expires() {
    let app = spawn_with(|s| {
        s.api_token = secret(TOKEN);
        s.login_expiry = Duration::from_secs(1);
    })
    .await;
    let (cookie, set_cookie) = login(&app, &[]).await;
    assert!(set_cookie.contains("Max-Age=1"), "{set_cookie}");
    assert_eq!(status_with_cookie(&app, &cookie).await, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    while status_with_cookie(&app, &cookie).await == StatusCode::OK {
        assert!(Instant::now() < deadline, "the login never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status_with_cookie(&app, &cookie).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_new_token_ends_the_logins_made_with_the_old_one() {
    let app = spawn_with(|s| s.api_token = secret(TOKEN)).await;
    let (cookie, _) = login(&app, &[]).await;
    let dir = app.stop().await;
    let app = spawn_in(dir, |s| {
        s.api_token = secret("another-long-token-9876543210")
    })
    .await;
    assert_eq!(
        status_with_cookie(&app, &cookie).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_client() {
    let app = spawn_with(|s| s.api_token = secret(TOKEN)).await;
    let attempt = |token: &'static str| {
        app.client
            .post(app.url("/api/auth/login"))
            .json(&json!({ "token": token }))
            .send()
    };
    for _ in 0..10 {
        assert_eq!(
            attempt("wrong-wrong-wrong-wrong").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = attempt("wrong-wrong-wrong-wrong").await.unwrap();
    let retry_after: u64 = limited.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=6).contains(&retry_after), "{retry_after}");
    error_field(limited, StatusCode::TOO_MANY_REQUESTS).await;
    // Even the right token waits: guessing on is no faster for knowing the limit.
    let right = attempt(TOKEN).await.unwrap();
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    // The bearer path is not a login and is not limited.
    json_with(app.get("/api/tasks").await, StatusCode::OK).await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_limit_is_per_forwarded_client() {
    let app = spawn_with(|s| {
        s.api_token = secret(TOKEN);
        s.trust_proxy = true;
    })
    .await;
    let attempt = |client_ip: &'static str| {
        app.client
            .post(app.url("/api/auth/login"))
            // The first entry is what the client claimed; the proxy appended the last.
            .header("x-forwarded-for", format!("1.2.3.4, {client_ip}"))
            .json(&json!({ "token": "wrong-wrong-wrong-wrong" }))
            .send()
    };
    for _ in 0..10 {
        attempt("10.0.0.7").await.unwrap();
    }
    assert_eq!(
        attempt("10.0.0.7").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        attempt("10.0.0.8").await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "another client behind the same proxy has its own budget"
    );
}

#[tokio::test]
async fn the_cookie_is_secure_with_an_https_public_url_or_behind_tls() {
    let plain = spawn_with(|s| s.api_token = secret(TOKEN)).await;
    let (_, set_cookie) = login(&plain, &[]).await;
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let (_, set_cookie) = login(&plain, &[("x-forwarded-proto", "https")]).await;
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");

    let public = spawn_with(|s| {
        s.api_token = secret(TOKEN);
        s.web.public_url = Some(PublicUrl {
            https: true,
            host: "harness.example.com".into(),
            port: 443,
        });
    })
    .await;
    let (_, set_cookie) = login(&public, &[]).await;
    assert!(
        set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Strict")
            && set_cookie.contains("; Secure"),
        "{set_cookie}"
    );
}

// ---- security headers ---------------------------------------------------------------

#[tokio::test]
async fn the_spa_and_the_api_carry_the_security_headers() {
    let dir = TempDir::new().unwrap();
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html><title>t</title>").unwrap();
    let app = spawn_in(dir, |s| s.dashboard_dir = Some(dist)).await;
    for path in ["/", "/tasks/1", "/api/tasks"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let h = response.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("script-src 'self' 'unsafe"),
            "{csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
}
