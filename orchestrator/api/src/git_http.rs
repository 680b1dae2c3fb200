//! Git's smart HTTP protocol for workers (`/worker/v1/git/repo.git/...`): the workspace
//! repository, through `git http-backend` run with the harness's safe git settings.
//!
//! Each request is authorized with the attempt's credential. What it may see is limited
//! by git itself: `uploadpack.hideRefs` hides every ref but the base and the attempt's
//! branch (and fetching an unadvertised object is off), `receive.hideRefs` hides every
//! ref but the attempt's branch, and receive-pack refuses to update a hidden ref. Hooks
//! never run (`core.hooksPath=/dev/null`). The dumb protocol is not served.
//!
//! A request is bounded by the git timeout (`HARNESS_GIT_TIMEOUT_SECS`, carried by the
//! attempt's assignment): past it, `git http-backend` and everything it started (its
//! own process group) is killed, so a hanging git never holds a request open for ever.

use axum::{
    Router,
    body::Body,
    extract::{Path, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::any,
};
use futures_util::TryStreamExt;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    time::Instant,
};

use super::error::ApiError;
use harness_worker::{Grant, Grants, protocol::GIT};

/// The most a push may send.
const MAX_PUSH_BYTES: u64 = 1 << 30;
/// The most CGI header bytes `git http-backend` may answer with.
const MAX_HEADER_BYTES: usize = 16 * 1024;

pub fn router() -> Router<Grants> {
    Router::new().route(&format!("{GIT}/{{*rest}}"), any(serve))
}

/// The git services a request may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Upload,
    Receive,
}

impl Service {
    /// Which service a request is for, or `None` for anything the endpoint does not serve.
    fn of(method: &Method, rest: &str, query: &str) -> Option<Self> {
        let parse = |name: &str| match name {
            "git-upload-pack" => Some(Self::Upload),
            "git-receive-pack" => Some(Self::Receive),
            _ => None,
        };
        match (method, rest) {
            (&Method::GET, "info/refs") => query
                .split('&')
                .find_map(|kv| kv.strip_prefix("service="))
                .and_then(parse),
            (&Method::POST, name) => parse(name),
            _ => None,
        }
    }
}

async fn serve(
    State(grants): State<Grants>,
    Path(rest): Path<String>,
    request: Request,
) -> Response {
    let grant = match super::worker::authorize(&grants, request.headers()) {
        Ok(grant) => grant,
        Err(err) => {
            // git asks for credentials only when told how.
            let mut response = err.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"parent-harness worker\""),
            );
            return response;
        }
    };
    let query = request.uri().query().unwrap_or("").to_owned();
    let Some(service) = Service::of(request.method(), &rest, &query) else {
        return ApiError::NotFound(format!("{rest} is not served")).into_response();
    };
    match run_backend(&grant, service, &rest, &query, request).await {
        Ok(response) => response,
        Err(err @ GitHttpError::TimedOut(_)) => {
            tracing::warn!(%err, attempt = grant.assignment.attempt, "git http-backend timed out");
            ApiError::Unavailable(err.to_string()).into_response()
        }
        Err(err) => {
            tracing::warn!(%err, attempt = grant.assignment.attempt, "git http-backend failed");
            ApiError::Internal(err.to_string()).into_response()
        }
    }
}

/// Why serving a git request failed.
#[derive(Debug, thiserror::Error)]
enum GitHttpError {
    #[error("the workspace's git directory {0} has no parent")]
    NoRoot(String),
    #[error("cannot start git http-backend: {0}")]
    Spawn(std::io::Error),
    #[error("cannot read git http-backend's answer: {0}")]
    Read(std::io::Error),
    #[error("git http-backend's answer headers are malformed")]
    Headers,
    #[error("git http-backend did not answer in {0:.0}s; its process group was killed")]
    TimedOut(f64),
}

/// Kills the process group of `git http-backend` when dropped: at the end of its
/// response, on an error, or when the request's time is up. Declared before the child
/// it guards, so it drops first, while the unreaped child still holds the group's id.
struct GroupKill(Option<u32>);

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            harness_engine::process::signal_group(pgid, libc::SIGKILL);
        }
    }
}

/// The config overrides that limit what the attempt's credential opens.
fn ref_limits(grant: &Grant) -> Vec<(String, String)> {
    let a = &grant.assignment;
    vec![
        ("http.uploadpack".into(), "true".into()),
        ("http.receivepack".into(), "true".into()),
        ("http.getanyfile".into(), "false".into()),
        ("uploadpack.hideRefs".into(), "refs/".into()),
        ("uploadpack.hideRefs".into(), "HEAD".into()),
        (
            "uploadpack.hideRefs".into(),
            format!("!refs/heads/{}", a.base),
        ),
        (
            "uploadpack.hideRefs".into(),
            format!("!refs/heads/{}", a.branch),
        ),
        ("uploadpack.allowTipSHA1InWant".into(), "false".into()),
        ("uploadpack.allowReachableSHA1InWant".into(), "false".into()),
        ("uploadpack.allowAnySHA1InWant".into(), "false".into()),
        ("uploadpack.allowFilter".into(), "false".into()),
        ("receive.hideRefs".into(), "refs/".into()),
        (
            "receive.hideRefs".into(),
            format!("!refs/heads/{}", a.branch),
        ),
        ("receive.fsckObjects".into(), "true".into()),
        ("receive.denyDeletes".into(), "true".into()),
        ("receive.denyCurrentBranch".into(), "refuse".into()),
        ("receive.advertisePushOptions".into(), "false".into()),
        ("receive.autogc".into(), "false".into()),
        ("core.logAllRefUpdates".into(), "false".into()),
    ]
}

