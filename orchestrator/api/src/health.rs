//! `GET /health`: open, cheap, and honest about the database.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use std::sync::atomic::Ordering;

use harness_domain::time::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

/// Marks a health response so the request log can put it at debug level: container
/// runtimes call `/health` every few seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HealthCheck;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when the database cannot be read.
    pub status: &'static str,
    pub timestamp: Timestamp,
    pub version: &'static str,
}

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

/// Liveness and readiness: 200 when the database answers, 503 when it does not.
/// The answer comes from a probe that runs every second (see `server`), so a health
/// check never waits on the database and a flood of them cannot load it.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Response {
    let ok = state.db_healthy.load(Ordering::Relaxed);
    let (code, status) = if ok {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    let body = Health {
        status,
        timestamp: Timestamp::now(),
        version: env!("CARGO_PKG_VERSION"),
    };
    let mut response = (code, Json(body)).into_response();
    response.extensions_mut().insert(HealthCheck);
    response
}
