//! A streaming client for the Anthropic Messages API (`POST /v1/messages`).
//!
//! Every request waits at the shared [`RateGate`]. A 429, a 529 or an
//! `overloaded_error` closes the gate for everyone until the time the server gave
//! (`retry-after`, `anthropic-ratelimit-*-reset`), then the request is retried. Retries
//! are bounded; running out of them on a rate limit yields
//! [`AnthropicError::RateLimited`], which callers must not count as a task failure.
//!
//! HTTP is the harness's shared reqwest setup ([`harness_base::http_client`]); the response
//! streams through [`bounded_events`] into the [`MessageAssembler`].

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::{Value, json};

use super::{
    assembler::{MessageAssembler, StreamError, StreamStatus},
    events::{EventError, bounded_events},
    openai_chat,
    rate_gate::RateGate,
    types::{AssembledMessage, Message},
};
use harness_base::Secret;
use harness_base::http_client::{self, HttpClientError, Timeouts};

/// The API version this client speaks.
pub(crate) const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Which API the endpoint speaks. The loop, its retries, its rate-limit gate and its
/// bounds are the same for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wire {
    /// The Anthropic Messages API, streamed (`POST {base}/v1/messages`).
    #[default]
    Anthropic,
    /// OpenAI Chat Completions with tools (`POST {base}/chat/completions`, `base`
    /// ending in `/v1` as OpenAI's and the local servers' do), not streamed.
    OpenAiChat,
}

/// Connection settings and retry bounds. Built by the config module; this module never
/// reads the environment.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub wire: Wire,
    /// `ANTHROPIC_BASE_URL`, default `https://api.anthropic.com`.
    pub base_url: String,
    pub api_key: Secret,
    /// Rate-limit retries per request before giving up with
    /// [`AnthropicError::RateLimited`].
    pub max_rate_limit_retries: u32,
    /// Retries of server errors (5xx) and broken connections per request.
    pub max_error_retries: u32,
    /// First backoff when the server gave no reset time; doubles per retry.
    pub backoff_base: Duration,
    /// The longest single pause, whatever the headers say.
    pub max_pause: Duration,
    pub connect_timeout: Duration,
    /// A stream that sends nothing (not even a ping) for this long is broken.
    pub idle_timeout: Duration,
    /// Upper bound on one assembled response (text + tool input).
    pub max_response_bytes: usize,
    /// While waiting at a closed gate, say so this often, so the session shows it is
    /// alive (heartbeats) rather than stuck.
    pub wait_heartbeat: Duration,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>, api_key: Secret) -> Self {
        Self {
            wire: Wire::Anthropic,
            base_url: base_url.into(),
            api_key,
            max_rate_limit_retries: 30,
            max_error_retries: 4,
            backoff_base: Duration::from_secs(2),
            max_pause: Duration::from_secs(10 * 60),
            connect_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(180),
            max_response_bytes: 4 * 1024 * 1024,
            wait_heartbeat: Duration::from_secs(30),
        }
    }
}

/// What one call to the API needs.
#[derive(Debug, Clone)]
pub struct MessagesRequest<'a> {
    pub model: &'a str,
    pub max_tokens: u32,
    pub system: &'a str,
    pub tools: &'a [Value],
    pub messages: &'a [Message],
}

/// Why a request to the model API (Anthropic's, or an OpenAI-compatible one) failed,
/// after retries.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AnthropicError {
    /// Still rate limited or overloaded after the retry bound. Not a task failure:
    /// requeue the task without using an attempt.
    #[error("rate limited by the model API ({message}); retries exhausted")]
    RateLimited {
        message: String,
        resume_at: Option<DateTime<Utc>>,
    },
    /// 401/403: the key is missing, wrong, or lacks access. The agent is unconfigured.
    #[error(
        "the model API rejected the key ({status}): {message}; check ANTHROPIC_API_KEY (OPENAI_API_KEY for the openai runtime)"
    )]
    Auth { status: u16, message: String },
    /// 4xx other than auth and rate limits: the request itself was wrong.
    #[error("the model API refused the request ({status}): {message}")]
    InvalidRequest { status: u16, message: String },
    /// 5xx or a broken connection or stream, after retries.
    #[error("the model API is unavailable: {0}")]
    Unavailable(String),
    /// The API sent a stream this client cannot read; resending would not help.
    #[error("the model API is unavailable: {0}")]
    UnreadableStream(#[source] Arc<StreamError>),
    #[error(transparent)]
    Setup(Arc<HttpClientError>),
    /// The base URL or the key cannot be made into a request.
    #[error("the model API's base URL '{base_url}' (or its key) cannot form a request: {source}")]
    BadRequestSetup {
        base_url: String,
        #[source]
        source: Arc<reqwest::Error>,
    },
}

