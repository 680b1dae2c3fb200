//! The bare repository over git's smart HTTP protocol: `git http-backend` run as a
//! CGI program per request, the way a forge's web server fronts it.
//!
//! Fetches are open (a public repository); pushes need HTTP Basic credentials whose
//! password is the token, as forges take a token for git over HTTPS.

use std::{process::Stdio, sync::Arc};

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use base64::Engine;
use tokio::io::AsyncWriteExt;

use super::Shared;

pub(super) async fn serve(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // PATH_INFO is the path under the project root: /acme/widgets.git/info/refs.
    let path_info = uri
        .path()
        .strip_prefix("/git")
        .unwrap_or_default()
        .to_owned();
    let repo_prefix = format!("/{}.git/", shared.owner_repo);
    if !path_info.starts_with(&repo_prefix) {
        return (StatusCode::NOT_FOUND, "Repository not found\n").into_response();
    }
    let query = uri.query().unwrap_or_default().to_owned();
    let user = basic_user(&headers, &shared.token);
    if is_push(&path_info, &query) {
        if user.is_none() {
            return unauthorized();
        }
        if shared.lock().reject_pushes {
            return (StatusCode::FORBIDDEN, "Pushes are refused\n").into_response();
        }
    }
    let cgi = Cgi {
        method: method.to_string(),
        path_info,
        query,
        headers,
        user,
    };
    match cgi.run(&shared, body).await {
        Ok(response) => response,
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("http-backend: {e}\n"),
        )
            .into_response(),
    }
}

/// Receive-pack is the push side: its ref advertisement and the pack upload.
fn is_push(path_info: &str, query: &str) -> bool {
    path_info.ends_with("/git-receive-pack")
        || query.split('&').any(|p| p == "service=git-receive-pack")
}

/// The user name of Basic credentials whose password is the token.
fn basic_user(headers: &HeaderMap, token: &str) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    (password == token).then(|| user.to_owned())
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [("www-authenticate", "Basic realm=\"git\"")],
        "Authentication required\n",
    )
        .into_response()
}

/// One CGI invocation of `git http-backend`.
struct Cgi {
    method: String,
    path_info: String,
    query: String,
    headers: HeaderMap,
    user: Option<String>,
}

impl Cgi {
    async fn run(self, shared: &Shared, body: Bytes) -> std::io::Result<Response> {
        let header = |name: &str| {
            self.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        // Not `repo.command()`: its --git-dir would override what http-backend finds
        // from GIT_PROJECT_ROOT + PATH_INFO.
        let mut command = tokio::process::Command::new("git");
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &shared.repo.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_PROJECT_ROOT", &shared.repo.root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("GATEWAY_INTERFACE", "CGI/1.1")
            .env("REQUEST_METHOD", &self.method)
            .env("PATH_INFO", &self.path_info)
            .env("QUERY_STRING", &self.query)
            .env("CONTENT_TYPE", header("content-type"))
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("REMOTE_ADDR", "127.0.0.1")
            // git gzips large fetch negotiations; http-backend inflates them when told.
            .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
            // Protocol v2 is asked for in this header; http-backend passes it on.
            .env("HTTP_GIT_PROTOCOL", header("git-protocol"))
            .env("REMOTE_USER", self.user.as_deref().unwrap_or_default())
            .args(["-c", "http.receivepack=true", "http-backend"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn()?;
        // Written from a task so a large answer cannot block on a full stdin pipe.
        let mut stdin = child.stdin.take().expect("piped stdin");
        let writer = tokio::spawn(async move {
            let _ = stdin.write_all(&body).await;
        });
        let output = child.wait_with_output().await?;
        let _ = writer.await;
        Ok(parse_cgi(&output.stdout))
    }
}

/// The CGI answer as an HTTP response: `Status:` sets the code, the other headers
/// pass through, the rest is the body.
fn parse_cgi(stdout: &[u8]) -> Response {
    let (head, body) = split_head(stdout);
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or("500");
            status = code.parse().unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    (status, headers, Body::from(body.to_vec())).into_response()
}

/// Splits at the first empty line (CRLF or LF line ends).
fn split_head(out: &[u8]) -> (&[u8], &[u8]) {
    for (i, _) in out.iter().enumerate() {
        if out[i..].starts_with(b"\r\n\r\n") {
            return (&out[..i], &out[i + 4..]);
        }
        if out[i..].starts_with(b"\n\n") {
            return (&out[..i], &out[i + 2..]);
        }
    }
    (out, &[])
}
