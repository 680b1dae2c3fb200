//! `/api/roles`, `/api/proposals` and a task's estimate: the registry of roles with
//! their agents and status, SIA's proposals waiting for a person, and the evaluator's
//! estimate of a task.

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::{get, post},
};
use harness_domain::{
    agent::RuntimeKind,
    proposal::{Proposal, ProposalStatus},
    role::{Job, Role, Size, TaskEstimate},
    task::{Task, TaskRef},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    AppState,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{JsonBody, Query, query_parsed},
};
use harness_board::Actor;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/roles", get(list_roles))
        .route("/api/proposals", get(list_proposals))
        .route("/api/proposals/{id}/accept", post(accept_proposal))
        .route("/api/proposals/{id}/reject", post(reject_proposal))
        .route(
            "/api/tasks/{id}/estimate",
            get(task_estimate).put(mark_size),
        )
}

/// Whether a role can run here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RoleStatus {
    Ready,
    Unconfigured,
}

/// A role as served.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RoleView {
    pub name: String,
    pub description: String,
    /// The start of its agents' system prompt.
    pub prompt: String,
    pub tools: Vec<String>,
    pub read_only: bool,
    /// `null`: each agent's own runtime.
    pub runtime: Option<RuntimeKind>,
    /// Runtimes a local attempt moves to when the agent's own cannot run now, as
    /// written in `harness.toml` (`openai:llama3.1:8b`, `cli`).
    pub fallback: Vec<String>,
    /// `null`: each agent's own model (or the size tier's).
    pub model: Option<String>,
    /// Task categories routed to it.
    pub categories: Vec<String>,
    /// Its sessions at once, across its agents.
    pub concurrency: u32,
    /// What the scheduler uses it for.
    pub job: Job,
    pub builtin: bool,
    /// Ids of the agents that have this role.
    pub agents: Vec<String>,
    pub status: RoleStatus,
    /// Why it is unconfigured, and what to do.
    pub status_reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RoleList {
    pub items: Vec<RoleView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProposalQuery {
    /// `proposed`, `accepted` or `rejected`; all when absent.
    #[serde(default, deserialize_with = "query_parsed")]
    #[param(value_type = Option<ProposalStatus>)]
    pub status: Option<ProposalStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProposalList {
    pub items: Vec<Proposal>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AcceptedProposal {
    pub proposal: Proposal,
    /// The task created from it.
    pub task: Task,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EstimateView {
    /// `null` until the evaluator has estimated the task.
    pub estimate: Option<TaskEstimate>,
}

/// A person marks a task's size (the evaluator then leaves it alone).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MarkSizeRequest {
    /// `small`, `medium` or `large`.
    pub size: String,
    pub reason: Option<String>,
}

fn view(role: &Role, agents: Vec<String>, problem: Option<String>) -> RoleView {
    // A role without agents is not an error in itself, but nothing will run it.
    let problem = problem.or_else(|| {
        agents.is_empty().then(|| {
            format!(
                "no agent has this role; add [agents.NAME] role = \"{}\" to harness.toml",
                role.name
            )
        })
    });
    RoleView {
        name: role.name.to_string(),
        description: role.description.clone(),
        prompt: role.prompt.clone(),
        tools: role.tools.iter().map(|t| t.as_str().to_owned()).collect(),
        read_only: role.read_only,
        runtime: role.runtime,
        fallback: role
            .fallback
            .iter()
            .map(|f| match &f.model {
                Some(model) => format!("{}:{}", f.runtime.as_str(), model.as_str()),
                None => f.runtime.as_str().to_owned(),
            })
            .collect(),
        model: role.model.as_ref().map(|m| m.as_str().to_owned()),
        categories: role.categories.iter().cloned().collect(),
        concurrency: role.concurrency.get(),
        job: role.job,
        builtin: role.builtin,
        agents,
        status: if problem.is_some() {
            RoleStatus::Unconfigured
        } else {
            RoleStatus::Ready
        },
        status_reason: problem,
    }
}

/// Every role: prompt, tools, runtime and model, categories, agents, status.
#[utoipa::path(get, path = "/api/roles", tag = "roles", responses((status = 200, body = RoleList)))]
pub(crate) async fn list_roles(State(state): State<AppState>) -> ApiResult<Json<RoleList>> {
    let agents = state.board.list_agents().await?;
    let roles = &state.settings.engine.roles;
    let items = roles
        .registry
        .iter()
        .map(|role| {
            let ids = agents
                .iter()
                .filter(|a| a.role == role.name)
                .map(|a| a.id.to_string())
                .collect();
            view(role, ids, roles.role_problem(role).err())
        })
        .collect();
    Ok(Json(RoleList { items }))
}

/// SIA's proposals, newest first (at most 200).
#[utoipa::path(get, path = "/api/proposals", tag = "roles", params(ProposalQuery),
    responses((status = 200, body = ProposalList), (status = 422, body = ErrorBody)))]
pub async fn list_proposals(
    State(state): State<AppState>,
    Query(q): Query<ProposalQuery>,
) -> ApiResult<Json<ProposalList>> {
    Ok(Json(ProposalList {
        items: state.board.list_proposals(q.status, 200).await?,
    }))
}

fn proposal_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::NotFound(format!("proposal '{raw}' not found")))
}

