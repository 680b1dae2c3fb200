//! Authentication: one shared token, sent as a bearer header, or exchanged at login for
//! a dashboard session cookie.
//!
//! The cookie holds a random id; the database holds only its hash, its expiry and a
//! fingerprint of the token it was made with, so logout revokes it, it expires, and
//! changing the token ends every login. Login attempts are rate limited per client.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use harness_domain::time::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use super::{AppState, error::ApiError, extract::JsonBody, login_limit::LoginLimiter};
use harness_board::Board;
use harness_config::Settings;

const COOKIE: &str = "harness_session";
/// Live logins kept at most; the oldest go first.
const MAX_LOGINS: u32 = 1000;

/// The configured token and the login policy.
#[derive(Clone)]
pub struct Auth {
    token: Option<Token>,
    expiry: Duration,
    /// The public URL is https: cookies are always `Secure`.
    public_https: bool,
    trust_proxy: bool,
    limiter: Arc<LoginLimiter>,
}

#[derive(Clone)]
struct Token {
    value: harness_config::Secret,
    /// Stored with each login, so a new token ends the old logins.
    fingerprint: String,
}

impl Auth {
    pub fn new(settings: &Settings) -> Self {
        Self {
            token: settings.api_token.clone().map(|value| Token {
                fingerprint: sha256_hex(&format!("parent-harness-token-v1:{}", value.expose())),
                value,
            }),
            expiry: settings.login_expiry,
            public_https: settings.web.public_url.as_ref().is_some_and(|u| u.https),
            trust_proxy: settings.trust_proxy,
            limiter: Arc::new(LoginLimiter::default()),
        }
    }

    pub fn required(&self) -> bool {
        self.token.is_some()
    }

    /// Is this request authenticated? Always true when no token is configured.
    pub async fn allows(&self, board: &Board, headers: &HeaderMap) -> Result<bool, ApiError> {
        let Some(token) = &self.token else {
            return Ok(true);
        };
        if bearer(headers).is_some_and(|given| equal(given, token.value.expose())) {
            return Ok(true);
        }
        let Some(id) = cookie(headers) else {
            return Ok(false);
        };
        let (hash, fingerprint) = (sha256_hex(id), token.fingerprint.clone());
        Ok(board.login_valid(hash, fingerprint).await?)
    }

    /// The address a login attempt is counted against.
    fn client(&self, req_peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let forwarded = self
            .trust_proxy
            .then(|| last_forwarded_for(headers))
            .flatten();
        forwarded.or(req_peer).unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    /// `Secure` when the public URL is https or a TLS proxy says the request was.
    fn cookie(&self, headers: &HeaderMap, value: &str, max_age: u64) -> String {
        let tls = self.public_https
            || headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
        let secure = if tls { "; Secure" } else { "" };
        format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}")
    }
}

fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// 256 random bits from the operating system, as hex.
fn new_session_id() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("no randomness for a session id: {e}")))?;
    Ok(hex::encode(bytes))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && !value.is_empty())
        .map(|(_, value)| value)
}

/// The entry the proxy in front of us added: the one a client cannot forge.
fn last_forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()?
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

fn peer(req_extensions: &axum::http::Extensions) -> Option<IpAddr> {
    req_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// Middleware for everything under /api (but login) and /ws.
pub async fn require(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match state.auth.allows(&state.board, req.headers()).await {
        Ok(true) => next.run(req).await,
        Ok(false) => ApiError::Unauthorized.into_response(),
        Err(err) => err.into_response(),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/status", get(status))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuthStatus {
    /// The server has a token configured.
    pub auth_required: bool,
    /// This request carried a valid token or session cookie.
    pub authenticated: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    pub token: String,
}

/// Whether the dashboard must show its login page.
#[utoipa::path(get, path = "/api/auth/status", tag = "auth", operation_id = "auth_status",
    responses((status = 200, body = AuthStatus)))]
pub async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<AuthStatus>, ApiError> {
    Ok(Json(AuthStatus {
        auth_required: state.auth.required(),
        authenticated: state.auth.allows(&state.board, &headers).await?,
    }))
}

/// Exchanges the token for an HttpOnly, SameSite=Strict session cookie that expires.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 204, description = "logged in; cookie set"),
              (status = 401, body = super::error::ErrorBody),
              (status = 429, body = super::error::ErrorBody, description = "too many attempts")))]
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let auth = &state.auth;
    let Some(token) = &auth.token else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let client = auth.client(peer(&extensions), &headers);
    if let Err(wait) = auth.limiter.attempt(client, Instant::now()) {
        tracing::warn!(%client, "login rate limit reached");
        return Err(ApiError::TooManyRequests {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    if !equal(body.token.trim(), token.value.expose()) {
        return Err(ApiError::Unauthorized);
    }
    let id = new_session_id()?;
    let (hash, fingerprint) = (sha256_hex(&id), token.fingerprint.clone());
    let expiry = chrono::TimeDelta::from_std(auth.expiry)
        .map_err(|e| ApiError::Internal(format!("login expiry out of range: {e}")))?;
    let expires_at = Timestamp::now().plus(expiry);
    state
        .board
        .record_login(hash, fingerprint, expires_at, MAX_LOGINS)
        .await?;
    Ok(with_cookie(auth.cookie(
        &headers,
        &id,
        auth.expiry.as_secs(),
    )))
}

/// Ends this browser's login on the server and clears its cookie.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 204, description = "login revoked; cookie cleared")))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(id) = cookie(&headers) {
        let hash = sha256_hex(id);
        state.board.end_login(hash).await?;
    }
    Ok(with_cookie(state.auth.cookie(&headers, "", 0)))
}

fn with_cookie(cookie: String) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
