//! `/api/agents`: the agents and operator changes to them.

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::get,
};
use std::sync::Arc;

use harness_domain::agent::{Agent, AgentId, AgentPatch, Concurrency, ModelName, RuntimeKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    AppState,
    error::{ApiError, ApiResult, ErrorBody},
    extract::JsonBody,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/agents", get(list_agents))
        .route("/api/agents/{id}", get(get_agent).patch(update_agent))
        .route("/api/runtimes", get(list_runtimes))
}

/// One runtime with one command, the agents on it, and whether it can run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RuntimeView {
    pub runtime: RuntimeKind,
    /// The program and its arguments; empty for the own agent loop.
    pub command: Vec<String>,
    /// The agents that run on it.
    pub agents: Vec<String>,
    /// Where the program was found; `null` for the own loop or when it is missing.
    pub path: Option<String>,
    /// What the program says it is, asked in the sandbox (`--version` of a CLI, the
    /// `initialize` answer of an ACP agent); `null` for the own loop.
    pub version: Option<String>,
    /// Which credentials it gets, or which it lacks.
    pub credentials: String,
    /// Why it cannot run; `null` when it can.
    pub problem: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RuntimeList {
    pub items: Vec<RuntimeView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AgentList {
    pub items: Vec<Agent>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateAgentRequest {
    pub enabled: Option<bool>,
    pub model: Option<String>,
    /// 1 to 16.
    pub max_concurrency: Option<i64>,
}

fn agent_id(raw: &str) -> Result<AgentId, ApiError> {
    AgentId::parse(raw).map_err(|_| ApiError::NotFound(format!("agent '{raw}' not found")))
}

/// Every agent.
#[utoipa::path(get, path = "/api/agents", tag = "agents", responses((status = 200, body = AgentList)))]
pub async fn list_agents(State(state): State<AppState>) -> ApiResult<Json<AgentList>> {
    Ok(Json(AgentList {
        items: state.board.list_agents().await?,
    }))
}

/// Every runtime kind, and each command the agents run on: found, version, credentials.
/// A program's version is asked of it at most once a minute.
#[utoipa::path(get, path = "/api/runtimes", tag = "agents", responses((status = 200, body = RuntimeList)))]
pub async fn list_runtimes(State(state): State<AppState>) -> ApiResult<Json<RuntimeList>> {
    let agents = state.board.list_agents().await?;
    let runtimes = harness_scheduler::Runtimes::new(Arc::new(state.settings.engine.clone()));
    let items = runtimes
        .states(&agents)
        .await
        .into_iter()
        .map(|s| RuntimeView {
            runtime: s.runtime,
            command: s.command,
            agents: s.agents,
            path: s.path.map(|p| p.display().to_string()),
            version: s.version,
            credentials: s.credentials,
            problem: s.problem,
        })
        .collect();
    Ok(Json(RuntimeList { items }))
}

/// One agent.
#[utoipa::path(get, path = "/api/agents/{id}", tag = "agents", params(("id" = String, Path)),
    responses((status = 200, body = Agent), (status = 404, body = ErrorBody)))]
pub async fn get_agent(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Agent>> {
    Ok(Json(state.board.get_agent(agent_id(&id)?).await?))
}

/// Enable or disable an agent, or change its model or concurrency.
#[utoipa::path(patch, path = "/api/agents/{id}", tag = "agents", params(("id" = String, Path)),
    request_body = UpdateAgentRequest,
    responses((status = 200, body = Agent), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_agent(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateAgentRequest>,
) -> ApiResult<Json<Agent>> {
    let id = agent_id(&id)?;
    let patch = AgentPatch {
        enabled: body.enabled,
        model: body.model.as_deref().map(ModelName::parse).transpose()?,
        max_concurrency: body.max_concurrency.map(Concurrency::parse).transpose()?,
    };
    if patch.enabled.is_none() && patch.model.is_none() && patch.max_concurrency.is_none() {
        return Err(ApiError::BadRequest {
            message: "nothing to change: send enabled, model or max_concurrency".to_owned(),
            field: None,
        });
    }
    if let Some(model) = &patch.model {
        let agent = state.board.get_agent(id.clone()).await?;
        let engine = &state.settings.engine;
        let runtime = harness_scheduler::roles::runtime_of(
            engine,
            agent.id.as_str(),
            agent.role.as_str(),
            agent.runtime,
        );
        harness_engine::anthropic::pricing::check_model(
            runtime,
            model.as_str(),
            &engine.extra_models,
            &engine.prices,
        )
        .map_err(|message| ApiError::invalid("model", message))?;
    }
    Ok(Json(state.board.update_agent(id, patch).await?))
}
