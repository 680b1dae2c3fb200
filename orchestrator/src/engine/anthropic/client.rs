//! A streaming client for the Anthropic Messages API (`POST /v1/messages`).
//!
//! Every request waits at the shared [`RateGate`]. A 429, a 529 or an
//! `overloaded_error` closes the gate for everyone until the time the server gave
//! (`retry-after`, `anthropic-ratelimit-*-reset`), then the request is retried. Retries
//! are bounded; running out of them on a rate limit yields [`ApiError::RateLimited`],
//! which callers must not count as a task failure.
//!
//! HTTP runs on hyper with rustls (ring provider, bundled Mozilla roots) rather than
//! reqwest: enabling a TLS backend in reqwest would switch every other reqwest client
//! in the binary to a TLS setup that panics without a process-wide crypto provider.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Request, StatusCode, body::Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client as HyperClient, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde_json::{Value, json};

use super::{
    rate_gate::RateGate,
    sse::{MessageAssembler, SseParser, StreamStatus},
    types::{AssembledMessage, Message},
};
use crate::config::Secret;

/// The API version this client speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Connection settings and retry bounds. Built by the config module; this module never
/// reads the environment.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `ANTHROPIC_BASE_URL`, default `https://api.anthropic.com`.
    pub base_url: String,
    pub api_key: Secret,
    /// Rate-limit retries per request before giving up with [`ApiError::RateLimited`].
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

/// Why a request failed, after retries.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// Still rate limited or overloaded after the retry bound. Not a task failure:
    /// requeue the task without using an attempt.
    #[error("rate limited by the Anthropic API ({message}); retries exhausted")]
    RateLimited {
        message: String,
        resume_at: Option<DateTime<Utc>>,
    },
    /// 401/403: the key is missing, wrong, or lacks access. The agent is unconfigured.
    #[error("the Anthropic API rejected the key ({status}): {message}; check ANTHROPIC_API_KEY")]
    Auth { status: u16, message: String },
    /// 4xx other than auth and rate limits: the request itself was wrong.
    #[error("the Anthropic API refused the request ({status}): {message}")]
    InvalidRequest { status: u16, message: String },
    /// 5xx or a broken connection or stream, after retries.
    #[error("the Anthropic API is unavailable: {0}")]
    Unavailable(String),
    #[error("cannot build the HTTP client: {0}")]
    Setup(String),
}

impl ApiError {
    pub fn is_rate_limit(&self) -> bool {
        matches!(self, ApiError::RateLimited { .. })
    }

    /// True when the failure says something about the task (so an attempt is used);
    /// false for rate limits, bad keys and outages, which are the harness's problem.
    pub fn counts_as_task_failure(&self) -> bool {
        matches!(self, ApiError::InvalidRequest { .. })
    }
}

/// One attempt's failure, before the retry policy decides.
enum AttemptError {
    RateLimited {
        delay: Option<Duration>,
        message: String,
    },
    Retryable(String),
    Fatal(ApiError),
}

type HttpClient = HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A Messages API client. Cheap to clone; clones share the connection pool and gate.
#[derive(Debug, Clone)]
pub struct Client {
    http: HttpClient,
    config: Arc<ClientConfig>,
    gate: Arc<RateGate>,
}

impl Client {
    pub fn new(config: ClientConfig, gate: Arc<RateGate>) -> Result<Self, ApiError> {
        Ok(Self {
            http: http_client(&config)?,
            config: Arc::new(config),
            gate,
        })
    }

    pub fn gate(&self) -> &Arc<RateGate> {
        &self.gate
    }

    /// False when the key is empty: the agent is unconfigured, and no request is sent.
    pub fn has_key(&self) -> bool {
        !self.config.api_key.expose().trim().is_empty()
    }

