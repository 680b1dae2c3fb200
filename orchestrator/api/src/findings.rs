//! `/api/tasks/{id}/findings` and `/api/findings/{id}/screenshot`: what human-sim
//! agents reported on a task, and the screenshots they attached.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};
use harness_domain::finding::Finding;
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    AppState,
    error::{ApiError, ApiResult, ErrorBody},
    tasks::task_ref,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/tasks/{id}/findings", get(task_findings))
        .route("/api/findings/{id}/screenshot", get(finding_screenshot))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FindingList {
    pub items: Vec<Finding>,
}

/// A task's findings, oldest first (at most 50 per task).
#[utoipa::path(get, path = "/api/tasks/{id}/findings", tag = "findings",
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 200, body = FindingList), (status = 404, body = ErrorBody)))]
pub(crate) async fn task_findings(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<FindingList>> {
    let items = state.board.list_findings(task_ref(&id)?).await?;
    Ok(Json(FindingList { items }))
}

/// The PNG screenshot attached to a finding.
#[utoipa::path(get, path = "/api/findings/{id}/screenshot", tag = "findings",
    params(("id" = i64, Path)),
    responses((status = 200, content_type = "image/png", body = [u8]),
        (status = 404, body = ErrorBody)))]
pub async fn finding_screenshot(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = id
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::NotFound(format!("finding '{id}' not found")))?;
    let png = state.board.finding_screenshot(id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        png,
    )
        .into_response())
}
