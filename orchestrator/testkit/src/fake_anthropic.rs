//! A fake Anthropic Messages API for tests: a real HTTP server on 127.0.0.1:0 that
//! speaks the real wire format (SSE event names and JSON shapes, tool_use blocks, usage,
//! 429 with retry-after and rate-limit headers, 529 overloaded) and replays a script.
//!
//! Every request is recorded (headers that matter, JSON body, arrival time) so tests can
//! assert what the harness sent: prompts, tool results, cache breakpoints.

use std::{
    collections::VecDeque,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

/// The key the fake accepts.
pub const API_KEY: &str = "test-key-not-secret";

/// One scripted answer, consumed per request in order.
#[derive(Debug, Clone)]
pub enum Scripted {
    Reply(Reply),
    /// 429 `rate_limit_error` with `retry-after` and, when `reset_in` is set, exhausted
    /// `anthropic-ratelimit-requests-*` headers resetting that far in the future.
    RateLimited {
        retry_after: Option<String>,
        reset_in: Option<Duration>,
    },
    /// 529 `overloaded_error`.
    Overloaded,
    /// 200, then an `error` event with `overloaded_error` mid-stream.
    OverloadedInStream,
    /// 500 `api_error`.
    ServerError,
    /// 200 and `message_start`, then nothing: the stream stays open until the client
    /// goes away (an agent that hangs mid-turn).
    Hang,
}

/// Chooses the answer from the request's JSON body once the script is used up (the
/// container stand-in of examples/fake_anthropic.rs answers every request this way).
pub(crate) type Responder = fn(&Value) -> Scripted;

/// A streamed assistant reply.
#[derive(Debug, Clone)]
pub struct Reply {
    pub blocks: Vec<Block>,
    pub stop_reason: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

#[derive(Debug, Clone)]
pub enum Block {
    Text(String),
    ToolUse { name: String, input: Value },
}

impl Reply {
    fn new(blocks: Vec<Block>, stop_reason: &str) -> Self {
        Self {
            blocks,
            stop_reason: stop_reason.into(),
            input_tokens: 1000,
            output_tokens: 200,
            cache_creation_input_tokens: 500,
            cache_read_input_tokens: 300,
        }
    }

    /// A text-only reply (`end_turn`).
    pub fn text(text: &str) -> Scripted {
        Scripted::Reply(Self::new(vec![Block::Text(text.into())], "end_turn"))
    }

    /// A reply calling one tool (`tool_use`).
    pub fn tool(name: &str, input: Value) -> Scripted {
        Self::tools(None, &[(name, input)])
    }

    /// Optional text, then several tool calls in one turn.
    pub fn tools(text: Option<&str>, calls: &[(&str, Value)]) -> Scripted {
        let mut blocks: Vec<Block> = text.map(|t| Block::Text(t.into())).into_iter().collect();
        blocks.extend(calls.iter().map(|(name, input)| Block::ToolUse {
            name: (*name).into(),
            input: input.clone(),
        }));
        Scripted::Reply(Self::new(blocks, "tool_use"))
    }
}

/// A request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: Instant,
    pub api_key: Option<String>,
    pub version: Option<String>,
    pub body: Value,
    /// What the fake answered: "reply", "429", "529", "stream-error", "500", "401"…
    pub answered: String,
}

impl Recorded {
    /// The tool_result blocks of the newest user message.
    pub fn last_tool_results(&self) -> Vec<Value> {
        let messages = self.body["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        messages
            .last()
            .and_then(|m| m["content"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|b| b["type"] == "tool_result")
            .collect()
    }

    /// All text of the request (system prompt and messages), for "did X reach the model".
    pub fn all_text(&self) -> String {
        self.body.to_string()
    }
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Scripted>,
    responder: Option<Responder>,
    requests: Vec<Recorded>,
    tool_ids: u64,
}

/// The running fake. Stops when dropped.
pub struct FakeAnthropic {
    pub base_url: String,
    shared: Arc<Mutex<Shared>>,
    _stop: crate::stand_in::Stop,
}

impl FakeAnthropic {
    /// Binds 127.0.0.1:0 and serves `script`.
    pub async fn start(script: Vec<Scripted>) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), script, None).await
    }

    /// Binds `addr` and serves `script`, then asks `responder` (when given).
    pub async fn start_on(
        addr: std::net::SocketAddr,
        script: Vec<Scripted>,
        responder: Option<Responder>,
    ) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            script: script.into(),
            responder,
            ..Shared::default()
        }));
        let app = Router::new()
            .route("/v1/messages", post(messages))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = crate::stand_in::serve(listener, app);
        Self {
            base_url: format!("http://{addr}"),
            shared,
            _stop: stop,
        }
    }

    /// Appends answers to the script.
    pub fn push(&self, items: impl IntoIterator<Item = Scripted>) {
        self.shared.lock().unwrap().script.extend(items);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().unwrap().requests.clone()
    }

    pub fn request_count(&self) -> usize {
        self.shared.lock().unwrap().requests.len()
    }

    pub fn remaining_script(&self) -> usize {
        self.shared.lock().unwrap().script.len()
    }
}