    /// Sends `request` with streaming and returns the assembled reply. `on_wait` hears
    /// about every pause and retry, so the session log can say why nothing happens.
    pub async fn send(
        &self,
        request: &MessagesRequest<'_>,
        on_wait: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<AssembledMessage, ApiError> {
        let body = request_body(request);
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
                        return Err(ApiError::RateLimited {
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
                        return Err(ApiError::Unavailable(message));
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
        let request = self.build_request(body)?;
        let response = match tokio::time::timeout(
            self.config.idle_timeout,
            self.http.request(request),
        )
        .await
        {
            Err(_) => return Err(AttemptError::Retryable("no response in time".into())),
            // The error chain names the host, never the headers, so the key stays out.
            Ok(Err(e)) => {
                return Err(AttemptError::Retryable(format!(
                    "request failed: {}",
                    error_chain(&e)
                )));
            }
            Ok(Ok(response)) => response,
        };
        let (parts, mut body) = response.into_parts();
        if !parts.status.is_success() {
            let text = read_bounded(&mut body, 16 * 1024).await;
            return Err(classify_status(parts.status, &parts.headers, &text));
        }
        self.note_exhausted_limits(&parts.headers);
        self.read_stream(body).await
    }

    fn build_request(&self, body: &Value) -> Result<Request<Full<Bytes>>, AttemptError> {
        let url = format!("{}/v1/messages", self.config.base_url.trim_end_matches('/'));
        let bytes = serde_json::to_vec(body)
            .map_err(|e| AttemptError::Fatal(ApiError::Setup(format!("request body: {e}"))))?;
        Request::post(url.as_str())
            .header("x-api-key", self.config.api_key.expose())
            .header("anthropic-version", ANTHROPIC_VERSION)
            .header("content-type", "application/json")
            .header("accept", "text/event-stream")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| {
                AttemptError::Fatal(ApiError::Setup(format!(
                    "ANTHROPIC_BASE_URL '{}' (or the API key) cannot form a request: {e}",
                    self.config.base_url
                )))
            })
    }

    /// A success can still say "0 requests remaining until T": honour it before the
    /// next request rather than after a 429.
    fn note_exhausted_limits(&self, headers: &HeaderMap) {
        if let Some(delay) = exhausted_limit_delay(headers, Utc::now()) {
            self.gate.pause_for(delay.min(self.config.max_pause));
        }
    }

    async fn read_stream(&self, mut body: Incoming) -> Result<AssembledMessage, AttemptError> {
        let mut parser = SseParser::new(self.config.max_response_bytes);
        let mut assembler = MessageAssembler::new(self.config.max_response_bytes);
        loop {
            let frame = match tokio::time::timeout(self.config.idle_timeout, body.frame()).await {
                Err(_) => return Err(AttemptError::Retryable("stream stalled".into())),
                Ok(None) => {
                    return Err(AttemptError::Retryable(
                        "stream ended before message_stop".into(),
                    ));
                }
                Ok(Some(Err(e))) => {
                    return Err(AttemptError::Retryable(format!(
                        "stream broke: {}",
                        error_chain(&e)
                    )));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(chunk) = frame.into_data() else {
                continue; // trailers
            };
            let events = parser.push(&chunk).map_err(fatal_stream)?;
            for event in events {
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

fn fatal_stream(message: String) -> AttemptError {
    AttemptError::Fatal(ApiError::Unavailable(message))
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
        401 | 403 => AttemptError::Fatal(ApiError::Auth {
            status: code,
            message,
        }),
        408 | 409 => AttemptError::Retryable(format!("{code}: {message}")),
        400..=499 => AttemptError::Fatal(ApiError::InvalidRequest {
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
        "invalid_request_error" => AttemptError::Fatal(ApiError::InvalidRequest {
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
pub fn rate_limit_delay(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
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

async fn read_bounded(body: &mut Incoming, max: usize) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < max {
        let Some(Ok(frame)) = body.frame().await else {
            break;
        };
        if let Ok(chunk) = frame.into_data() {
            let room = max - bytes.len();
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// rustls with the ring provider and the bundled Mozilla roots: no OpenSSL, no cmake
/// (aws-lc), no CA files needed in a scratch image, and no process-wide provider.
/// Plain `http://` is allowed for a local `ANTHROPIC_BASE_URL` (proxies, the test fake).
fn http_client(config: &ClientConfig) -> Result<HttpClient, ApiError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(config.connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(HyperClient::builder(TokioExecutor::new()).build(https))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

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
            AttemptError::Fatal(ApiError::Auth { .. })
        ));
    }

    #[test]
    fn the_http_client_builds_with_ring_and_bundled_roots() {
        let config = ClientConfig::new("https://api.anthropic.com", Secret::new("k"));
        assert!(http_client(&config).is_ok());
    }

    #[test]
    fn other_reqwest_clients_in_the_binary_still_build() {
        // Guards the reason this client is on hyper: a reqwest TLS feature enabled here
        // would make `reqwest::Client::builder().build()` panic elsewhere.
        assert!(reqwest::Client::builder().build().is_ok());
    }

    #[test]
    fn the_api_key_never_appears_in_debug_output() {
        let config = ClientConfig::new("https://x", Secret::new("sk-ant-very-secret"));
        assert!(!format!("{config:?}").contains("very-secret"));
    }
}
