//! `/api/budget`: spend today and this month against the limits.

use axum::{Json, Router, extract::State, routing::get};

use super::{AppState, error::ApiResult};
use harness_board::budget::BudgetReport;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/budget", get(budget))
}

/// Spend today and this month, per agent and per model, with the limits.
#[utoipa::path(get, path = "/api/budget", tag = "budget", responses((status = 200, body = BudgetReport)))]
pub async fn budget(State(state): State<AppState>) -> ApiResult<Json<BudgetReport>> {
    let totals = state.board.budget_totals().await?;
    Ok(Json(BudgetReport::new(totals, state.settings.budget)))
}