async fn messages(
    State(shared): State<Arc<Mutex<Shared>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let at = Instant::now();
    let header_of = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let api_key = header_of("x-api-key");
    let version = header_of("anthropic-version");
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let mut shared = shared.lock().unwrap();
    let (answered, response) = if api_key.as_deref() != Some(API_KEY) {
        (
            "401",
            error(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "invalid x-api-key",
            ),
        )
    } else if version.as_deref() != Some("2023-06-01") {
        (
            "400",
            error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "anthropic-version header is required",
            ),
        )
    } else if body["stream"] != true || !body["messages"].is_array() {
        (
            "400",
            error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "fake supports streaming requests with messages only",
            ),
        )
    } else {
        let model = body["model"]
            .as_str()
            .unwrap_or("claude-sonnet-4-5")
            .to_owned();
        let next = shared
            .script
            .pop_front()
            .or_else(|| shared.responder.map(|respond| respond(&body)));
        match next {
            None => (
                "500",
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "api_error",
                    "fake: script exhausted",
                ),
            ),
            Some(Scripted::Reply(reply)) => {
                let n = shared.requests.len();
                let events = reply_events(&reply, &model, n, &mut shared.tool_ids);
                ("reply", sse(events))
            }
            Some(Scripted::RateLimited {
                retry_after,
                reset_in,
            }) => ("429", rate_limited(retry_after, reset_in)),
            Some(Scripted::Overloaded) => (
                "529",
                error(
                    StatusCode::from_u16(529).unwrap(),
                    "overloaded_error",
                    "Overloaded",
                ),
            ),
            Some(Scripted::OverloadedInStream) => ("stream-error", sse(overloaded_events(&model))),
            Some(Scripted::Hang) => ("hang", hang(&model)),
            Some(Scripted::ServerError) => (
                "500",
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "api_error",
                    "Internal server error",
                ),
            ),
        }
    };
    shared.requests.push(Recorded {
        at,
        api_key,
        version,
        body,
        answered: answered.into(),
    });
    response
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn rate_limited(retry_after: Option<String>, reset_in: Option<Duration>) -> Response {
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_error",
        "Number of requests has exceeded your per-minute rate limit",
    );
    let headers = response.headers_mut();
    if let Some(value) = retry_after {
        headers.insert("retry-after", value.parse().unwrap());
    }
    if let Some(reset_in) = reset_in {
        let reset = chrono::Utc::now() + chrono::Duration::from_std(reset_in).unwrap();
        let reset = reset.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        headers.insert("anthropic-ratelimit-requests-limit", "50".parse().unwrap());
        headers.insert(
            "anthropic-ratelimit-requests-remaining",
            "0".parse().unwrap(),
        );
        headers.insert("anthropic-ratelimit-requests-reset", reset.parse().unwrap());
    }
    response
}

/// A 200 event stream, sent in several chunks like the real server does.
fn sse(events: Vec<(String, Value)>) -> Response {
    let chunks: Vec<Result<String, Infallible>> = events
        .into_iter()
        .map(|(name, data)| Ok(format!("event: {name}\ndata: {data}\n\n")))
        .collect();
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header("cache-control", "no-cache")
        .header("request-id", "req_fake")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap()
}

/// `message_start`, then a stream that never ends.
fn hang(model: &str) -> Response {
    let (name, data) = message_start(model, "msg_fake_hang".into(), None);
    let first = futures_util::stream::iter([Ok::<_, Infallible>(format!(
        "event: {name}\ndata: {data}\n\n"
    ))]);
    let body = futures_util::StreamExt::chain(first, futures_util::stream::pending());
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(body))
        .unwrap()
}

