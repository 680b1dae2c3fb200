//! A stand-in for the Telegram Bot API: a real HTTP server on 127.0.0.1:0 (or any
//! address) speaking the real wire format: `/bot<TOKEN>/<method>`, JSON, form and query
//! bodies, the `{"ok":…}` envelope, `getUpdates` long polling with `offset` and
//! `timeout`, 429 with `parameters.retry_after`, and 400/401/403 errors.
//!
//! It checks what Telegram checks and a test cares about: the token, that HTML parses
//! (only Telegram's tags, balanced, entities valid) and the 4096-character limit. Tests
//! push updates (messages, replies, button presses) and read what the bot sent.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::any,
};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

/// The token the fake accepts unless told otherwise.
pub const TOKEN: &str = "123456789:AAfakeTelegramTokenForTests_0123";
/// The bot's username, as `getMe` answers it.
const BOT_USERNAME: &str = "harness_test_bot";

/// One request the bot made.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
    pub at: Instant,
}

/// A message the bot sent (or edited into its current text).
#[derive(Debug, Clone)]
pub struct Sent {
    pub chat_id: i64,
    pub message_id: i64,
    pub text: String,
    pub reply_markup: Option<Value>,
    pub edits: u32,
}

/// An error answered instead of the next call of a method.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub description: String,
    pub retry_after: Option<u64>,
}

#[derive(Default)]
struct Inner {
    token: String,
    calls: Vec<Call>,
    updates: VecDeque<Value>,
    next_update_id: i64,
    sent: Vec<Sent>,
    next_message_id: i64,
    scripted: HashMap<String, VecDeque<Scripted>>,
    blocked_chats: HashSet<i64>,
    webhook: Option<(String, String)>,
}

/// The running fake. Dropping it stops the server.
pub struct FakeTelegram {
    pub addr: SocketAddr,
    state: Arc<Shared>,
    _stop: crate::stand_in::Stop,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Wakes long polls when an update is pushed.
    pushed: Notify,
}

type AppState = Arc<Shared>;

