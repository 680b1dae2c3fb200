//! Stand-ins for the GitHub, GitLab and Gitea REST APIs, plus a real git remote over
//! smart HTTP, on one axum server on 127.0.0.1:0.
//!
//! The wire format is the one in the forge contract (issue #24): the endpoints the
//! product's forge clients use, with the real field names, status codes, error bodies,
//! pagination headers and authentication. Behind the API sits a real bare repository
//! (in a temporary directory): pushes go into it through `git http-backend`, pulls
//! read their head and base commits from it live, and merges are real merge commits.
//!
//! Tests drive the review side with sync controls ([`FakeForge::set_check`],
//! [`FakeForge::request_changes`], [`FakeForge::approve`], [`FakeForge::merge`], …)
//! and read back what the client did ([`FakeForge::requests`], [`FakeForge::pulls`]).

mod git_http;
mod gitea;
mod github;
mod gitlab;
mod page;
mod repo;

use std::{
    path::Path,
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::any,
};
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::oneshot;

use repo::BareRepo;

/// Which forge the fake speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeKind {
    GitHub,
    GitLab,
    Gitea,
}

impl ForgeKind {
    /// Where the REST API lives under the origin.
    fn api_path(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "/api/v3",
            ForgeKind::GitLab => "/api/v4",
            ForgeKind::Gitea => "/api/v1",
        }
    }

    /// A fixed token shaped like the forge's own.
    fn token(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "ghp_fK7q2Zr9Xc4Lw8Tn1Vb6Hy3Ks5Dp0Mj2Ra8Ue",
            ForgeKind::GitLab => "glpat-Fk7q2Zr9Xc4Lw8Tn1Vb6",
            ForgeKind::Gitea => "7f3c9a1e5b2d8046c1e9f7a3b5d2c8e0a4f6b1d3",
        }
    }
}

/// The state of a pull (merge) request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullState {
    Open,
    Closed,
    Merged,
}

/// The state a test gives a check (or commit status) on a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckState {
    Pending,
    Success,
    Failure { output: String },
}

/// A pull request as the fake holds it; `head_sha` is read from the bare repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePull {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub state: PullState,
    pub merge_commit: Option<String>,
    pub head_sha: String,
}

/// One API request the client made (git smart-HTTP requests are not recorded).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The path with its query, e.g. `/api/v3/repos/acme/widgets/pulls?state=open`.
    pub path: String,
    /// The JSON body, `Null` when there was none.
    pub body: Value,
    /// Whether the request carried the token the forge expects.
    pub authorized: bool,
}

/// The user the token belongs to: the author of every pull the client opens.
const BOT_USER: &str = "harness-bot";
const WEBHOOK_SECRET: &str = "whsec-fake-forge-5c2e91b7d04a";

/// A review a test made on a pull.
#[derive(Debug, Clone)]
struct Review {
    id: u64,
    user: String,
    body: String,
    verdict: Verdict,
    at: DateTime<Utc>,
    /// The head the review was made on.
    commit_id: String,
    comments: Vec<ReviewComment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Approved,
    ChangesRequested,
}

#[derive(Debug, Clone)]
struct ReviewComment {
    id: u64,
    path: String,
    line: u32,
    body: String,
}

#[derive(Debug, Clone)]
struct Pull {
    number: u64,
    /// The forge-wide id (GitHub `id`, GitLab `id` as opposed to `iid`).
    id: u64,
    title: String,
    body: String,
    head: String,
    base: String,
    state: PullState,
    merge_commit: Option<String>,
    /// The head when the pull was last seen, for when the branch is gone.
    last_head_sha: String,
    created_at: DateTime<Utc>,
    reviews: Vec<Review>,
}

/// A check run (GitHub), commit status (GitHub, Gitea) or pipeline job (GitLab).
#[derive(Debug, Clone)]
struct Check {
    id: u64,
    sha: String,
    name: String,
    state: CheckState,
    /// Set by `set_status`: a commit status rather than a check run on GitHub.
    as_status: bool,
    at: DateTime<Utc>,
}

/// An error injected by `fail_next`.
#[derive(Debug, Clone)]
struct Injected {
    method: String,
    path_contains: String,
    status: u16,
    remaining: usize,
    /// GitHub's secondary form of rate limiting: 403 with `x-ratelimit-remaining: 0`.
    github_rate_limit: bool,
}

