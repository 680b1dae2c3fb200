//! The own agent loop on any OpenAI-compatible endpoint: the loop's conversation (kept
//! in the Messages API's shapes, [`Message`]) as a Chat Completions request, and a Chat
//! Completions response as the loop's [`AssembledMessage`]. OpenAI, and the local model
//! servers that speak the same API (Ollama, vLLM, llama.cpp's server), answer it.
//!
//! The mapping, from the public API reference: the system prompt is a `system` message;
//! an assistant turn's `tool_use` blocks are its `tool_calls` (arguments as a JSON
//! string); each `tool_result` is a `tool` message with its `tool_call_id`, right after
//! the assistant turn that asked; tools are `{"type":"function","function":{…}}`.

use serde_json::{Value, json};

use super::{
    client::MessagesRequest,
    types::{AssembledMessage, ContentBlock, Message, Role, ToolResultBlock, ToolResultContent},
};
use crate::session::Usage;

/// The request body of `POST {base}/chat/completions`.
pub(crate) fn request_body(request: &MessagesRequest<'_>) -> Value {
    let mut messages = vec![json!({"role": "system", "content": request.system})];
    for message in request.messages {
        match message.role {
            Role::Assistant => messages.push(assistant(message)),
            Role::User => messages.extend(user(message)),
        }
    }
    let mut body = json!({
        "model": request.model,
        "max_tokens": request.max_tokens,
        "stream": false,
        "messages": messages,
    });
    if !request.tools.is_empty() {
        body["tools"] = request.tools.iter().map(function_tool).collect();
    }
    body
}

/// `{"name","description","input_schema"}` as `{"type":"function","function":{…}}`.
fn function_tool(tool: &Value) -> Value {
    json!({
        "type": "function",
        "function": {
            "name": tool["name"],
            "description": tool["description"],
            "parameters": tool["input_schema"],
        }
    })
}

fn assistant(message: &Message) -> Value {
    let mut text = Vec::new();
    let mut calls = Vec::new();
    for block in &message.content {
        match block {
            ContentBlock::Text { text: t } => text.push(t.as_str()),
            ContentBlock::ToolUse { id, name, input } => calls.push(json!({
                "id": id,
                "type": "function",
                "function": {"name": name, "arguments": input.to_string()},
            })),
            // Neither kind exists on this API; a tool result is never the model's.
            ContentBlock::Thinking { .. } | ContentBlock::ToolResult { .. } => {}
        }
    }
    let content = if text.is_empty() {
        Value::Null
    } else {
        Value::String(text.join("\n"))
    };
    let mut out = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        out["tool_calls"] = Value::Array(calls);
    }
    out
}

/// A user turn: its tool results first (each a `tool` message, which must follow the
/// assistant's `tool_calls`), then its text.
fn user(message: &Message) -> Vec<Value> {
    let mut out = Vec::new();
    let mut text = Vec::new();
    for block in &message.content {
        match block {
            ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                let mut body = result_text(content);
                if *is_error {
                    body = format!("error: {body}");
                }
                out.push(json!({"role": "tool", "tool_call_id": tool_use_id, "content": body}));
            }
            ContentBlock::Text { text: t } => text.push(t.as_str()),
            ContentBlock::ToolUse { .. } | ContentBlock::Thinking { .. } => {}
        }
    }
    if !text.is_empty() {
        out.push(json!({"role": "user", "content": text.join("\n")}));
    }
    out
}

