//! The Bot API client: `POST {api_url}/bot<TOKEN>/<method>` with a JSON body.
//!
//! The token is part of every URL, so no URL leaves this module: reqwest errors are
//! stripped of theirs (`without_url`) before they become text.

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};

use harness_config::Secret;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Every call but getUpdates; a hanging Bot API holds a sender this long at most.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Telegram's own limit for `callback_data`, `answerCallbackQuery` text and so on.
const CALLBACK_TEXT_MAX: usize = 190;

/// What a Bot API call can end in, by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// 400/403/404: the same request will fail again (chat not found, bot blocked).
    #[error("Telegram refused the request ({code}): {description}")]
    Refused { code: u16, description: String },
    /// 429: wait this long before the next request.
    #[error("Telegram asks to wait {0:?} (429)")]
    RetryAfter(Duration),
    /// 401: the token is wrong or revoked.
    #[error(
        "Telegram refused the bot token (401): check TELEGRAM_BOT_TOKEN (from @BotFather, /token)"
    )]
    Unauthorized,
    /// 5xx, or an `ok: false` Telegram does not explain: try again later.
    #[error("Telegram is unavailable ({code}): {description}")]
    Unavailable { code: u16, description: String },
    #[error("cannot reach the Bot API: {0}")]
    Network(String),
    #[error("unexpected answer from the Bot API: {0}")]
    Decode(String),
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

impl BotError {
    /// True when retrying the same request cannot help.
    pub(crate) fn is_permanent(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    result: Option<Value>,
    error_code: Option<u16>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

/// `getMe`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BotUser {
    pub username: Option<String>,
}

/// The part of a sent `Message` we keep.
#[derive(Debug, Clone, Deserialize)]
pub struct SentMessage {
    pub message_id: i64,
}

/// A client for one bot. Cheap to clone.
#[derive(Clone)]
pub(crate) struct BotApi {
    http: reqwest::Client,
    base: Arc<str>,
    token: Secret,
}

impl BotApi {
    pub fn new(api_url: &str, token: Secret) -> Result<Self, BotError> {
        // Each call sets its own timeout: long polling waits far longer than a send.
        let http = harness_base::http_client::client(harness_base::http_client::Timeouts {
            connect: CONNECT_TIMEOUT,
            request: None,
        })
        .map_err(|e| BotError::Setup(e.to_string()))?;
        Ok(Self {
            http,
            base: api_url.trim_end_matches('/').into(),
            token,
        })
    }

