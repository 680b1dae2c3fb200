//! `/api/forge/webhook`: a forge says something changed on a pull request (a check
//! finished, a review, a merge). The delivery is believed only with the shared secret
//! (`HARNESS_FORGE_WEBHOOK_SECRET`), checked as the forge signs it; it then wakes the
//! pull-request follower, which reads the truth from the forge's API itself, so a
//! delivery's body is never trusted for what it says.

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use harness_forge::webhook::is_genuine;

use super::{AppState, error::ApiError};

pub(crate) fn webhook_router() -> Router<AppState> {
    Router::new().route("/api/forge/webhook", post(webhook))
}

async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let Some(settings) = &state.settings.engine.pull_requests else {
        return Err(ApiError::NotFound(
            "no forge is set up (HARNESS_FORGE_TOKEN)".into(),
        ));
    };
    let Some(secret) = &settings.webhook_secret else {
        return Err(ApiError::NotFound(
            "the forge webhook is off: set HARNESS_FORGE_WEBHOOK_SECRET".into(),
        ));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if !is_genuine(settings.forge.kind, secret.expose(), header, &body) {
        tracing::warn!("forge webhook: a delivery without a valid signature was refused");
        return Err(ApiError::Unauthorized);
    }
    state.board.runs().wake_forge();
    Ok(StatusCode::NO_CONTENT)
}
