//! `/api/telegram`: the bot's status, and the webhook Telegram posts updates to.

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};

use super::{AppState, error::ApiError};
use harness_telegram::{TelegramStatus, WebhookError};

/// Header Telegram sends with the secret given to setWebhook.
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Behind the API's authentication.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/telegram", get(status))
}

/// Not behind it: Telegram cannot send our bearer token; its own secret header is checked.
pub(crate) fn webhook_router() -> Router<AppState> {
    Router::new().route("/api/telegram/webhook", post(webhook))
}

/// Whether Telegram is configured and working: mode, bot, last error, outbox depth.
/// Never the token.
#[utoipa::path(get, path = "/api/telegram", tag = "telegram", operation_id = "telegram_status",
    responses((status = 200, body = TelegramStatus)))]
pub async fn status(State(state): State<AppState>) -> Json<TelegramStatus> {
    Json(state.telegram.status(&state.board).await)
}

async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let secret = headers.get(SECRET_HEADER).and_then(|v| v.to_str().ok());
    match state
        .telegram
        .receive_webhook(&state.board, secret, &body)
        .await
    {
        Ok(()) => Ok(StatusCode::OK),
        Err(WebhookError::NotWebhookMode) => Err(ApiError::NotFound(
            "the Telegram webhook is not enabled".into(),
        )),
        Err(WebhookError::BadSecret) => {
            tracing::warn!("telegram webhook: wrong or missing secret; refused");
            Err(ApiError::Unauthorized)
        }
        Err(err @ WebhookError::NotAnUpdate(_)) => Err(ApiError::BadRequest {
            message: err.to_string(),
            field: None,
        }),
        Err(err @ WebhookError::Store(_)) => Err(ApiError::Unavailable(err.to_string())),
    }
}