#[derive(Default)]
struct Inner {
    pulls: Vec<Pull>,
    checks: Vec<Check>,
    /// GitLab pipelines: one per commit that has checks, in order of creation.
    pipelines: Vec<(u64, String)>,
    next_id: u64,
    requests: Vec<Recorded>,
    injected: Vec<Injected>,
    reject_pushes: bool,
}

impl Inner {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn pull(&self, number: u64) -> Option<&Pull> {
        self.pulls.iter().find(|p| p.number == number)
    }

    fn pull_mut(&mut self, number: u64) -> Option<&mut Pull> {
        self.pulls.iter_mut().find(|p| p.number == number)
    }

    fn checks_for<'a>(&'a self, sha: &'a str) -> impl Iterator<Item = &'a Check> + 'a {
        self.checks.iter().filter(move |c| c.sha == sha)
    }
}

/// Everything the handlers share.
struct Shared {
    kind: ForgeKind,
    owner_repo: String,
    origin: String,
    token: String,
    repo: BareRepo,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pull's head commit now: a push to its branch moves it.
    fn head_sha(&self, pull: &Pull) -> String {
        self.repo
            .branch_head(&pull.head)
            .unwrap_or_else(|| pull.last_head_sha.clone())
    }

    fn base_sha(&self, pull: &Pull) -> String {
        self.repo.branch_head(&pull.base).unwrap_or_default()
    }

    /// Opens a pull after the checks every forge makes: both branches exist and no
    /// open pull has the same head (and, unless `same_head_is_enough`, the same base).
    fn create_pull(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
        same_head_is_enough: bool,
    ) -> Result<Pull, CreateError> {
        let Some(head_sha) = self.repo.branch_head(head) else {
            return Err(CreateError::NoHead);
        };
        if self.repo.branch_head(base).is_none() {
            return Err(CreateError::NoBase);
        }
        let mut inner = self.lock();
        if let Some(existing) = inner.pulls.iter().find(|p| {
            p.state == PullState::Open && p.head == head && (same_head_is_enough || p.base == base)
        }) {
            return Err(CreateError::Duplicate(existing.number));
        }
        let number = inner.pulls.len() as u64 + 1;
        let id = inner.next_id() + 1000;
        let pull = Pull {
            number,
            id,
            title: title.to_owned(),
            body: body.to_owned(),
            head: head.to_owned(),
            base: base.to_owned(),
            state: PullState::Open,
            merge_commit: None,
            last_head_sha: head_sha,
            created_at: Utc::now(),
            reviews: Vec::new(),
        };
        inner.pulls.push(pull.clone());
        Ok(pull)
    }

    /// Merges a pull for real: a two-parent merge commit on the base branch. The lock
    /// is held throughout so two merges cannot race on the base ref.
    fn merge_pull(&self, number: u64, expected_head: Option<&str>) -> Result<String, MergeError> {
        let mut inner = self.lock();
        let pull = inner.pull(number).ok_or(MergeError::NotFound)?.clone();
        if pull.state != PullState::Open {
            return Err(MergeError::NotOpen);
        }
        let head = self.head_sha(&pull);
        if expected_head.is_some_and(|sha| !sha.is_empty() && sha != head) {
            return Err(MergeError::HeadMismatch { head });
        }
        let message = format!(
            "Merge pull request #{number} from {}\n\n{}",
            pull.head, pull.title
        );
        let merge = self
            .repo
            .merge(&pull.base, &head, &message)
            .map_err(|_| MergeError::Conflict)?;
        let stored = inner.pull_mut(number).expect("the pull is there");
        stored.state = PullState::Merged;
        stored.merge_commit = Some(merge.clone());
        stored.last_head_sha = head;
        Ok(merge)
    }
}

enum CreateError {
    NoHead,
    NoBase,
    Duplicate(u64),
}

#[derive(Debug)]
enum MergeError {
    NotFound,
    NotOpen,
    HeadMismatch { head: String },
    Conflict,
}

fn router(kind: ForgeKind, shared: Arc<Shared>) -> Router {
    Router::new()
        .route(&format!("{}/{{*rest}}", kind.api_path()), any(api))
        .route(
            "/git/{*rest}",
            // Packs of a push can be larger than axum's 2 MB default.
            any(git_http::serve).layer(DefaultBodyLimit::disable()),
        )
        .with_state(shared)
}

/// Serves `app` on a thread and runtime of its own until the returned sender is
/// dropped. Tests run `git` synchronously (a push to this very server) on their own
/// runtime, often a current-thread one; a server sharing it could not answer.
fn serve(listener: std::net::TcpListener, app: Router) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    std::thread::Builder::new()
        .name("fake-forge".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the fake forge");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        })
        .expect("spawn the fake forge's thread");
    stop
}