impl AnthropicError {
    pub fn is_rate_limit(&self) -> bool {
        matches!(self, AnthropicError::RateLimited { .. })
    }

    /// True when the failure says something about the task (so an attempt is used);
    /// false for rate limits, bad keys and outages, which are the harness's problem.
    pub fn counts_as_task_failure(&self) -> bool {
        matches!(self, AnthropicError::InvalidRequest { .. })
    }
}

/// One attempt's failure, before the retry policy decides.
enum AttemptError {
    RateLimited {
        delay: Option<Duration>,
        message: String,
    },
    Retryable(String),
    Fatal(AnthropicError),
}

/// A Messages API client. Cheap to clone; clones share the connection pool and gate.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    config: Arc<ClientConfig>,
    gate: Arc<RateGate>,
}

impl Client {
    pub fn new(config: ClientConfig, gate: Arc<RateGate>) -> Result<Self, AnthropicError> {
        let timeouts = Timeouts {
            connect: config.connect_timeout,
            // A stream may rightly last long; `idle_timeout` bounds its silences instead.
            request: None,
        };
        let http = http_client::client(timeouts).map_err(|e| AnthropicError::Setup(Arc::new(e)))?;
        Ok(Self {
            http,
            config: Arc::new(config),
            gate,
        })
    }

    pub fn gate(&self) -> &Arc<RateGate> {
        &self.gate
    }

    /// False when the key is empty: the agent is unconfigured, and no request is sent.
    /// Whether it can send: Anthropic's API needs a key; an OpenAI-compatible endpoint
    /// may be a local server that takes none (the scheduler asks for a key on OpenAI's
    /// own endpoint).
    pub(crate) fn has_key(&self) -> bool {
        self.config.wire == Wire::OpenAiChat || !self.config.api_key.expose().trim().is_empty()
    }

    pub(crate) fn wire(&self) -> Wire {
        self.config.wire
    }

