//! Review before landing: a task's diff, comments on its lines, a person's decision,
//! and a message to the task's agent.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{get, patch, post},
};
use harness_domain::{
    review::{
        CommentBody, LineRange, Message, NewComment, RepoPath, ReviewAction, ReviewComment, Side,
        TaskDiff,
    },
    task::Task,
};
use harness_scheduler::review::{anchor_comment, task_diff};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    AppState,
    error::{ApiError, ApiResult, ErrorBody},
    extract::JsonBody,
    tasks::task_ref,
};
use harness_board::Actor;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/tasks/{id}/diff", get(get_diff))
        .route(
            "/api/tasks/{id}/comments",
            get(list_comments).post(create_comment),
        )
        .route(
            "/api/tasks/{id}/comments/{comment_id}",
            patch(update_comment).delete(delete_comment),
        )
        .route("/api/tasks/{id}/review", post(review_task))
        .route("/api/tasks/{id}/messages", post(message_task))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateCommentRequest {
    /// A file of the task's diff.
    pub path: String,
    /// 1-based line number on `side`.
    pub line: i64,
    /// The last line of a range (at most 1,000 lines).
    pub end_line: Option<i64>,
    /// `new` (the branch, default) or `old` (the base).
    pub side: Option<Side>,
    /// 1 to 10,000 characters.
    pub body: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateCommentRequest {
    pub body: Option<String>,
    pub resolved: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CommentList {
    pub items: Vec<ReviewComment>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReviewRequest {
    pub action: ReviewAction,
    /// Why (required to reject), or what to change (with or instead of comments).
    pub message: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessageRequest {
    /// 1 to 20,000 characters.
    pub message: String,
}

/// The task's branch against where it left the base, file by file.
#[utoipa::path(get, path = "/api/tasks/{id}/diff", tag = "review",
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 200, body = TaskDiff), (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn get_diff(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskDiff>> {
    let task = state.board.get_task(task_ref(&id)?).await?;
    Ok(Json(task_diff(&state.settings.engine, &task).await?))
}

/// The task's review comments, oldest first.
#[utoipa::path(get, path = "/api/tasks/{id}/comments", tag = "review",
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 200, body = CommentList), (status = 404, body = ErrorBody)))]
pub async fn list_comments(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<CommentList>> {
    let items = state.board.list_comments(task_ref(&id)?).await?;
    Ok(Json(CommentList { items }))
}

/// Comment on a line (or a range) of the task's diff.
#[utoipa::path(post, path = "/api/tasks/{id}/comments", tag = "review",
    request_body = CreateCommentRequest,
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 201, body = ReviewComment), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_comment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CreateCommentRequest>,
) -> ApiResult<(StatusCode, Json<ReviewComment>)> {
    let id = task_ref(&id)?;
    let path = RepoPath::parse(&body.path)?;
    let lines = LineRange::parse(body.line, body.end_line)?;
    let side = body.side.unwrap_or_default();
    let text = CommentBody::parse(&body.body)?;
    let task = state.board.get_task(id).await?;
    let (commit, line_text) =
        anchor_comment(&state.settings.engine, &task, &path, lines, side).await?;
    let new = NewComment {
        path,
        lines,
        side,
        body: text,
        commit,
        line_text,
    };
    let comment = state.board.create_comment(id, new, Actor::API).await?;
    Ok((StatusCode::CREATED, Json(comment)))
}

/// Edit a comment, or mark it resolved (no longer sent to the agent) or open again.
#[utoipa::path(patch, path = "/api/tasks/{id}/comments/{comment_id}", tag = "review",
    request_body = UpdateCommentRequest,
    params(("id" = String, Path, description = "42 or T-42"), ("comment_id" = i64, Path)),
    responses((status = 200, body = ReviewComment), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_comment(
    State(state): State<AppState>,
    Path((id, comment_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<UpdateCommentRequest>,
) -> ApiResult<Json<ReviewComment>> {
    let (id, comment_id) = (task_ref(&id)?, comment_ref(&comment_id)?);
    if body.body.is_none() && body.resolved.is_none() {
        return Err(ApiError::BadRequest {
            message: "nothing to change: send body or resolved".into(),
            field: None,
        });
    }
    let text = body
        .body
        .as_deref()
        .map(CommentBody::parse)
        .transpose()?
        .map(|b| b.as_str().to_owned());
    let comment = state
        .board
        .update_comment(id, comment_id, text, body.resolved)
        .await?;
    Ok(Json(comment))
}

#[utoipa::path(delete, path = "/api/tasks/{id}/comments/{comment_id}", tag = "review",
    params(("id" = String, Path, description = "42 or T-42"), ("comment_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_comment(
    State(state): State<AppState>,
    Path((id, comment_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (id, comment_id) = (task_ref(&id)?, comment_ref(&comment_id)?);
    state.board.delete_comment(id, comment_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Approve (it lands), request changes (a follow-up attempt continues the agent's
/// conversation with the message and the open comments), or reject (blocked, the
/// branch kept) the verified work of a task in review.
#[utoipa::path(post, path = "/api/tasks/{id}/review", tag = "review",
    request_body = ReviewRequest,
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn review_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReviewRequest>,
) -> ApiResult<Json<Task>> {
    let id = task_ref(&id)?;
    let message = body.message.as_deref().map(Message::parse).transpose()?;
    if body.action == ReviewAction::Reject && message.is_none() {
        return Err(ApiError::invalid("message", "say why the work is rejected"));
    }
    let task = state
        .board
        .review_task(id, body.action, message, Actor::API)
        .await?;
    Ok(Json(task))
}

/// Send the agent of a task in review, completed, blocked or failed a message: the task
/// goes back to pending and its next attempt continues the conversation with it.
#[utoipa::path(post, path = "/api/tasks/{id}/messages", tag = "review",
    request_body = MessageRequest,
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn message_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MessageRequest>,
) -> ApiResult<Json<Task>> {
    let id = task_ref(&id)?;
    let message = Message::parse(&body.message)?;
    Ok(Json(
        state.board.message_task(id, message, Actor::API).await?,
    ))
}

fn comment_ref(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::NotFound(format!("comment '{raw}' not found")))
}
