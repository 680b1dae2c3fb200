//! `/api/tasks`: the board's tasks, their actions and history.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
};
use harness_domain::origin::BrowserOrigins;
use harness_domain::task::{
    Answer, Category, CostCap, Dependencies, Description, LandPolicy, MaxAttempts, NewTask,
    PassCriteria, Priority, Task, TaskId, TaskPatch, TaskRef, TaskStatus, TaskTransition, Title,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    AppState,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{JsonBody, Query, query_number, query_parsed, query_text},
};
use harness_board::Actor;
use harness_store::{TaskCursor, TaskFilter};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/tasks", get(list_tasks).post(create_task))
        .route(
            "/api/tasks/{id}",
            get(get_task).patch(update_task).delete(delete_task),
        )
        .route("/api/tasks/{id}/retry", post(retry_task))
        .route("/api/tasks/{id}/unblock", post(unblock_task))
        .route("/api/tasks/{id}/reopen", post(reopen_task))
        .route("/api/tasks/{id}/land", post(land_task))
        .route("/api/tasks/{id}/cancel", post(cancel_task))
        .route("/api/tasks/{id}/answer", post(answer_task))
        .route("/api/tasks/{id}/history", get(task_history))
        .route("/api/tasks/{id}/dependents", get(task_dependents))
}