impl FakeTelegram {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(addr: SocketAddr) -> Self {
        let state = Arc::new(Shared {
            inner: Mutex::new(Inner {
                token: TOKEN.into(),
                next_update_id: 1000,
                next_message_id: 1,
                ..Inner::default()
            }),
            pushed: Notify::new(),
        });
        let app = Router::new()
            .route("/{bot}/{method}", any(handle))
            // Not Telegram: what the bot sent, for scripts outside the test process.
            .route("/_sent", axum::routing::get(sent_json))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tx = crate::stand_in::serve(listener, app);
        Self {
            addr,
            state,
            _stop: tx,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Accept only `token` from now on (a revoked token: everything else gets 401).
    pub fn set_token(&self, token: &str) {
        self.lock().token = token.into();
    }

    /// Every sendMessage to `chat` gets 403 "bot was blocked by the user".
    pub fn block_chat(&self, chat: i64) {
        self.lock().blocked_chats.insert(chat);
    }

    /// The next call of `method` is answered with this error.
    pub fn fail_next(
        &self,
        method: &str,
        status: u16,
        description: &str,
        retry_after: Option<u64>,
    ) {
        self.lock()
            .scripted
            .entry(method.into())
            .or_default()
            .push_back(Scripted {
                status,
                description: description.into(),
                retry_after,
            });
    }

    fn push(&self, build: impl FnOnce(i64) -> Value) -> i64 {
        let id = {
            let mut inner = self.lock();
            inner.next_update_id += 1;
            let id = inner.next_update_id;
            let update = build(id);
            inner.updates.push_back(update);
            id
        };
        self.state.pushed.notify_waiters();
        id
    }

    /// The update object a text message from `user` in `chat` would be.
    pub fn message_update(
        update_id: i64,
        chat: i64,
        user: &str,
        text: &str,
        reply_to: Option<i64>,
    ) -> Value {
        let mut message = json!({
            "message_id": 500_000 + update_id,
            "date": 1_700_000_000,
            "chat": { "id": chat, "type": if chat < 0 { "group" } else { "private" } },
            "from": { "id": 77, "is_bot": false, "first_name": user, "username": user },
            "text": text,
        });
        if let Some(id) = reply_to {
            message["reply_to_message"] = json!({
                "message_id": id, "date": 1_700_000_000,
                "chat": { "id": chat, "type": "private" }, "text": "(original)"
            });
        }
        json!({ "update_id": update_id, "message": message })
    }

    /// A user sends `text` in `chat`. Returns the update id.
    pub fn push_message(&self, chat: i64, user: &str, text: &str) -> i64 {
        self.push(|id| Self::message_update(id, chat, user, text, None))
    }

    /// A user replies to the bot's message `reply_to` with `text`.
    pub fn push_reply(&self, chat: i64, user: &str, text: &str, reply_to: i64) -> i64 {
        self.push(|id| Self::message_update(id, chat, user, text, Some(reply_to)))
    }

    /// A user presses a button with `data` under the bot's message `message_id`.
    /// Returns the callback query id.
    pub fn push_button(&self, chat: i64, user: &str, message_id: i64, data: &str) -> String {
        let query_id = format!("cbq-{message_id}-{data}");
        let qid = query_id.clone();
        self.push(move |id| {
            json!({ "update_id": id, "callback_query": {
                "id": qid,
                "from": { "id": 77, "is_bot": false, "first_name": user, "username": user },
                "chat_instance": "42",
                "data": data,
                "message": {
                    "message_id": message_id, "date": 1_700_000_000,
                    "chat": { "id": chat, "type": "private" }, "text": "(original)"
                }
            }})
        });
        query_id
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Messages the bot sent to `chat`, oldest first (with their current text).
    pub fn sent_to(&self, chat: i64) -> Vec<Sent> {
        self.lock()
            .sent
            .iter()
            .filter(|s| s.chat_id == chat)
            .cloned()
            .collect()
    }

    fn all_sent(&self) -> Vec<Sent> {
        self.lock().sent.clone()
    }

    pub fn webhook(&self) -> Option<(String, String)> {
        self.lock().webhook.clone()
    }

    /// Polls `check` until it returns `Some`, failing the test after `limit`.
    pub async fn wait_for<T>(
        &self,
        limit: Duration,
        what: &str,
        mut check: impl FnMut(&Self) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = check(self) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; sent: {:#?}",
                self.all_sent()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits for a message to `chat` whose text contains `needle`.
    pub async fn wait_message(&self, chat: i64, needle: &str) -> Sent {
        self.wait_for(
            Duration::from_secs(20),
            &format!("a message to {chat} with {needle:?}"),
            |f| {
                f.sent_to(chat)
                    .into_iter()
                    .find(|s| s.text.contains(needle))
            },
        )
        .await
    }
}

/// The request's parameters, from the query string and a JSON or form body, as JSON.
fn params(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    let mut add_pairs = |raw: &str| -> Result<(), String> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw).map_err(|e| e.to_string())?;
        for (k, v) in pairs {
            // Form values are text; JSON-looking ones (reply_markup, numbers) are parsed.
            let value = serde_json::from_str(&v).unwrap_or(Value::String(v));
            map.insert(k, value);
        }
        Ok(())
    };
    if let Some(q) = query {
        add_pairs(q)?;
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !body.is_empty() {
        if content_type.starts_with("application/json") {
            match serde_json::from_slice::<Value>(body).map_err(|e| e.to_string())? {
                Value::Object(o) => map.extend(o),
                _ => return Err("the JSON body must be an object".into()),
            }
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            add_pairs(std::str::from_utf8(body).map_err(|e| e.to_string())?)?;
        } else {
            return Err(format!("unsupported content type {content_type:?}"));
        }
    }
    Ok(map)
}

fn ok(result: Value) -> Response {
    Json(json!({ "ok": true, "result": result })).into_response()
}

fn error(status: u16, description: &str, retry_after: Option<u64>) -> Response {
    let mut body = json!({ "ok": false, "error_code": status, "description": description });
    if let Some(s) = retry_after {
        body["parameters"] = json!({ "retry_after": s });
    }
    (StatusCode::from_u16(status).unwrap(), Json(body)).into_response()
}

async fn handle(
    State(state): State<AppState>,
    Path((bot, method)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = bot.strip_prefix("bot") else {
        return error(404, "Not Found", None);
    };
    let params = match params(&headers, query.as_deref(), &body) {
        Ok(p) => p,
        Err(e) => return error(400, &format!("Bad Request: {e}"), None),
    };
    {
        let mut inner = state.inner.lock().unwrap_or_else(|p| p.into_inner());
        if token != inner.token {
            return error(401, "Unauthorized", None);
        }
        inner.calls.push(Call {
            method: method.clone(),
            body: Value::Object(params.clone()),
            at: Instant::now(),
        });
        if let Some(s) = inner
            .scripted
            .get_mut(&method)
            .and_then(VecDeque::pop_front)
        {
            return error(s.status, &s.description, s.retry_after);
        }
    }
    match method.as_str() {
        "getUpdates" => get_updates(&state, &params).await,
        "getMe" => ok(
            json!({ "id": 123456789, "is_bot": true, "first_name": "Harness", "username": BOT_USERNAME }),
        ),
        "sendMessage" => send_message(&state, &params),
        "editMessageText" => edit_message(&state, &params),
        "answerCallbackQuery" => match params.get("callback_query_id") {
            Some(_) => ok(json!(true)),
            None => error(400, "Bad Request: callback_query_id is required", None),
        },
        "setMyCommands" => match params.get("commands") {
            Some(Value::Array(_)) => ok(json!(true)),
            _ => error(400, "Bad Request: commands must be an array", None),
        },
        "deleteWebhook" => {
            lock(&state).webhook = None;
            ok(json!(true))
        }
        "setWebhook" => {
            let url = params
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let secret = params
                .get("secret_token")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            lock(&state).webhook = Some((url, secret));
            ok(json!(true))
        }
        _ => error(404, "Not Found: method not found", None),
    }
}

async fn sent_json(State(state): State<AppState>) -> Json<Value> {
    let sent: Vec<Value> = lock(&state)
        .sent
        .iter()
        .map(|s| json!({ "chat_id": s.chat_id, "message_id": s.message_id, "text": s.text }))
        .collect();
    Json(Value::Array(sent))
}

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, Inner> {
    state.inner.lock().unwrap_or_else(|p| p.into_inner())
}

fn int(params: &Map<String, Value>, key: &str) -> Option<i64> {
    match params.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

async fn get_updates(state: &Shared, params: &Map<String, Value>) -> Response {
    if lock(state).webhook.is_some() {
        return error(
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            None,
        );
    }
    let offset = int(params, "offset").unwrap_or(0);
    let timeout = Duration::from_secs(int(params, "timeout").unwrap_or(0).clamp(0, 50) as u64);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let pushed = state.pushed.notified();
        {
            let mut inner = lock(state);
            // An offset confirms every update below it: Telegram forgets them.
            inner
                .updates
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            if !inner.updates.is_empty() {
                return ok(Value::Array(
                    inner.updates.iter().take(100).cloned().collect(),
                ));
            }
        }
        if tokio::time::timeout_at(deadline, pushed).await.is_err() {
            return ok(json!([]));
        }
    }
}

fn send_message(state: &Shared, params: &Map<String, Value>) -> Response {
    let Some(chat_id) = int(params, "chat_id") else {
        return error(400, "Bad Request: chat_id is empty", None);
    };
    let text = params
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Err(e) = check_text(text, params.get("parse_mode").and_then(Value::as_str)) {
        return error(400, &e, None);
    }
    let mut inner = lock(state);
    if inner.blocked_chats.contains(&chat_id) {
        return error(403, "Forbidden: bot was blocked by the user", None);
    }
    let message_id = inner.next_message_id;
    inner.next_message_id += 1;
    inner.sent.push(Sent {
        chat_id,
        message_id,
        text: text.to_owned(),
        reply_markup: params.get("reply_markup").cloned(),
        edits: 0,
    });
    ok(json!({ "message_id": message_id, "date": 1_700_000_000,
               "chat": { "id": chat_id, "type": "private" }, "text": text }))
}

fn edit_message(state: &Shared, params: &Map<String, Value>) -> Response {
    let (Some(chat_id), Some(message_id)) = (int(params, "chat_id"), int(params, "message_id"))
    else {
        return error(
            400,
            "Bad Request: chat_id and message_id are required",
            None,
        );
    };
    let text = params
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Err(e) = check_text(text, params.get("parse_mode").and_then(Value::as_str)) {
        return error(400, &e, None);
    }
    let mut inner = lock(state);
    let Some(sent) = inner
        .sent
        .iter_mut()
        .find(|s| s.chat_id == chat_id && s.message_id == message_id)
    else {
        return error(400, "Bad Request: message to edit not found", None);
    };
    sent.text = text.to_owned();
    sent.reply_markup = params.get("reply_markup").cloned();
    sent.edits += 1;
    ok(json!({ "message_id": message_id, "chat": { "id": chat_id }, "text": text }))
}

/// What Telegram refuses: empty text, over 4096 visible characters, HTML that does not
/// parse (unknown tags, unbalanced, bad entities, a bare `<` or `&`).
fn check_text(text: &str, parse_mode: Option<&str>) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("Bad Request: message text is empty".into());
    }
    let visible = if parse_mode == Some("HTML") {
        visible_html(text)?
    } else {
        text.to_owned()
    };
    if visible.chars().count() > 4096 {
        return Err("Bad Request: message is too long".into());
    }
    Ok(())
}

const TAGS: [&str; 8] = ["b", "i", "u", "s", "code", "pre", "a", "blockquote"];

fn visible_html(html: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("Bad Request: can't parse entities: {why}"));
    let mut out = String::new();
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let Some(end) = rest.find('>') else {
                    return bad("unclosed start tag");
                };
                let tag = &rest[1..end];
                if let Some(name) = tag.strip_prefix('/') {
                    if open.pop().as_deref() != Some(name.trim()) {
                        return bad(&format!("unexpected end tag {name}"));
                    }
                } else {
                    let name = tag.split_whitespace().next().unwrap_or("");
                    if !TAGS.contains(&name) {
                        return bad(&format!("unsupported start tag \"{name}\""));
                    }
                    open.push(name.to_owned());
                }
                rest = &rest[end + 1..];
            }
            '&' => {
                let Some(end) = rest.find(';') else {
                    return bad("unterminated entity");
                };
                out.push(match &rest[1..end] {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    other => return bad(&format!("unsupported entity &{other};")),
                });
                rest = &rest[end + 1..];
            }
            _ => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if let Some(tag) = open.pop() {
        return bad(&format!("unclosed tag {tag}"));
    }
    Ok(out)
}
