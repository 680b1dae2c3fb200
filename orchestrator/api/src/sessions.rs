//! `/api/sessions`: agent runs and their logs.

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::get,
};
use harness_domain::session::SessionId;
use harness_domain::session::{LogLine, Session, SessionStatus};
use harness_domain::task::TaskId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    AppState,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{Query, query_number, query_parsed, query_text},
};
use harness_store::SessionFilter;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/sessions", get(list_sessions))
        .route("/api/sessions/{id}", get(get_session))
        .route("/api/sessions/{id}/logs", get(session_logs))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionPage {
    pub items: Vec<Session>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionLogs {
    pub items: Vec<LogLine>,
}

/// Query parameters of `GET /api/sessions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SessionQuery {
    #[serde(
        default,
        deserialize_with = "query_number::<_, _, 1, { i64::MAX as u64 }>"
    )]
    task_id: Option<i64>,
    #[serde(default, deserialize_with = "query_text")]
    agent_id: Option<String>,
    #[serde(default, deserialize_with = "query_parsed")]
    status: Option<SessionStatus>,
    /// 1 to 500, default 50.
    #[serde(default, deserialize_with = "query_number::<_, _, 1, 500>")]
    limit: Option<u32>,
    #[serde(default, deserialize_with = "query_number::<_, _, 0, { u64::MAX }>")]
    offset: Option<u64>,
    /// `next_cursor` of the previous page: continues after it, as fast at any depth.
    /// Opaque, like the task list's: pass it back as it came.
    #[serde(default, deserialize_with = "query_text")]
    cursor: Option<String>,
}

/// The session a `next_cursor` continues after. The cursor is the text the previous
/// page returned; anything else is the caller's mistake, named as such.
fn session_cursor(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::invalid("cursor", "cursor must be a next_cursor from a session page")
    })
}

/// Query parameters of `GET /api/sessions/{id}/logs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogQuery {
    /// Only lines with a greater seq.
    #[serde(
        default,
        deserialize_with = "query_number::<_, _, 0, { i64::MAX as u64 }>"
    )]
    after: Option<i64>,
    /// 1 to 5000, default 1000.
    #[serde(default, deserialize_with = "query_number::<_, _, 1, 5000>")]
    limit: Option<u32>,
}

fn session_id(raw: &str) -> Result<SessionId, ApiError> {
    raw.parse::<i64>()
        .ok()
        .and_then(|n| SessionId::new(n).ok())
        .ok_or_else(|| ApiError::NotFound(format!("session '{raw}' not found")))
}

/// Sessions, newest first.
#[utoipa::path(get, path = "/api/sessions", tag = "sessions", params(SessionQuery),
    responses((status = 200, body = SessionPage), (status = 422, body = ErrorBody)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    Query(q): Query<SessionQuery>,
) -> ApiResult<Json<SessionPage>> {
    let filter = SessionFilter {
        // The query already holds it to 1 and above, which is what a task id is.
        task_id: q.task_id.and_then(|id| TaskId::new(id).ok()),
        agent_id: q.agent_id,
        status: q.status,
        limit: q.limit.unwrap_or(50),
        offset: q.offset.unwrap_or(0),
        before: q.cursor.as_deref().map(session_cursor).transpose()?,
    };
    let (limit, offset) = (filter.limit, filter.offset);
    let page = state.board.list_sessions(filter).await?;
    Ok(Json(SessionPage {
        items: page.items,
        total: page.total,
        limit,
        offset,
        next_cursor: page.next_cursor,
    }))
}

/// One session.
#[utoipa::path(get, path = "/api/sessions/{id}", tag = "sessions", params(("id" = i64, Path)),
    responses((status = 200, body = Session), (status = 404, body = ErrorBody)))]
pub async fn get_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Session>> {
    Ok(Json(state.board.get_session(session_id(&id)?).await?))
}

/// A session's log lines after `after`, oldest first.
#[utoipa::path(get, path = "/api/sessions/{id}/logs", tag = "sessions",
    params(("id" = i64, Path), LogQuery),
    responses((status = 200, body = SessionLogs), (status = 404, body = ErrorBody)))]
pub async fn session_logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Json<SessionLogs>> {
    let id = session_id(&id)?;
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(1000);
    Ok(Json(SessionLogs {
        items: state.board.session_logs(id, after, limit).await?,
    }))
}
