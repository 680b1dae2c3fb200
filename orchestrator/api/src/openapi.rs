//! The OpenAPI document, generated from the handlers and types themselves.

use axum::{Json, Router, routing::get};
use utoipa::OpenApi;

use super::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Parent Harness API",
        description = "Task board, agents, sessions and live events. Every `/ws` frame is a `LiveFrame`."
    ),
    paths(
        super::health::health,
        super::auth::status,
        super::auth::login,
        super::auth::logout,
        super::tasks::list_tasks,
        super::tasks::create_task,
        super::tasks::get_task,
        super::tasks::update_task,
        super::tasks::delete_task,
        super::tasks::retry_task,
        super::tasks::unblock_task,
        super::tasks::reopen_task,
        super::tasks::land_task,
        super::tasks::cancel_task,
        super::tasks::answer_task,
        super::tasks::task_history,
        super::tasks::task_dependents,
        super::review::get_diff,
        super::review::list_comments,
        super::review::create_comment,
        super::review::update_comment,
        super::review::delete_comment,
        super::review::review_task,
        super::review::message_task,
        super::agents::list_agents,
        super::agents::get_agent,
        super::agents::update_agent,
        super::agents::list_runtimes,
        super::roles::list_roles,
        super::roles::list_proposals,
        super::roles::accept_proposal,
        super::roles::reject_proposal,
        super::roles::task_estimate,
        super::roles::mark_size,
        super::sessions::list_sessions,
        super::sessions::get_session,
        super::sessions::session_logs,
        super::findings::task_findings,
        super::findings::finding_screenshot,
        super::events::list_events,
        super::orchestrator::status,
        super::orchestrator::pause,
        super::orchestrator::resume,
        super::settings::settings,
        super::budget::budget,
        super::telegram::status,
    ),
    components(schemas(
        super::error::ErrorBody,
        harness_domain::agent::AgentStatus,
        harness_domain::session::LogLine,
        harness_domain::event::Event,
        harness_domain::event::Operation,
        harness_board::live::LiveFrame,
        harness_board::live::LiveKind,
    ))
)]
pub(crate) struct ApiDoc;

/// The document as pretty JSON (what `harness openapi` prints).
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/openapi.json",
        get(|| async { Json(ApiDoc::openapi()) }),
    )
}