/// Accepts a waiting proposal: its task is created.
#[utoipa::path(post, path = "/api/proposals/{id}/accept", tag = "roles",
    params(("id" = i64, Path)),
    responses((status = 200, body = AcceptedProposal), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn accept_proposal(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<AcceptedProposal>> {
    let (proposal, task) = state
        .board
        .accept_proposal(proposal_id(&id)?, Actor::API)
        .await?;
    Ok(Json(AcceptedProposal { proposal, task }))
}

/// Rejects a waiting proposal.
#[utoipa::path(post, path = "/api/proposals/{id}/reject", tag = "roles",
    params(("id" = i64, Path)),
    responses((status = 200, body = Proposal), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reject_proposal(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Proposal>> {
    Ok(Json(state.board.reject_proposal(proposal_id(&id)?).await?))
}

/// The evaluator's estimate of a task.
#[utoipa::path(get, path = "/api/tasks/{id}/estimate", tag = "tasks",
    params(("id" = String, Path, description = "42 or T-42")),
    responses((status = 200, body = EstimateView), (status = 404, body = ErrorBody)))]
pub(crate) async fn task_estimate(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<EstimateView>> {
    let id = TaskRef::parse(&id)
        .map(TaskRef::id)
        .map_err(|_| ApiError::NotFound(format!("task '{id}' not found (use 42 or T-42)")))?;
    state.board.get_task(id).await?;
    Ok(Json(EstimateView {
        estimate: state.board.estimate(id).await?,
    }))
}

/// Marks a task's size, as a person: a `large` task gets the architect's design note.
#[utoipa::path(put, path = "/api/tasks/{id}/estimate", tag = "tasks",
    params(("id" = String, Path, description = "42 or T-42")),
    request_body = MarkSizeRequest,
    responses((status = 200, body = EstimateView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn mark_size(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MarkSizeRequest>,
) -> ApiResult<Json<EstimateView>> {
    let id = TaskRef::parse(&id)
        .map(TaskRef::id)
        .map_err(|_| ApiError::NotFound(format!("task '{id}' not found (use 42 or T-42)")))?;
    let size: Size = body
        .size
        .parse()
        .map_err(|_| ApiError::invalid("size", "size must be small, medium or large"))?;
    let reason = body
        .reason
        .unwrap_or_else(|| "marked by a person".to_owned());
    if reason.len() > 2000 {
        return Err(ApiError::invalid(
            "reason",
            "reason must be at most 2000 bytes",
        ));
    }
    let task = state.board.get_task(id).await?;
    let estimate = state
        .board
        .record_estimate(&task, size, reason, Some("api".to_owned()))
        .await?;
    Ok(Json(EstimateView {
        estimate: Some(estimate),
    }))
}