fn message_start(model: &str, id: String, reply: Option<&Reply>) -> (String, Value) {
    let (input, write, read) = reply
        .map(|r| {
            (
                r.input_tokens,
                r.cache_creation_input_tokens,
                r.cache_read_input_tokens,
            )
        })
        .unwrap_or((10, 0, 0));
    (
        "message_start".into(),
        json!({"type":"message_start","message":{
            "id": id, "type":"message","role":"assistant","model": model,
            "content":[],"stop_reason":null,"stop_sequence":null,
            "usage":{"input_tokens":input,"cache_creation_input_tokens":write,
                     "cache_read_input_tokens":read,"output_tokens":1}}}),
    )
}

fn reply_events(reply: &Reply, model: &str, n: usize, tool_ids: &mut u64) -> Vec<(String, Value)> {
    let mut events = vec![
        message_start(model, format!("msg_fake_{n}"), Some(reply)),
        ("ping".into(), json!({"type": "ping"})),
    ];
    for (index, block) in reply.blocks.iter().enumerate() {
        match block {
            Block::Text(text) => {
                events.push((
                    "content_block_start".into(),
                    json!({"type":"content_block_start","index":index,"content_block":{"type":"text","text":""}}),
                ));
                for piece in halves(text) {
                    events.push((
                        "content_block_delta".into(),
                        json!({"type":"content_block_delta","index":index,"delta":{"type":"text_delta","text":piece}}),
                    ));
                }
            }
            Block::ToolUse { name, input } => {
                *tool_ids += 1;
                events.push((
                    "content_block_start".into(),
                    json!({"type":"content_block_start","index":index,"content_block":{
                        "type":"tool_use","id":format!("toolu_fake_{tool_ids}"),"name":name,"input":{}}}),
                ));
                for piece in halves(&input.to_string()) {
                    events.push((
                        "content_block_delta".into(),
                        json!({"type":"content_block_delta","index":index,"delta":{"type":"input_json_delta","partial_json":piece}}),
                    ));
                }
            }
        }
        events.push((
            "content_block_stop".into(),
            json!({"type":"content_block_stop","index":index}),
        ));
    }
    events.push((
        "message_delta".into(),
        json!({"type":"message_delta","delta":{"stop_reason":reply.stop_reason,"stop_sequence":null},
               "usage":{"output_tokens":reply.output_tokens}}),
    ));
    events.push(("message_stop".into(), json!({"type":"message_stop"})));
    events
}

fn overloaded_events(model: &str) -> Vec<(String, Value)> {
    vec![
        message_start(model, "msg_fake_overloaded".into(), None),
        (
            "error".into(),
            json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}),
        ),
    ]
}

/// Splits text in two on a char boundary, so deltas must be concatenated.
fn halves(text: &str) -> Vec<String> {
    let mut mid = text.len() / 2;
    while !text.is_char_boundary(mid) {
        mid += 1;
    }
    let (a, b) = text.split_at(mid);
    [a, b]
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Marks a task whose Claude Code agent must hang mid-turn ([`claude_code`] never
/// finishes its answer).
pub const HANG: &str = "acp-hang";

/// A responder for Claude Code (as a CLI or under an ACP adapter), answering from the
/// request's content: the main conversation writes
/// `widget.txt` with whichever write tool the agent offers, then ends its turn; side
/// requests (titles, summaries: no tools) get a short text.
pub fn claude_code(body: &Value) -> Scripted {
    let text = body.to_string();
    let tools: Vec<&str> = body["tools"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    let Some(write) = tools
        .iter()
        .find(|t| **t == "Write" || t.ends_with("__Write"))
    else {
        return Reply::text("ok");
    };
    if text.contains(HANG) {
        return Scripted::Hang;
    }
    let turns = body["messages"]
        .as_array()
        .map_or(0, |m| m.iter().filter(|m| m["role"] == "assistant").count());
    if turns > 0 {
        return Reply::text("widget.txt is written.");
    }
    let cwd = stated_cwd(&text).unwrap_or_default();
    Reply::tool(
        write,
        json!({"file_path": format!("{cwd}/widget.txt"), "content": "made over ACP\n"}),
    )
}

/// The working directory Claude Code states in its system prompt.
fn stated_cwd(text: &str) -> Option<String> {
    let at = text
        .find("Primary working directory: ")
        .map(|i| i + 27)
        .or_else(|| text.find("Working directory: ").map(|i| i + 19))?;
    let rest = &text[at..];
    let end = rest.find(['\\', '"', ' ', '\n'])?;
    Some(rest[..end].to_owned())
}