    /// Sends `request` with streaming and returns the assembled reply. `on_wait` hears
    /// about every pause and retry, so the session log can say why nothing happens.
    pub async fn send(
        &self,
        request: &MessagesRequest<'_>,
        on_wait: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<AssembledMessage, AnthropicError> {
        let body = match self.config.wire {
            Wire::Anthropic => request_body(request),
            Wire::OpenAiChat => openai_chat::request_body(request),
        };
        let mut rate_retries = 0u32;
        let mut error_retries = 0u32;
        loop {
            self.wait_at_gate(on_wait).await;
            let error = match self.attempt(&body).await {
                Ok(message) => return Ok(message),
                Err(error) => error,
            };
            match error {
                AttemptError::Fatal(error) => return Err(error),
                AttemptError::RateLimited { delay, message } => {
                    rate_retries += 1;
                    if rate_retries > self.config.max_rate_limit_retries {
                        return Err(AnthropicError::RateLimited {
                            message,
                            resume_at: self.gate.paused_until(),
                        });
                    }
                    let delay = delay
                        .unwrap_or_else(|| self.backoff(rate_retries))
                        .min(self.config.max_pause);
                    // Close the gate for every session, not just this one.
                    self.gate.pause_for(delay);
                    on_wait(&format!(
                        "rate limited ({message}); all sessions wait {:.1}s (retry {rate_retries}/{})",
                        delay.as_secs_f64(),
                        self.config.max_rate_limit_retries
                    ));
                }
                AttemptError::Retryable(message) => {
                    error_retries += 1;
                    if error_retries > self.config.max_error_retries {
                        return Err(AnthropicError::Unavailable(message));
                    }
                    let delay = self.backoff(error_retries);
                    on_wait(&format!(
                        "API error ({message}); retrying in {:.1}s (retry {error_retries}/{})",
                        delay.as_secs_f64(),
                        self.config.max_error_retries
                    ));
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Waits for the shared gate, logging a line every `wait_heartbeat` meanwhile.
    async fn wait_at_gate(&self, on_wait: &(dyn Fn(&str) + Send + Sync)) {
        while let Some(until) = self.gate.paused_until() {
            let waited = tokio::time::timeout(self.config.wait_heartbeat, self.gate.wait()).await;
            if waited.is_ok() {
                return;
            }
            on_wait(&format!(
                "still waiting for the API rate limit to reset ({})",
                until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
    }

    fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(16));
        self.config
            .backoff_base
            .saturating_mul(factor)
            .min(self.config.max_pause)
    }

    async fn attempt(&self, body: &Value) -> Result<AssembledMessage, AttemptError> {
        let base = self.config.base_url.trim_end_matches('/');
        let request = match self.config.wire {
            Wire::Anthropic => self
                .http
                .post(format!("{base}/v1/messages"))
                .header("x-api-key", self.config.api_key.expose())
                .header("anthropic-version", ANTHROPIC_VERSION)
                .header("accept", "text/event-stream"),
            Wire::OpenAiChat => {
                let request = self.http.post(format!("{base}/chat/completions"));
                // A local model server needs no key; an empty one is not sent.
                match self.config.api_key.expose() {
                    "" => request,
                    key => request.bearer_auth(key),
                }
            }
        }
        .json(body);
        // Not streamed, the whole answer is the first byte: the idle bound becomes a
        // bound on the turn (a local model on a CPU may think for minutes).
        let first_byte = match self.config.wire {
            Wire::Anthropic => self.config.idle_timeout,
            Wire::OpenAiChat => self.config.idle_timeout.saturating_mul(5),
        };
        let response = match tokio::time::timeout(first_byte, request.send()).await {
            Err(_) => return Err(AttemptError::Retryable("no response in time".into())),
            Ok(Err(e)) if e.is_builder() => {
                return Err(AttemptError::Fatal(AnthropicError::BadRequestSetup {
                    base_url: self.config.base_url.clone(),
                    source: Arc::new(e),
                }));
            }
            // The error chain names the host, never the headers, so the key stays out.
            Ok(Err(e)) => {
                return Err(AttemptError::Retryable(format!(
                    "request failed: {}",
                    error_chain(&e)
                )));
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if !status.is_success() {
            let headers = response.headers().clone();
            let text = read_bounded(response, 16 * 1024).await;
            return Err(classify_status(status, &headers, &text));
        }
        self.note_exhausted_limits(response.headers());
        match self.config.wire {
            Wire::Anthropic => self.read_stream(response).await,
            Wire::OpenAiChat => self.read_whole(response, first_byte).await,
        }
    }

    /// A whole (not streamed) Chat Completions response, bounded in size and time.
    async fn read_whole(
        &self,
        response: reqwest::Response,
        within: Duration,
    ) -> Result<AssembledMessage, AttemptError> {
        let max = self.config.max_response_bytes;
        let text = tokio::time::timeout(within, read_bounded(response, max + 1))
            .await
            .map_err(|_| AttemptError::Retryable("the response stalled".into()))?;
        if text.len() > max {
            return Err(AttemptError::Fatal(AnthropicError::InvalidRequest {
                status: 200,
                message: format!("the response is larger than {max} bytes"),
            }));
        }
        let body: Value = serde_json::from_str(&text)
            .map_err(|e| AttemptError::Retryable(format!("the response is not JSON: {e}")))?;
        openai_chat::parse_response(&body).map_err(AttemptError::Retryable)
    }

    /// A success can still say "0 requests remaining until T": honour it before the
    /// next request rather than after a 429.
    fn note_exhausted_limits(&self, headers: &HeaderMap) {
        if let Some(delay) = exhausted_limit_delay(headers, Utc::now()) {
            self.gate.pause_for(delay.min(self.config.max_pause));
        }
    }

    async fn read_stream(
        &self,
        response: reqwest::Response,
    ) -> Result<AssembledMessage, AttemptError> {
        let events = bounded_events(response.bytes_stream(), self.config.max_response_bytes);
        let mut events = std::pin::pin!(events);
        let mut assembler = MessageAssembler::new(self.config.max_response_bytes);
        loop {
            // The API sends `ping` events while it thinks, so silence means a dead stream.
            let event = match tokio::time::timeout(self.config.idle_timeout, events.next()).await {
                Err(_) => return Err(AttemptError::Retryable("stream stalled".into())),
                Ok(None) => {
                    return Err(AttemptError::Retryable(
                        "stream ended before message_stop".into(),
                    ));
                }
                Ok(Some(Err(EventError::Transport(e)))) => {
                    return Err(AttemptError::Retryable(format!(
                        "stream broke: {}",
                        error_chain(&e)
                    )));
                }
                Ok(Some(Err(EventError::Stream(e)))) => return Err(fatal_stream(e)),
                Ok(Some(Ok(event))) => event,
            };
            match assembler.apply(&event).map_err(fatal_stream)? {
                StreamStatus::Continue => {}
                StreamStatus::Done => return Ok(assembler.finish()),
                StreamStatus::Error { kind, message } => {
                    return Err(classify_stream_error(&kind, &message));
                }
            }
        }
    }
}

/// An error and its sources on one line ("client error (Connect): tcp connect error: …").
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn fatal_stream(error: StreamError) -> AttemptError {
    AttemptError::Fatal(AnthropicError::UnreadableStream(Arc::new(error)))
}

/// The JSON body: streaming on, and cache breakpoints on the system prompt, the last
/// tool, and the newest message, so each turn re-reads the conversation from cache.
pub fn request_body(request: &MessagesRequest<'_>) -> Value {
    let ephemeral = json!({"type": "ephemeral"});
    let mut tools: Vec<Value> = request.tools.to_vec();
    if let Some(Value::Object(last)) = tools.last_mut() {
        last.insert("cache_control".into(), ephemeral.clone());
    }
    let mut messages = serde_json::to_value(request.messages).unwrap_or(Value::Array(vec![]));
    if let Some(Value::Object(block)) = messages
        .as_array_mut()
        .and_then(|m| m.last_mut())
        .and_then(|m| m["content"].as_array_mut())
        .and_then(|c| c.last_mut())
    {
        block.insert("cache_control".into(), ephemeral.clone());
    }
    let mut body = json!({
        "model": request.model,
        "max_tokens": request.max_tokens,
        "stream": true,
        "system": [{"type": "text", "text": request.system, "cache_control": ephemeral}],
        "messages": messages,
    });
    if !tools.is_empty() {
        body["tools"] = Value::Array(tools);
    }
    body
}

fn classify_status(status: StatusCode, headers: &HeaderMap, body: &str) -> AttemptError {
    let (kind, message) = error_body(body);
    let message = if message.is_empty() {
        status.to_string()
    } else {
        message
    };
    let code = status.as_u16();
    if code == 429 || code == 529 || kind == "overloaded_error" || kind == "rate_limit_error" {
        return AttemptError::RateLimited {
            delay: rate_limit_delay(headers, Utc::now()),
            message: format!("{code} {kind}: {message}"),
        };
    }
    match code {
        401 | 403 => AttemptError::Fatal(AnthropicError::Auth {
            status: code,
            message,
        }),
        408 | 409 => AttemptError::Retryable(format!("{code}: {message}")),
        400..=499 => AttemptError::Fatal(AnthropicError::InvalidRequest {
            status: code,
            message,
        }),
        _ => AttemptError::Retryable(format!("{code} {kind}: {message}")),
    }
}

fn classify_stream_error(kind: &str, message: &str) -> AttemptError {
    match kind {
        "overloaded_error" | "rate_limit_error" => AttemptError::RateLimited {
            delay: None,
            message: format!("{kind}: {message}"),
        },
        "invalid_request_error" => AttemptError::Fatal(AnthropicError::InvalidRequest {
            status: 400,
            message: message.to_owned(),
        }),
        _ => AttemptError::Retryable(format!("{kind}: {message}")),
    }
}

/// `{"type":"error","error":{"type":…,"message":…}}` → (type, message).
fn error_body(body: &str) -> (String, String) {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let kind = value["error"]["type"].as_str().unwrap_or("").to_owned();
    let message = value["error"]["message"].as_str().unwrap_or("").to_owned();
    (kind, message)
}

const LIMIT_KINDS: [&str; 4] = ["requests", "tokens", "input-tokens", "output-tokens"];

/// How long to wait after a 429/529: the later of `retry-after` and the reset of every
/// limit the headers report as exhausted. `None` when the headers say nothing.
pub(crate) fn rate_limit_delay(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let retry_after = header_str(headers, "retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    match (retry_after, exhausted_limit_delay(headers, now)) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The latest reset among limits whose `remaining` is 0.
fn exhausted_limit_delay(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    LIMIT_KINDS
        .iter()
        .filter(|kind| {
            header_str(headers, &format!("anthropic-ratelimit-{kind}-remaining"))
                .is_some_and(|v| v.trim() == "0")
        })
        .filter_map(|kind| header_str(headers, &format!("anthropic-ratelimit-{kind}-reset")))
        .filter_map(|v| DateTime::parse_from_rfc3339(v.trim()).ok())
        .filter_map(|reset| (reset.with_timezone(&Utc) - now).to_std().ok())
        .max()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The start of an error body, for its message; the rest is dropped unread.
async fn read_bounded(mut response: reqwest::Response, max: usize) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < max {
        let Ok(Some(chunk)) = response.chunk().await else {
            break;
        };
        let room = max - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_seconds_are_obeyed() {
        let h = headers(&[("retry-after", "7".into())]);
        assert_eq!(
            rate_limit_delay(&h, Utc::now()),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn the_reset_of_an_exhausted_limit_wins_when_later() {
        let now = Utc::now();
        let reset = (now + chrono::Duration::seconds(30)).to_rfc3339();
        let h = headers(&[
            ("retry-after", "2".into()),
            ("anthropic-ratelimit-tokens-remaining", "0".into()),
            ("anthropic-ratelimit-tokens-reset", reset),
        ]);
        let delay = rate_limit_delay(&h, now).unwrap();
        assert!(delay > Duration::from_secs(29) && delay <= Duration::from_secs(30));
    }

    #[test]
    fn the_reset_of_a_limit_with_room_left_is_ignored() {
        let now = Utc::now();
        let h = headers(&[
            ("anthropic-ratelimit-requests-remaining", "10".into()),
            (
                "anthropic-ratelimit-requests-reset",
                (now + chrono::Duration::seconds(50)).to_rfc3339(),
            ),
        ]);
        assert_eq!(rate_limit_delay(&h, now), None);
    }

    #[test]
    fn the_body_caches_system_prompt_last_tool_and_newest_message() {
        let tools = vec![json!({"name":"a"}), json!({"name":"b"})];
        let messages = vec![Message::user_text("hi")];
        let body = request_body(&MessagesRequest {
            model: "m",
            max_tokens: 100,
            system: "sys",
            tools: &tools,
            messages: &messages,
        });
        assert_eq!(body["stream"], true);
        assert_eq!(body["system"][0]["cache_control"]["type"], "ephemeral");
        assert!(body["tools"][0].get("cache_control").is_none());
        assert_eq!(body["tools"][1]["cache_control"]["type"], "ephemeral");
        assert_eq!(
            body["messages"][0]["content"][0]["cache_control"]["type"],
            "ephemeral"
        );
    }

    #[test]
    fn overload_and_rate_limit_statuses_are_rate_limits_not_failures() {
        let h = HeaderMap::new();
        for (status, body) in [
            (
                429,
                r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}"#,
            ),
            (
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#,
            ),
        ] {
            let e = classify_status(StatusCode::from_u16(status).unwrap(), &h, body);
            assert!(matches!(e, AttemptError::RateLimited { .. }));
        }
        assert!(matches!(
            classify_status(StatusCode::UNAUTHORIZED, &h, ""),
            AttemptError::Fatal(AnthropicError::Auth { .. })
        ));
    }

    #[test]
    fn the_client_builds_on_the_shared_http_setup() {
        let config = ClientConfig::new("https://api.anthropic.com", Secret::new("k"));
        assert!(Client::new(config, Arc::new(RateGate::new())).is_ok());
    }

    #[test]
    fn the_api_key_never_appears_in_debug_output() {
        let config = ClientConfig::new("https://x", Secret::new("sk-ant-very-secret"));
        assert!(!format!("{config:?}").contains("very-secret"));
    }
}
