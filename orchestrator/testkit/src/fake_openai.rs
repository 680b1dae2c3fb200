//! A fake OpenAI Chat Completions API for tests: a real HTTP server on 127.0.0.1:0 that
//! speaks the public wire format (`POST /v1/chat/completions`, `tool_calls` with JSON
//! string arguments, `finish_reason`, `usage` with cached prompt tokens, errors as
//! `{"error":{"message","type","code"}}`, 429 with `retry-after`) and replays the same
//! scripts as [`crate::fake_anthropic`], so one script drives either runtime.
//!
//! Every request is recorded (its `Authorization` header and JSON body) so tests can
//! assert what the harness sent.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

use crate::fake_anthropic::{Block, Reply, Scripted};

/// The key the fake accepts when started with [`FakeOpenAi::start_with_key`].
pub const API_KEY: &str = "sk-test-not-secret";

/// A request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub authorization: Option<String>,
    pub body: Value,
    /// What the fake answered: "reply", "429", "500", "401", "400"…
    pub answered: String,
}

impl Recorded {
    /// The `tool` messages after the last assistant message: the results it sent back.
    pub fn last_tool_results(&self) -> Vec<Value> {
        let messages = self.body["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        messages
            .iter()
            .rev()
            .take_while(|m| m["role"] != "assistant")
            .filter(|m| m["role"] == "tool")
            .cloned()
            .collect()
    }
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Scripted>,
    requests: Vec<Recorded>,
    calls: u64,
    /// `Some`: requests must carry `Authorization: Bearer <key>` (OpenAI itself);
    /// `None`: any or none is taken (a local model server).
    key: Option<&'static str>,
}

/// The running fake. Stops when dropped.
pub struct FakeOpenAi {
    /// Up to and including `/v1`, as OPENAI_BASE_URL takes it.
    pub base_url: String,
    shared: Arc<Mutex<Shared>>,
    _stop: crate::stand_in::Stop,
}

impl FakeOpenAi {
    /// A local model server: takes requests without a key.
    pub async fn start(script: Vec<Scripted>) -> Self {
        Self::serve(script, None).await
    }

    /// OpenAI itself: refuses a request without [`API_KEY`] with a 401.
    pub async fn start_with_key(script: Vec<Scripted>) -> Self {
        Self::serve(script, Some(API_KEY)).await
    }

    async fn serve(script: Vec<Scripted>, key: Option<&'static str>) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            script: script.into(),
            key,
            ..Shared::default()
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = crate::stand_in::serve(listener, app);
        Self {
            base_url: format!("http://{addr}/v1"),
            shared,
            _stop: stop,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().unwrap().requests.clone()
    }
}

async fn completions(
    State(shared): State<Arc<Mutex<Shared>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let response = {
        let mut shared = shared.lock().unwrap();
        let (answered, response) = answer(&mut shared, authorization.as_deref(), &body);
        shared.requests.push(Recorded {
            authorization,
            body,
            answered: answered.into(),
        });
        response
    };
    match response {
        Answer::Now(response) => response,
        // An agent that hangs mid-turn: nothing comes until the client goes away.
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}

enum Answer {
    Now(Response),
    Hang,
}

fn answer(
    shared: &mut Shared,
    authorization: Option<&str>,
    body: &Value,
) -> (&'static str, Answer) {
    if let Some(key) = shared.key
        && authorization != Some(format!("Bearer {key}").as_str())
    {
        let response = error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided.",
        );
        return ("401", Answer::Now(response));
    }
    if !body["messages"].is_array() || !body["model"].is_string() {
        let response = error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "missing_required_parameter",
            "'model' and 'messages' are required.",
        );
        return ("400", Answer::Now(response));
    }
    if body["stream"] == true {
        let response = error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "unsupported_value",
            "this fake answers stream: false only",
        );
        return ("400", Answer::Now(response));
    }
    match shared.script.pop_front() {
        None => (
            "500",
            Answer::Now(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "script_exhausted",
                "fake: script exhausted",
            )),
        ),
        Some(Scripted::Reply(reply)) => {
            let model = body["model"].as_str().unwrap_or_default();
            let completion = completion(&reply, model, &mut shared.calls);
            ("reply", Answer::Now(Json200(completion).into_response()))
        }
        Some(Scripted::RateLimited { retry_after, .. }) => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                "rate_limit_exceeded",
                "Rate limit reached for requests.",
            );
            if let Some(after) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", after.parse().unwrap());
            }
            ("429", Answer::Now(response))
        }
        Some(Scripted::Overloaded | Scripted::OverloadedInStream) => (
            "503",
            Answer::Now(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "overloaded",
                "The engine is currently overloaded, please try again later.",
            )),
        ),
        Some(Scripted::ServerError) => (
            "500",
            Answer::Now(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal_error",
                "The server had an error while processing your request.",
            )),
        ),
        Some(Scripted::Hang) => ("hang", Answer::Hang),
    }
}

/// A `chat.completion` object: the script's blocks as content and `tool_calls`.
fn completion(reply: &Reply, model: &str, calls: &mut u64) -> Value {
    let text: Vec<&str> = reply
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text(t) => Some(t.as_str()),
            Block::ToolUse { .. } => None,
        })
        .collect();
    let tool_calls: Vec<Value> = reply
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::ToolUse { name, input } => {
                *calls += 1;
                Some(json!({
                    "id": format!("call_{calls}"),
                    "type": "function",
                    "function": {"name": name, "arguments": input.to_string()},
                }))
            }
            Block::Text(_) => None,
        })
        .collect();
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() { Value::Null } else { Value::String(text.join("\n")) },
    });
    let finish_reason = if tool_calls.is_empty() {
        "stop"
    } else {
        message["tool_calls"] = Value::Array(tool_calls);
        "tool_calls"
    };
    let prompt = reply.input_tokens + reply.cache_read_input_tokens;
    json!({
        "id": format!("chatcmpl-{calls}"),
        "object": "chat.completion",
        "created": 1_765_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": reply.output_tokens,
            "total_tokens": prompt + reply.output_tokens,
            "prompt_tokens_details": {"cached_tokens": reply.cache_read_input_tokens},
        },
    })
}

struct Json200(Value);

impl IntoResponse for Json200 {
    fn into_response(self) -> Response {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            self.0.to_string(),
        )
            .into_response()
    }
}

fn error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
