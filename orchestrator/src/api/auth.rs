//! Authentication: one shared token, sent as a bearer header or held in a cookie.
//!
//! The cookie never holds the token itself but a hash of it, so a leaked cookie
//! jar does not leak the token, and changing the token logs every browser out.

use axum::{
    Json, Router,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use super::{AppState, error::ApiError, extract::JsonBody};
use crate::config::Secret;

const COOKIE: &str = "harness_session";
const COOKIE_MAX_AGE_SECS: u64 = 30 * 24 * 60 * 60;

/// The configured token, if any.
#[derive(Clone)]
pub struct Auth {
    token: Option<Secret>,
}

impl Auth {
    pub fn new(token: Option<Secret>) -> Self {
        Self { token }
    }

    pub fn required(&self) -> bool {
        self.token.is_some()
    }

    /// Is this request authenticated? Always true when no token is configured.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        bearer(headers).is_some_and(|given| equal(given.as_bytes(), token.expose().as_bytes()))
            || cookie(headers)
                .is_some_and(|given| equal(given.as_bytes(), session_value(token).as_bytes()))
    }
}

fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn session_value(token: &Secret) -> String {
    hex::encode(Sha256::digest(format!(
        "parent-harness-session-v1:{}",
        token.expose()
    )))
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
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Middleware for everything under /api (but login) and /ws.
pub async fn require(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.auth.allows(req.headers()) {
        next.run(req).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/status", get(status))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthStatus {
    /// The server has a token configured.
    pub auth_required: bool,
    /// This request carried a valid token or session cookie.
    pub authenticated: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub token: String,
}

/// Whether the dashboard must show its login page.
#[utoipa::path(get, path = "/api/auth/status", tag = "auth", operation_id = "auth_status",
    responses((status = 200, body = AuthStatus)))]
pub async fn status(State(state): State<AppState>, headers: HeaderMap) -> Json<AuthStatus> {
    Json(AuthStatus {
        auth_required: state.auth.required(),
        authenticated: state.auth.allows(&headers),
    })
}

/// Exchanges the token for an HttpOnly, SameSite=Strict session cookie.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 204, description = "logged in; cookie set"),
              (status = 401, body = super::error::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let Some(token) = &state.auth.token else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    if !equal(body.token.trim().as_bytes(), token.expose().as_bytes()) {
        return Err(ApiError::Unauthorized);
    }
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={COOKIE_MAX_AGE_SECS}",
        session_value(token)
    );
    Ok(with_cookie(cookie))
}

/// Clears the session cookie.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 204, description = "cookie cleared")))]
pub async fn logout() -> Response {
    with_cookie(format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    ))
}

fn with_cookie(cookie: String) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