/// A tool message carries text only: an image (a browser screenshot) is said, not sent.
fn result_text(content: &ToolResultContent) -> String {
    match content {
        ToolResultContent::Text(text) => text.clone(),
        ToolResultContent::Blocks(blocks) => blocks
            .iter()
            .map(|block| match block {
                ToolResultBlock::Text { text } => text.clone(),
                ToolResultBlock::Image { .. } => {
                    "[a screenshot was taken; this API does not take images in tool results]"
                        .to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// A Chat Completions response as the loop's reply. `Err` says what is missing.
pub(crate) fn parse_response(body: &Value) -> Result<AssembledMessage, String> {
    let choice = body["choices"]
        .get(0)
        .ok_or("the response has no choices")?;
    let message = &choice["message"];
    let mut content = Vec::new();
    if let Some(text) = message["content"].as_str().filter(|t| !t.is_empty()) {
        content.push(ContentBlock::Text {
            text: text.to_owned(),
        });
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let id = call["id"].as_str().ok_or("a tool call has no id")?;
        let name = call["function"]["name"]
            .as_str()
            .ok_or("a tool call has no function name")?;
        let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
        // The loop answers unparsable input with a request to send it again.
        let input = serde_json::from_str::<Value>(arguments)
            .unwrap_or_else(|_| json!({"__invalid_json": arguments}));
        content.push(ContentBlock::ToolUse {
            id: id.to_owned(),
            name: name.to_owned(),
            input,
        });
    }
    let stop_reason = match choice["finish_reason"].as_str() {
        Some("tool_calls" | "function_call") => "tool_use",
        Some("length") => "max_tokens",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    };
    Ok(AssembledMessage {
        id: body["id"].as_str().unwrap_or_default().to_owned(),
        model: body["model"].as_str().unwrap_or_default().to_owned(),
        content,
        stop_reason: Some(stop_reason.to_owned()),
        usage: usage(&body["usage"]),
    })
}

/// `prompt_tokens` include the cached ones (`prompt_tokens_details.cached_tokens`): they
/// are counted once, as cache reads.
fn usage(usage: &Value) -> Usage {
    let count = |v: &Value| v.as_u64().unwrap_or(0);
    let prompt = count(&usage["prompt_tokens"]);
    let cached = count(&usage["prompt_tokens_details"]["cached_tokens"]).min(prompt);
    Usage {
        input_tokens: prompt - cached,
        output_tokens: count(&usage["completion_tokens"]),
        cache_read_input_tokens: cached,
        ..Usage::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_of(messages: &[Message], tools: &[Value]) -> Value {
        request_body(&MessagesRequest {
            model: "llama3.1",
            max_tokens: 100,
            system: "be brief",
            tools,
            messages,
        })
    }

    #[test]
    fn a_conversation_with_tool_calls_becomes_chat_messages_in_order() {
        let messages = vec![
            Message::user_text("do it"),
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::Text {
                        text: "writing".into(),
                    },
                    ContentBlock::ToolUse {
                        id: "call_1".into(),
                        name: "write_file".into(),
                        input: json!({"path": "a.txt"}),
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: "call_1".into(),
                    content: "no such directory".into(),
                    is_error: true,
                }],
            },
        ];
        let tool =
            json!({"name": "write_file", "description": "d", "input_schema": {"type": "object"}});
        let body = request_of(&messages, &[tool]);
        assert_eq!(body["stream"], false);
        assert_eq!(
            body["messages"],
            json!([
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "do it"},
                {"role": "assistant", "content": "writing", "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "write_file", "arguments": "{\"path\":\"a.txt\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "error: no such directory"},
            ])
        );
        assert_eq!(
            body["tools"],
            json!([{"type": "function", "function": {"name": "write_file", "description": "d", "parameters": {"type": "object"}}}])
        );
    }

    #[test]
    fn a_response_with_tool_calls_and_cached_tokens_is_read_back() {
        let body = json!({
            "id": "chatcmpl-1", "model": "llama3.1:8b",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "run_command", "arguments": "{\"command\":\"ls\"}"}},
                    {"id": "c2", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":"}}
                ]}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "prompt_tokens_details": {"cached_tokens": 100}}
        });
        let reply = parse_response(&body).unwrap();
        assert_eq!(reply.stop_reason.as_deref(), Some("tool_use"));
        assert_eq!(reply.model, "llama3.1:8b");
        let calls: Vec<_> = reply.tool_uses().collect();
        assert_eq!(calls[0], ("c1", "run_command", &json!({"command": "ls"})));
        assert!(calls[1].2.get("__invalid_json").is_some());
        assert_eq!(
            (
                reply.usage.input_tokens,
                reply.usage.cache_read_input_tokens,
                reply.usage.output_tokens
            ),
            (20, 100, 30)
        );
    }

    #[test]
    fn a_response_without_choices_is_an_error_not_an_empty_reply() {
        assert!(parse_response(&json!({"error": "x"})).is_err());
    }
}