async fn run_backend(
    grant: &Grant,
    service: Service,
    rest: &str,
    query: &str,
    request: Request,
) -> Result<Response, GitHttpError> {
    let git_dir = &grant.git_dir;
    let root = git_dir
        .parent()
        .ok_or_else(|| GitHttpError::NoRoot(git_dir.display().to_string()))?;
    let name = git_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let headers = request.headers().clone();
    let mut command = harness_engine::safe_git::streaming_command(&ref_limits(grant));
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", format!("/{name}/{rest}"))
        .env("REQUEST_METHOD", request.method().as_str())
        .env("QUERY_STRING", query)
        .env(
            "REMOTE_USER",
            format!("attempt-{}", grant.assignment.attempt),
        )
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    // No GIT_PROTOCOL: protocol v0, where hideRefs is the whole story.
    copy_header(&mut command, &headers, header::CONTENT_TYPE, "CONTENT_TYPE");
    copy_header(
        &mut command,
        &headers,
        header::CONTENT_ENCODING,
        "HTTP_CONTENT_ENCODING",
    );
    copy_header(
        &mut command,
        &headers,
        header::CONTENT_LENGTH,
        "CONTENT_LENGTH",
    );
    let mut child = command.spawn().map_err(GitHttpError::Spawn)?;
    let group = GroupKill(child.id());
    let limit = grant.assignment.git_timeout();
    let deadline = Instant::now() + limit;
    let stdin = child.stdin.take();
    let body = request.into_body();
    let attempt = grant.assignment.attempt;
    tracing::debug!(attempt, ?service, "git request");
    tokio::spawn(tokio::time::timeout_at(deadline, async move {
        let Some(mut stdin) = stdin else { return };
        let mut stream = body.into_data_stream();
        let mut sent: u64 = 0;
        while let Ok(Some(chunk)) = stream.try_next().await {
            sent += chunk.len() as u64;
            if sent > MAX_PUSH_BYTES {
                tracing::warn!(attempt, "git request body over {MAX_PUSH_BYTES} bytes; cut");
                return;
            }
            if stdin.write_all(&chunk).await.is_err() {
                return;
            }
        }
        // The pipe closes when `stdin` drops at the end of this task anyway; git's
        // answer says how the request went.
        let _ = stdin.shutdown().await;
    }));
    let stdout = child.stdout.take().ok_or(GitHttpError::Headers)?;
    let mut reader = BufReader::new(stdout);
    let mut response = Response::builder();
    let mut status = StatusCode::OK;
    let mut read = 0usize;
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout_at(deadline, reader.read_line(&mut line))
            .await
            .map_err(|_| GitHttpError::TimedOut(limit.as_secs_f64()))?
            .map_err(GitHttpError::Read)?;
        read += n;
        if n == 0 || read > MAX_HEADER_BYTES {
            return Err(GitHttpError::Headers);
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (key, value) = line.split_once(':').ok_or(GitHttpError::Headers)?;
        let value = value.trim();
        if key.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or("500");
            status = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else {
            response = response.header(key, value);
        }
    }
    // The child and its group are owned by the stream: dropping the response (or its
    // deadline) kills them.
    let state = (group, reader, child);
    let stream =
        futures_util::stream::unfold(state, move |(group, mut reader, child)| async move {
            let mut buf = vec![0u8; 32 * 1024];
            let read = tokio::time::timeout_at(
                deadline,
                tokio::io::AsyncReadExt::read(&mut reader, &mut buf),
            );
            match read.await {
                Err(_) => {
                    // An error, not an end: the client must not take a cut answer
                    // for a whole one (the connection is aborted).
                    let err = GitHttpError::TimedOut(limit.as_secs_f64());
                    tracing::warn!(%err, "cut");
                    let cut = std::io::Error::new(std::io::ErrorKind::TimedOut, err.to_string());
                    Some((Err(cut), (group, reader, child)))
                }
                Ok(Ok(0)) => None,
                Ok(Ok(n)) => {
                    buf.truncate(n);
                    Some((
                        Ok::<_, std::io::Error>(bytes::Bytes::from(buf)),
                        (group, reader, child),
                    ))
                }
                Ok(Err(err)) => Some((Err(err), (group, reader, child))),
            }
        });
    response
        .status(status)
        .body(Body::from_stream(stream))
        .map_err(|_| GitHttpError::Headers)
}

fn copy_header(
    command: &mut tokio::process::Command,
    headers: &HeaderMap,
    name: header::HeaderName,
    var: &str,
) {
    if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
        command.env(var, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_smart_protocol_services_are_served() {
        let svc = |m: &Method, rest: &str, q: &str| Service::of(m, rest, q);
        assert_eq!(
            svc(&Method::GET, "info/refs", "service=git-upload-pack"),
            Some(Service::Upload)
        );
        assert_eq!(
            svc(&Method::POST, "git-receive-pack", ""),
            Some(Service::Receive)
        );
        assert_eq!(svc(&Method::GET, "info/refs", ""), None);
        assert_eq!(svc(&Method::GET, "HEAD", ""), None);
        assert_eq!(svc(&Method::GET, "objects/info/packs", ""), None);
        assert_eq!(svc(&Method::POST, "git-upload-archive", ""), None);
    }
}
