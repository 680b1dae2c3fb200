//! `/api/settings`: the setup this server runs with, secrets only as set or not set.

use axum::{Json, Router, extract::State, routing::get};

use super::AppState;
use harness_config::SettingsSummary;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/settings", get(settings))
}

/// Workspace, base branch, verification, data paths, roles, sandbox, network policy,
/// executors and Telegram, as loaded at startup (every path absolute).
#[utoipa::path(get, path = "/api/settings", tag = "orchestrator", operation_id = "settings",
    responses((status = 200, body = SettingsSummary)))]
pub async fn settings(State(state): State<AppState>) -> Json<SettingsSummary> {
    Json(SettingsSummary::of(
        &state.settings,
        harness_gateway::embedded::present(),
    ))
}
