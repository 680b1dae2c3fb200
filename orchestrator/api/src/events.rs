//! `/api/events`: the operations log.

use axum::{Json, Router, extract::State, routing::get};
use harness_domain::event::Event;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    AppState,
    error::{ApiResult, ErrorBody},
    extract::{Query, query_number, query_text},
};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/events", get(list_events))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventList {
    pub items: Vec<Event>,
}

/// Query parameters of `GET /api/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventQuery {
    /// Only events with a greater id; without it, the newest `limit`.
    #[serde(
        default,
        deserialize_with = "query_number::<_, _, 0, { i64::MAX as u64 }>"
    )]
    after: Option<i64>,
    /// Exact event type, such as `task.created`.
    #[serde(default, rename = "type", deserialize_with = "query_text")]
    kind: Option<String>,
    /// 1 to 1000, default 100.
    #[serde(default, deserialize_with = "query_number::<_, _, 1, 1000>")]
    limit: Option<u32>,
}

/// Events, oldest first.
#[utoipa::path(get, path = "/api/events", tag = "events", params(EventQuery),
    responses((status = 200, body = EventList), (status = 422, body = ErrorBody)))]
pub async fn list_events(
    State(state): State<AppState>,
    Query(q): Query<EventQuery>,
) -> ApiResult<Json<EventList>> {
    let limit = q.limit.unwrap_or(100);
    Ok(Json(EventList {
        items: state.board.list_events(q.after, q.kind, limit).await?,
    }))
}