/// A task named by id (`42`) or display id (`T-42`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum TaskRefInput {
    Id(i64),
    DisplayId(String),
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTaskRequest {
    /// 1 to 200 characters.
    pub title: String,
    pub description: Option<String>,
    /// Lowercase slug such as `feature`, `bug` or `docs` (default `feature`).
    pub category: Option<String>,
    /// P0 (most urgent) to P4; default P2.
    pub priority: Option<Priority>,
    pub pass_criteria: Option<Vec<String>>,
    pub depends_on: Option<Vec<TaskRefInput>>,
    /// 1 to 20; default 3.
    pub max_attempts: Option<i64>,
    /// What all the task's sessions may cost together, in USD; a session crossing it is stopped.
    pub max_cost_usd: Option<f64>,
    /// Origins beyond loopback the browser may open on this task (at most 16), each an
    /// http(s) origin like `https://staging.example.com`; added to the role's.
    pub browser_origins: Option<Vec<String>>,
    /// `auto` (verified work lands at once), `review` (it waits for a person) or
    /// `pull_request` (a pull request on the forge); default: the role's.
    pub land: Option<LandPolicy>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateTaskRequest {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub priority: Option<Priority>,
    pub pass_criteria: Option<Vec<String>>,
    pub depends_on: Option<Vec<TaskRefInput>>,
    /// A new cap on what all the task's sessions may cost together, in USD (positive, at
    /// most 1000000); sessions already running are held to it too.
    pub max_cost_usd: Option<f64>,
    /// `auto`, `review` or `pull_request`: applies to the task's next verified work;
    /// `null` hands it back to its role's policy.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<LandPolicy>)]
    pub land: Option<Option<LandPolicy>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnswerRequest {
    /// 1 to 20,000 characters.
    pub answer: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskPage {
    pub items: Vec<Task>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskList {
    pub items: Vec<Task>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskHistory {
    pub items: Vec<TaskTransition>,
}

/// Query parameters of `GET /api/tasks`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TaskQuery {
    #[serde(default, deserialize_with = "query_parsed")]
    status: Option<TaskStatus>,
    #[serde(default, deserialize_with = "query_parsed")]
    priority: Option<Priority>,
    #[serde(default, deserialize_with = "query_text")]
    category: Option<String>,
    /// Assigned agent id.
    #[serde(default, deserialize_with = "query_text")]
    agent: Option<String>,
    /// Case-insensitive text in the title, or a display id.
    #[serde(default, deserialize_with = "query_text")]
    q: Option<String>,
    /// 1 to 500, default 50.
    #[serde(default, deserialize_with = "query_number::<_, _, 1, 500>")]
    limit: Option<u32>,
    #[serde(default, deserialize_with = "query_number::<_, _, 0, { u64::MAX }>")]
    offset: Option<u64>,
    /// `next_cursor` of the previous page: continues after it, as fast at any depth.
    #[serde(default, deserialize_with = "query_text")]
    cursor: Option<String>,
}

fn parse_dependencies(refs: Vec<TaskRefInput>) -> Result<Dependencies, ApiError> {
    let ids = refs
        .into_iter()
        .map(|r| match r {
            TaskRefInput::Id(n) => TaskId::new(n),
            TaskRefInput::DisplayId(s) => TaskRef::parse(&s).map(TaskRef::id),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::invalid("depends_on", e.message))?;
    Ok(Dependencies::parse(ids)?)
}

impl CreateTaskRequest {
    fn into_new_task(self) -> Result<NewTask, ApiError> {
        Ok(NewTask {
            title: Title::parse(&self.title)?,
            description: self
                .description
                .as_deref()
                .map(Description::parse)
                .transpose()?
                .unwrap_or_default(),
            category: self
                .category
                .as_deref()
                .map(Category::parse)
                .transpose()?
                .unwrap_or_default(),
            priority: self.priority.unwrap_or_default(),
            pass_criteria: self
                .pass_criteria
                .as_deref()
                .map(PassCriteria::parse)
                .transpose()?
                .unwrap_or_default(),
            depends_on: self
                .depends_on
                .map(parse_dependencies)
                .transpose()?
                .unwrap_or_default(),
            max_attempts: self
                .max_attempts
                .map(MaxAttempts::parse)
                .transpose()?
                .unwrap_or_default(),
            max_cost_usd: self.max_cost_usd.map(CostCap::parse).transpose()?,
            browser_origins: self
                .browser_origins
                .as_deref()
                .map(BrowserOrigins::parse)
                .transpose()?
                .unwrap_or_default(),
            land: self.land,
        })
    }
}

impl UpdateTaskRequest {
    fn into_patch(self) -> Result<TaskPatch, ApiError> {
        let patch = TaskPatch {
            title: self.title.as_deref().map(Title::parse).transpose()?,
            description: self
                .description
                .as_deref()
                .map(Description::parse)
                .transpose()?,
            category: self.category.as_deref().map(Category::parse).transpose()?,
            priority: self.priority,
            pass_criteria: self
                .pass_criteria
                .as_deref()
                .map(PassCriteria::parse)
                .transpose()?,
            depends_on: self.depends_on.map(parse_dependencies).transpose()?,
            max_cost_usd: self.max_cost_usd.map(CostCap::parse).transpose()?,
            land: self.land,
        };
        if patch.is_empty() {
            return Err(ApiError::BadRequest {
                message: "nothing to change: send at least one of title, description, category, \
                          priority, pass_criteria, depends_on, max_cost_usd, land"
                    .to_owned(),
                field: None,
            });
        }
        Ok(patch)
    }
}

pub(super) fn task_ref(raw: &str) -> Result<TaskId, ApiError> {
    TaskRef::parse(raw)
        .map(TaskRef::id)
        .map_err(|_| ApiError::NotFound(format!("task '{raw}' not found (use 42 or T-42)")))
}

fn task_filter(q: TaskQuery) -> Result<TaskFilter, ApiError> {
    let after = q
        .cursor
        .map(|raw| {
            TaskCursor::parse(&raw).ok_or_else(|| {
                ApiError::invalid("cursor", "cursor must be a next_cursor from a task page")
            })
        })
        .transpose()?;
    Ok(TaskFilter {
        status: q.status,
        priority: q.priority,
        category: q.category,
        agent: q.agent,
        text: q.q,
        limit: q.limit.unwrap_or(50),
        offset: q.offset.unwrap_or(0),
        after,
    })
}

/// List tasks, most urgent and oldest first.
#[utoipa::path(get, path = "/api/tasks", tag = "tasks", params(TaskQuery),
    responses((status = 200, body = TaskPage), (status = 422, body = ErrorBody)))]
pub async fn list_tasks(
    State(state): State<AppState>,
    Query(query): Query<TaskQuery>,
) -> ApiResult<Json<TaskPage>> {
    let filter = task_filter(query)?;
    let (limit, offset) = (filter.limit, filter.offset);
    let page = state.board.list_tasks(filter).await?;
    Ok(Json(TaskPage {
        items: page.items,
        total: page.total,
        limit,
        offset,
        next_cursor: page.next_cursor,
    }))
}

/// Create a pending task.
#[utoipa::path(post, path = "/api/tasks", tag = "tasks", request_body = CreateTaskRequest,
    responses((status = 201, body = Task), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_task(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateTaskRequest>,
) -> ApiResult<(StatusCode, Json<Task>)> {
    forge_for(&state, body.land)?;
    let task = state
        .board
        .create_task(body.into_new_task()?, Actor::API)
        .await?;
    Ok((StatusCode::CREATED, Json(task)))
}

/// Get a task by id or display id.
#[utoipa::path(get, path = "/api/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody)))]
pub async fn get_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Task>> {
    Ok(Json(state.board.get_task(task_ref(&id)?).await?))
}

/// Change a task's title, description, category, priority, pass criteria or dependencies.
#[utoipa::path(patch, path = "/api/tasks/{id}", tag = "tasks", request_body = UpdateTaskRequest,
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateTaskRequest>,
) -> ApiResult<Json<Task>> {
    let id = task_ref(&id)?;
    forge_for(&state, body.land.flatten())?;
    Ok(Json(state.board.update_task(id, body.into_patch()?).await?))
}

/// A field that may be sent as `null` on purpose: absent is `None`, `null` is
/// `Some(None)`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `pull_request` needs a forge to open the pull request on.
fn forge_for(state: &AppState, land: Option<LandPolicy>) -> Result<(), ApiError> {
    if land == Some(LandPolicy::PullRequest) && state.settings.engine.pull_requests.is_none() {
        return Err(ApiError::invalid(
            "land",
            "no forge is set up for pull requests: set HARNESS_FORGE_TOKEN (docs/REVIEW.md)",
        ));
    }
    Ok(())
}

/// Delete a task. Refused while it runs or while other tasks depend on it.
#[utoipa::path(delete, path = "/api/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.board.delete_task(task_ref(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Run a task again now: a failed one, or one waiting out its retry backoff.
#[utoipa::path(post, path = "/api/tasks/{id}/retry", tag = "tasks",
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn retry_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Task>> {
    Ok(Json(
        state.board.retry_now(task_ref(&id)?, Actor::API).await?,
    ))
}

/// Put a blocked task back in the queue with a fresh set of attempts.
#[utoipa::path(post, path = "/api/tasks/{id}/unblock", tag = "tasks",
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn unblock_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Task>> {
    Ok(Json(state.board.unblock(task_ref(&id)?, Actor::API).await?))
}

/// Put a cancelled task back in the queue with a fresh set of attempts.
#[utoipa::path(post, path = "/api/tasks/{id}/reopen", tag = "tasks",
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reopen_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Task>> {
    Ok(Json(state.board.reopen(task_ref(&id)?, Actor::API).await?))
}

/// Land a verified task that waits to land now, instead of at its next retry.
#[utoipa::path(post, path = "/api/tasks/{id}/land", tag = "tasks",
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 202, body = Task), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn land_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<(axum::http::StatusCode, Json<Task>)> {
    let task = state.board.get_task(task_ref(&id)?).await?;
    if !state.board.runs().land_now(task.id) {
        return Err(ApiError::Conflict(format!(
            "task {} is {}, not waiting to land",
            task.display_id,
            task.status.as_str()
        )));
    }
    Ok((axum::http::StatusCode::ACCEPTED, Json(task)))
}

/// Cancel a task that is not finished. A running session is stopped.
#[utoipa::path(post, path = "/api/tasks/{id}/cancel", tag = "tasks",
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn cancel_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Task>> {
    Ok(Json(state.board.cancel(task_ref(&id)?, Actor::API).await?))
}

/// Answer the question an agent asked (`ask_human`); the task then continues.
#[utoipa::path(post, path = "/api/tasks/{id}/answer", tag = "tasks", request_body = AnswerRequest,
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn answer_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AnswerRequest>,
) -> ApiResult<Json<Task>> {
    let id = task_ref(&id)?;
    let answer = Answer::parse(&body.answer)?;
    Ok(Json(
        state
            .board
            .answer_question(id, answer.into_inner(), Actor::API)
            .await?,
    ))
}

/// Every status change of a task, oldest first.
#[utoipa::path(get, path = "/api/tasks/{id}/history", tag = "tasks",
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 200, body = TaskHistory), (status = 404, body = ErrorBody)))]
pub async fn task_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskHistory>> {
    let items = state.board.task_history(task_ref(&id)?).await?;
    Ok(Json(TaskHistory { items }))
}

/// Tasks that depend on this one.
#[utoipa::path(get, path = "/api/tasks/{id}/dependents", tag = "tasks",
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 200, body = TaskList), (status = 404, body = ErrorBody)))]
pub(crate) async fn task_dependents(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskList>> {
    let items = state.board.dependents(task_ref(&id)?).await?;
    Ok(Json(TaskList { items }))
}