    /// Calls `method` with `body`; `wait` is how long Telegram may take to answer.
    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        body: &Value,
        wait: Duration,
    ) -> Result<T, BotError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token.expose());
        let response = self
            .http
            .post(url)
            .timeout(wait)
            .json(body)
            .send()
            .await
            .map_err(network)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(network)?;
        let envelope: Envelope = match serde_json::from_slice(&bytes) {
            Ok(envelope) => envelope,
            Err(_) if status >= 500 => {
                return Err(BotError::Unavailable {
                    code: status,
                    description: "no JSON body".into(),
                });
            }
            Err(e) => return Err(BotError::Decode(format!("{method}: {e} (HTTP {status})"))),
        };
        if envelope.ok {
            let result = envelope.result.unwrap_or(Value::Null);
            return serde_json::from_value(result)
                .map_err(|e| BotError::Decode(format!("{method}: {e}")));
        }
        let code = envelope.error_code.unwrap_or(status);
        let description = envelope
            .description
            .unwrap_or_else(|| "no description".into());
        Err(match code {
            429 => BotError::RetryAfter(Duration::from_secs(
                envelope
                    .parameters
                    .and_then(|p| p.retry_after)
                    .unwrap_or(5)
                    .max(1),
            )),
            401 => BotError::Unauthorized,
            400 | 403 | 404 => BotError::Refused { code, description },
            _ => BotError::Unavailable { code, description },
        })
    }

    pub(crate) async fn get_me(&self) -> Result<BotUser, BotError> {
        self.call("getMe", &json!({}), CALL_TIMEOUT).await
    }

    /// Sends an HTML message; `markup` is a `reply_markup` JSON text.
    pub async fn send_message(
        &self,
        chat_id: i64,
        html: &str,
        markup: Option<&str>,
        reply_to: Option<i64>,
    ) -> Result<SentMessage, BotError> {
        let mut body = json!({
            "chat_id": chat_id,
            "text": html,
            "parse_mode": "HTML",
            "link_preview_options": { "is_disabled": true },
        });
        if let Some(markup) = markup.and_then(|m| serde_json::from_str::<Value>(m).ok()) {
            body["reply_markup"] = markup;
        }
        if let Some(id) = reply_to {
            body["reply_parameters"] =
                json!({ "message_id": id, "allow_sending_without_reply": true });
        }
        self.call("sendMessage", &body, CALL_TIMEOUT).await
    }

    /// Replaces a message's text and removes its buttons.
    pub(crate) async fn edit_message_text(
        &self,
        chat_id: i64,
        message_id: i64,
        html: &str,
    ) -> Result<(), BotError> {
        let body = json!({
            "chat_id": chat_id,
            "message_id": message_id,
            "text": html,
            "parse_mode": "HTML",
            "link_preview_options": { "is_disabled": true },
            "reply_markup": { "inline_keyboard": [] },
        });
        self.call::<Value>("editMessageText", &body, CALL_TIMEOUT)
            .await
            .map(drop)
    }

    pub(crate) async fn answer_callback_query(&self, id: &str, text: &str) -> Result<(), BotError> {
        let text: String = text.chars().take(CALLBACK_TEXT_MAX).collect();
        let body = json!({ "callback_query_id": id, "text": text });
        self.call::<Value>("answerCallbackQuery", &body, CALL_TIMEOUT)
            .await
            .map(drop)
    }

    pub(crate) async fn set_my_commands(&self, commands: &[(&str, &str)]) -> Result<(), BotError> {
        let list: Vec<Value> = commands
            .iter()
            .map(|(c, d)| json!({ "command": c, "description": d }))
            .collect();
        self.call::<Value>("setMyCommands", &json!({ "commands": list }), CALL_TIMEOUT)
            .await
            .map(drop)
    }

    /// Polling and a webhook exclude each other: polling starts by removing it.
    pub(crate) async fn delete_webhook(&self) -> Result<(), BotError> {
        self.call::<Value>(
            "deleteWebhook",
            &json!({ "drop_pending_updates": false }),
            CALL_TIMEOUT,
        )
        .await
        .map(drop)
    }

    pub(crate) async fn set_webhook(&self, url: &str, secret: &Secret) -> Result<(), BotError> {
        let body = json!({
            "url": url,
            "secret_token": secret.expose(),
            "allowed_updates": ["message", "callback_query"],
        });
        self.call::<Value>("setWebhook", &body, CALL_TIMEOUT)
            .await
            .map(drop)
    }

    /// Long polling: waits up to `timeout` for updates after `offset`. Raw JSON each,
    /// stored as received.
    pub async fn get_updates(
        &self,
        offset: i64,
        timeout: Duration,
    ) -> Result<Vec<Value>, BotError> {
        let body = json!({
            "offset": offset,
            "timeout": timeout.as_secs(),
            "allowed_updates": ["message", "callback_query"],
        });
        self.call("getUpdates", &body, timeout + CONNECT_TIMEOUT)
            .await
    }
}

/// A transport error as text, without the URL (and so without the token).
fn network(e: reqwest::Error) -> BotError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    BotError::Network(format!("{kind}: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_network_error_never_contains_the_token() {
        // Port 9 on localhost: nothing listens, the connect fails at once.
        let api = BotApi::new("http://127.0.0.1:9", Secret::new("123:SECRET_TOKEN_VALUE")).unwrap();
        let err = api.get_me().await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, BotError::Network(_)), "{text}");
        assert!(!text.contains("SECRET_TOKEN_VALUE"), "{text}");
    }
}