/// A running fake forge. Dropping it stops the server and deletes the repository.
pub struct FakeForge {
    pub kind: ForgeKind,
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// The REST API base, e.g. `http://127.0.0.1:PORT/api/v3`.
    pub base_url: String,
    /// The repository over smart HTTP, e.g. `http://127.0.0.1:PORT/git/acme/widgets.git`.
    pub git_url: String,
    /// The token the API and git pushes accept.
    pub token: String,
    pub webhook_secret: String,
    // Dropped in this order: the server stops before its repository goes.
    _stop: oneshot::Sender<()>,
    shared: Arc<Shared>,
    _dir: tempfile::TempDir,
}

impl FakeForge {
    /// Starts a forge hosting `owner_repo` (GitLab: a full path like `acme/team/widgets`)
    /// whose `base_branch` is the seed repository's branch of that name.
    pub async fn start(
        kind: ForgeKind,
        owner_repo: &str,
        seed: &Path,
        base_branch: &str,
    ) -> FakeForge {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let repo = BareRepo::create(dir.path(), owner_repo, seed, base_branch);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            kind,
            owner_repo: owner_repo.to_owned(),
            origin: origin.clone(),
            token: kind.token().to_owned(),
            repo,
            inner: Mutex::new(Inner::default()),
        });
        let stop = serve(listener, router(kind, shared.clone()));
        FakeForge {
            kind,
            base_url: format!("{origin}{}", kind.api_path()),
            git_url: format!("{origin}/git/{owner_repo}.git"),
            token: shared.token.clone(),
            webhook_secret: WEBHOOK_SECRET.to_owned(),
            origin,
            shared,
            _dir: dir,
            _stop: stop,
        }
    }

    /// The git URL with the token as HTTP Basic credentials, for `git push`.
    pub fn authed_git_url(&self) -> String {
        self.git_url
            .replacen("http://", &format!("http://oauth2:{}@", self.token), 1)
    }

    /// The bare repository on disk.
    pub fn repo_path(&self) -> &Path {
        &self.shared.repo.path
    }

    /// Every pull, oldest first.
    pub fn pulls(&self) -> Vec<FakePull> {
        let pulls = self.shared.lock().pulls.clone();
        pulls
            .iter()
            .map(|p| FakePull {
                number: p.number,
                title: p.title.clone(),
                body: p.body.clone(),
                head: p.head.clone(),
                base: p.base.clone(),
                state: p.state,
                merge_commit: p.merge_commit.clone(),
                head_sha: self.shared.head_sha(p),
            })
            .collect()
    }

    /// Sets check `name` on `sha`: a GitHub check run, a Gitea commit status (context
    /// `name`), a job of the GitLab pipeline for `sha`.
    pub fn set_check(&self, sha: &str, name: &str, state: CheckState) {
        self.put_check(sha, name, state, false);
    }

    /// Sets commit status `context` on `sha`: a GitHub commit status (the combined
    /// status endpoint); on GitLab and Gitea the same as [`FakeForge::set_check`].
    pub fn set_status(&self, sha: &str, context: &str, state: CheckState) {
        self.put_check(sha, context, state, true);
    }

    fn put_check(&self, sha: &str, name: &str, state: CheckState, as_status: bool) {
        let mut inner = self.shared.lock();
        if !inner.pipelines.iter().any(|(_, s)| s == sha) {
            let id = inner.next_id() + 5000;
            inner.pipelines.push((id, sha.to_owned()));
        }
        let existing = inner
            .checks
            .iter_mut()
            .find(|c| c.sha == sha && c.name == name && c.as_status == as_status);
        match existing {
            Some(check) => {
                check.state = state;
                check.at = Utc::now();
            }
            None => {
                let id = inner.next_id() + 9000;
                inner.checks.push(Check {
                    id,
                    sha: sha.to_owned(),
                    name: name.to_owned(),
                    state,
                    as_status,
                    at: Utc::now(),
                });
            }
        }
    }

    /// `reviewer` requests changes on pull `number` with `body` and line comments
    /// `(path, line, body)`, now.
    pub fn request_changes(
        &self,
        number: u64,
        reviewer: &str,
        body: &str,
        comments: &[(&str, u32, &str)],
    ) {
        self.review(number, reviewer, body, Verdict::ChangesRequested, comments);
    }

    /// `reviewer` approves pull `number`, now.
    pub fn approve(&self, number: u64, reviewer: &str) {
        self.review(number, reviewer, "", Verdict::Approved, &[]);
    }

    fn review(
        &self,
        number: u64,
        reviewer: &str,
        body: &str,
        verdict: Verdict,
        comments: &[(&str, u32, &str)],
    ) {
        let head = {
            let inner = self.shared.lock();
            let pull = inner
                .pull(number)
                .unwrap_or_else(|| panic!("no pull #{number}"));
            self.shared.head_sha(pull)
        };
        let mut inner = self.shared.lock();
        let id = inner.next_id();
        let comments = comments
            .iter()
            .map(|(path, line, body)| ReviewComment {
                id: inner.next_id(),
                path: (*path).to_owned(),
                line: *line,
                body: (*body).to_owned(),
            })
            .collect();
        let review = Review {
            id,
            user: reviewer.to_owned(),
            body: body.to_owned(),
            verdict,
            at: Utc::now(),
            commit_id: head,
            comments,
        };
        inner.pull_mut(number).unwrap().reviews.push(review);
    }

    /// Merges pull `number` for real in the bare repository, as a maintainer pressing
    /// the button would. Returns the merge commit. Panics when it cannot be merged.
    pub fn merge(&self, number: u64) -> String {
        self.shared
            .merge_pull(number, None)
            .unwrap_or_else(|e| panic!("cannot merge #{number}: {e:?}"))
    }

    /// Closes pull `number` without merging.
    pub fn close(&self, number: u64) {
        let mut inner = self.shared.lock();
        let pull = inner
            .pull_mut(number)
            .unwrap_or_else(|| panic!("no pull #{number}"));
        pull.state = PullState::Closed;
    }

    /// The next `times` API requests with this method whose path (with query)
    /// contains `path_contains` are answered with `status` and the forge's error body.
    /// A 429 carries `Retry-After: 1`.
    pub fn fail_next(&self, method: &str, path_contains: &str, status: u16, times: usize) {
        self.inject(method, path_contains, status, times, false);
    }

    /// The next `times` matching requests are rate limited the way the forge does it:
    /// GitHub 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` a second
    /// away; GitLab and Gitea 429 with `Retry-After: 1`.
    pub fn rate_limit_next(&self, method: &str, path_contains: &str, times: usize) {
        match self.kind {
            ForgeKind::GitHub => self.inject(method, path_contains, 403, times, true),
            _ => self.inject(method, path_contains, 429, times, false),
        }
    }

    fn inject(
        &self,
        method: &str,
        path_contains: &str,
        status: u16,
        times: usize,
        github_rate_limit: bool,
    ) {
        self.shared.lock().injected.push(Injected {
            method: method.to_ascii_uppercase(),
            path_contains: path_contains.to_owned(),
            status,
            remaining: times,
            github_rate_limit,
        });
    }

    /// Every API request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// While `reject`, git pushes (receive-pack) are answered 403.
    pub fn reject_pushes(&self, reject: bool) {
        self.shared.lock().reject_pushes = reject;
    }

    /// The commit `branch` points at in the bare repository.
    pub fn branch_head(&self, branch: &str) -> Option<String> {
        self.shared.repo.branch_head(branch)
    }

    /// The header a webhook delivery of `body` from this forge carries.
    pub fn webhook_signature(&self, body: &[u8]) -> (&'static str, String) {
        match self.kind {
            ForgeKind::GitHub => (
                "X-Hub-Signature-256",
                format!("sha256={}", hmac_hex(WEBHOOK_SECRET, body)),
            ),
            ForgeKind::Gitea => ("X-Gitea-Signature", hmac_hex(WEBHOOK_SECRET, body)),
            ForgeKind::GitLab => ("X-Gitlab-Token", WEBHOOK_SECRET.to_owned()),
        }
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// An API request, parsed once for the forge modules.
struct Req {
    method: Method,
    /// Path segments after the API base, percent-decoded one by one (so GitLab's
    /// `acme%2Fwidgets` project id stays one segment).
    segs: Vec<String>,
    /// The query pairs, decoded.
    query: Vec<(String, String)>,
    /// The path as requested (without query), for pagination links.
    path: String,
    body: Value,
}

impl Req {
    fn q(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn str(&self, key: &str) -> Option<&str> {
        self.body.get(key).and_then(Value::as_str)
    }
}

/// The one entry of the REST API: record, inject, authenticate, then the forge's routes.
async fn api(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = parse_body(&body);
    let authorized = authorized(shared.kind, &headers, &shared.token);
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let injected = {
        let mut inner = shared.lock();
        inner.requests.push(Recorded {
            method: method.to_string(),
            path: path_and_query.clone(),
            body: body.clone(),
            authorized,
        });
        take_injected(&mut inner, method.as_str(), &path_and_query)
    };
    if let Some(injected) = injected {
        return injected_error(shared.kind, &injected);
    }
    if !authorized {
        let message = match shared.kind {
            ForgeKind::GitLab => "401 Unauthorized",
            _ => "Bad credentials",
        };
        return error(shared.kind, 401, message);
    }
    let req = Req {
        segs: uri
            .path()
            .strip_prefix(shared.kind.api_path())
            .unwrap_or_default()
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect(),
        query: serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default(),
        path: uri.path().to_owned(),
        method,
        body,
    };
    match shared.kind {
        ForgeKind::GitHub => github::route(&shared, &req),
        ForgeKind::GitLab => gitlab::route(&shared, &req),
        ForgeKind::Gitea => gitea::route(&shared, &req),
    }
}

/// JSON bodies as they are; a form body as an object of strings; nothing as `Null`.
fn parse_body(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    if let Ok(value) = serde_json::from_slice(body) {
        return value;
    }
    match serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
        Ok(pairs) => Value::Object(pairs.into_iter().map(|(k, v)| (k, v.into())).collect()),
        Err(_) => Value::String(String::from_utf8_lossy(body).into_owned()),
    }
}

/// Whether the request carries the token in one of the ways the forge accepts.
fn authorized(kind: ForgeKind, headers: &HeaderMap, token: &str) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let authorization = header("authorization").unwrap_or_default();
    let bearer = authorization.strip_prefix("Bearer ") == Some(token);
    let token_scheme = authorization.strip_prefix("token ") == Some(token);
    match kind {
        ForgeKind::GitHub | ForgeKind::Gitea => bearer || token_scheme,
        ForgeKind::GitLab => bearer || header("private-token") == Some(token),
    }
}

