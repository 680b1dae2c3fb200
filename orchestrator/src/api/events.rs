//! `/api/events`: the operations log.

use axum::{Json, Router, extract::State, routing::get};
use harness_domain::event::Event;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    AppState,
    error::{ApiResult, ErrorBody},
    extract::QueryParams,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/events", get(list_events))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub items: Vec<Event>,
}

/// Query parameters of `GET /api/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct EventQuery {
    /// Only events with a greater id; without it, the newest `limit`.
    after: Option<i64>,
    /// Exact event type, such as `task.created`.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// 1 to 1000, default 100.
    limit: Option<u32>,
}

/// Events, oldest first.
#[utoipa::path(get, path = "/api/events", tag = "events", params(EventQuery),
    responses((status = 200, body = EventList), (status = 422, body = ErrorBody)))]
pub async fn list_events(
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Json<EventList>> {
    let after = q.number("after", 0, i64::MAX)?;
    let limit = q.number("limit", 1, 1000)?.unwrap_or(100);
    let kind = q.get("type").map(str::to_owned);
    Ok(Json(EventList {
        items: state.board.list_events(after, kind, limit).await?,
    }))
}
