//! `/api/orchestrator`: running or paused.

use axum::{
    Json, Router,
    extract::State,
    routing::{get, post},
};

use super::{AppState, error::ApiResult};
use harness_board::{Actor, OrchestratorStatus};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/orchestrator/status", get(status))
        .route("/api/orchestrator/pause", post(pause))
        .route("/api/orchestrator/resume", post(resume))
}

/// Whether new sessions may start, and how many tasks are in each status.
#[utoipa::path(get, path = "/api/orchestrator/status", tag = "orchestrator", operation_id = "orchestrator_status",
    responses((status = 200, body = OrchestratorStatus)))]
pub async fn status(State(state): State<AppState>) -> ApiResult<Json<OrchestratorStatus>> {
    Ok(Json(
        state.board.orchestrator_status(state.started_at).await?,
    ))
}

/// Stop starting new sessions (running ones finish). Survives restarts.
#[utoipa::path(post, path = "/api/orchestrator/pause", tag = "orchestrator", operation_id = "orchestrator_pause",
    responses((status = 200, body = OrchestratorStatus)))]
pub async fn pause(State(state): State<AppState>) -> ApiResult<Json<OrchestratorStatus>> {
    Ok(Json(
        state
            .board
            .set_paused(true, state.started_at, Actor::API)
            .await?,
    ))
}

/// Start new sessions again.
#[utoipa::path(post, path = "/api/orchestrator/resume", tag = "orchestrator", operation_id = "orchestrator_resume",
    responses((status = 200, body = OrchestratorStatus)))]
pub async fn resume(State(state): State<AppState>) -> ApiResult<Json<OrchestratorStatus>> {
    Ok(Json(
        state
            .board
            .set_paused(false, state.started_at, Actor::API)
            .await?,
    ))
}