fn take_injected(inner: &mut Inner, method: &str, path: &str) -> Option<Injected> {
    let index = inner
        .injected
        .iter()
        .position(|i| i.remaining > 0 && i.method == method && path.contains(&i.path_contains))?;
    let injected = &mut inner.injected[index];
    injected.remaining -= 1;
    let taken = injected.clone();
    if injected.remaining == 0 {
        inner.injected.remove(index);
    }
    Some(taken)
}

fn injected_error(kind: ForgeKind, injected: &Injected) -> Response {
    let status = injected.status;
    let rate_limited = status == 429 || injected.github_rate_limit;
    let message = if rate_limited {
        "API rate limit exceeded".to_owned()
    } else {
        status_message(kind, status)
    };
    let mut response = error(kind, status, &message);
    let headers = response.headers_mut();
    if status == 429 {
        headers.insert("retry-after", HeaderValue::from_static("1"));
    }
    if injected.github_rate_limit {
        let reset = (Utc::now().timestamp() + 1).to_string();
        headers.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        headers.insert("x-ratelimit-reset", HeaderValue::from_str(&reset).unwrap());
    }
    response
}

/// The message a forge puts in an error body for a bare status.
fn status_message(kind: ForgeKind, status: u16) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    match kind {
        // GitLab's errors read "404 Not found", "500 Internal Server Error".
        ForgeKind::GitLab => format!("{status} {reason}"),
        _ => reason.to_owned(),
    }
}

/// The forge's error body for `status` with `message`.
fn error(kind: ForgeKind, status: u16, message: &str) -> Response {
    let body = match kind {
        ForgeKind::GitHub => json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.to_string(),
        }),
        ForgeKind::GitLab => json!({ "message": message }),
        ForgeKind::Gitea => json!({ "message": message, "url": "https://docs.gitea.com/api" }),
    };
    respond(status, body)
}

fn respond(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), Json(body)).into_response()
}

fn not_found(kind: ForgeKind) -> Response {
    let message = match kind {
        ForgeKind::GitHub => "Not Found",
        ForgeKind::GitLab => "404 Not found",
        ForgeKind::Gitea => "The target couldn't be found.",
    };
    error(kind, 404, message)
}

/// Percent-decodes one path segment (`%2F` and friends); bad escapes stay as they are.
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 3339 UTC with whole seconds, as GitHub and Gitea write time stamps.
fn time_secs(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// RFC 3339 UTC with milliseconds, as GitLab writes time stamps.
fn time_millis(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The pull number in a path segment, if it is one.
fn number(segment: &str) -> Option<u64> {
    segment.parse().ok()
}
