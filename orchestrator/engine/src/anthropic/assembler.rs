//! The assembler that turns the Messages API's stream events (`message_start` …
//! `message_stop`) into one [`AssembledMessage`]. The SSE framing itself is parsed by
//! `eventsource-stream` (see [`super::events`]).

use eventsource_stream::Event;
use serde_json::Value;

use super::types::{AssembledMessage, ContentBlock};
use crate::session::Usage;

/// Why a stream could not be assembled. Fatal for the request: the API sent something
/// this client cannot read, and resending it would not change that.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("bad JSON in '{event}' event: {source}")]
    BadJson {
        event: String,
        source: serde_json::Error,
    },
    #[error("response larger than {0} bytes")]
    ResponseTooLarge(usize),
    #[error("stream event larger than {0} bytes")]
    EventTooLarge(usize),
    #[error("stream is not UTF-8: {0}")]
    NotUtf8(std::string::FromUtf8Error),
    #[error("stream is not server-sent events: {0}")]
    NotSse(String),
    #[error("delta for unknown content block {0}")]
    UnknownBlock(usize),
    #[error("content block event without a valid index")]
    MissingIndex,
}

/// What an event meant for the stream as a whole.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamStatus {
    Continue,
    Done,
    /// An `error` event: its `error.type` and message.
    Error {
        kind: String,
        message: String,
    },
}

/// Builds the message from `message_start` … `message_stop`.
#[derive(Debug, Default)]
pub(crate) struct MessageAssembler {
    message: AssembledMessage,
    /// Partial JSON of tool inputs, per content index.
    partial_json: Vec<String>,
    bytes: usize,
    max_bytes: usize,
}

impl MessageAssembler {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            ..Self::default()
        }
    }

    /// Applies one SSE event. Unknown event types (e.g. `ping`) are ignored, as the API
    /// documentation asks clients to do.
    pub fn apply(&mut self, event: &Event) -> Result<StreamStatus, StreamError> {
        if event.data.is_empty() {
            return Ok(StreamStatus::Continue);
        }
        let data: Value =
            serde_json::from_str(&event.data).map_err(|source| StreamError::BadJson {
                event: event.event.clone(),
                source,
            })?;
        let kind = data["type"].as_str().unwrap_or(event.event.as_str());
        match kind {
            "message_start" => self.start(&data["message"]),
            "content_block_start" => self.block_start(&data)?,
            "content_block_delta" => self.block_delta(&data)?,
            "content_block_stop" => self.block_stop(&data)?,
            "message_delta" => {
                if let Some(reason) = data["delta"]["stop_reason"].as_str() {
                    self.message.stop_reason = Some(reason.to_owned());
                }
                merge_usage(&mut self.message.usage, &data["usage"]);
            }
            "message_stop" => return Ok(StreamStatus::Done),
            "error" => {
                return Ok(StreamStatus::Error {
                    kind: data["error"]["type"]
                        .as_str()
                        .unwrap_or("unknown")
                        .to_owned(),
                    message: data["error"]["message"].as_str().unwrap_or("").to_owned(),
                });
            }
            _ => {}
        }
        Ok(StreamStatus::Continue)
    }

    /// The finished message. Tool inputs that never closed become `{}`, flagged by the
    /// caller through `stop_reason == "max_tokens"`.
    pub fn finish(self) -> AssembledMessage {
        self.message
    }

    fn start(&mut self, message: &Value) {
        self.message.id = message["id"].as_str().unwrap_or_default().to_owned();
        self.message.model = message["model"].as_str().unwrap_or_default().to_owned();
        merge_usage(&mut self.message.usage, &message["usage"]);
    }

    fn block_start(&mut self, data: &Value) -> Result<(), StreamError> {
        let index = index_of(data)?;
        let block = &data["content_block"];
        let parsed = match block["type"].as_str() {
            Some("text") => ContentBlock::Text {
                text: block["text"].as_str().unwrap_or_default().to_owned(),
            },
            Some("tool_use") => ContentBlock::ToolUse {
                id: block["id"].as_str().unwrap_or_default().to_owned(),
                name: block["name"].as_str().unwrap_or_default().to_owned(),
                // Normally `{}` with the input in deltas; keep it if it came whole.
                input: match &block["input"] {
                    Value::Object(map) => Value::Object(map.clone()),
                    _ => Value::Object(Default::default()),
                },
            },
            Some("thinking") => ContentBlock::Thinking {
                thinking: String::new(),
                signature: String::new(),
            },
            // Other block types (server tools, redacted thinking) are not used by us.
            _ => ContentBlock::Text {
                text: String::new(),
            },
        };
        while self.message.content.len() <= index {
            self.message.content.push(ContentBlock::Text {
                text: String::new(),
            });
            self.partial_json.push(String::new());
        }
        self.message.content[index] = parsed;
        Ok(())
    }

    fn block_delta(&mut self, data: &Value) -> Result<(), StreamError> {
        let index = index_of(data)?;
        let delta = &data["delta"];
        let piece = match delta["type"].as_str() {
            Some("text_delta") => delta["text"].as_str().unwrap_or_default(),
            Some("input_json_delta") => delta["partial_json"].as_str().unwrap_or_default(),
            Some("thinking_delta") => delta["thinking"].as_str().unwrap_or_default(),
            Some("signature_delta") => delta["signature"].as_str().unwrap_or_default(),
            _ => return Ok(()),
        };
        self.bytes += piece.len();
        if self.bytes > self.max_bytes {
            return Err(StreamError::ResponseTooLarge(self.max_bytes));
        }
        let (Some(block), Some(json)) = (
            self.message.content.get_mut(index),
            self.partial_json.get_mut(index),
        ) else {
            return Err(StreamError::UnknownBlock(index));
        };
        match (block, delta["type"].as_str()) {
            (ContentBlock::Text { text }, Some("text_delta")) => text.push_str(piece),
            (ContentBlock::ToolUse { .. }, Some("input_json_delta")) => json.push_str(piece),
            (ContentBlock::Thinking { thinking, .. }, Some("thinking_delta")) => {
                thinking.push_str(piece)
            }
            (ContentBlock::Thinking { signature, .. }, Some("signature_delta")) => {
                signature.push_str(piece)
            }
            _ => {}
        }
        Ok(())
    }

    fn block_stop(&mut self, data: &Value) -> Result<(), StreamError> {
        let index = index_of(data)?;
        if let (Some(ContentBlock::ToolUse { input, .. }), Some(json)) = (
            self.message.content.get_mut(index),
            self.partial_json.get_mut(index),
        ) && !json.is_empty()
        {
            *input = serde_json::from_str(json).unwrap_or_else(|e| {
                // Keep the raw text so the agent loop can tell the model what went wrong.
                serde_json::json!({ "__invalid_json": json.clone(), "__error": e.to_string() })
            });
            json.clear();
        }
        Ok(())
    }
}

fn index_of(data: &Value) -> Result<usize, StreamError> {
    data["index"]
        .as_u64()
        .and_then(|i| usize::try_from(i).ok())
        .filter(|&i| i < 1024)
        .ok_or(StreamError::MissingIndex)
}

/// Usage fields arrive in `message_start` and (cumulatively) in `message_delta`; a
/// field present in the later event replaces the earlier value.
fn merge_usage(usage: &mut Usage, value: &Value) {
    let set = |field: &mut u64, key: &str| {
        if let Some(n) = value[key].as_u64() {
            *field = n;
        }
    };
    set(&mut usage.input_tokens, "input_tokens");
    set(&mut usage.output_tokens, "output_tokens");
    set(
        &mut usage.cache_creation_input_tokens,
        "cache_creation_input_tokens",
    );
    set(
        &mut usage.cache_read_input_tokens,
        "cache_read_input_tokens",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1,\"cache_creation_input_tokens\":10,\"cache_read_input_tokens\":5}}}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"read_file\",\"input\":{}}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"path\\\": \\\"a\"}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\".txt\\\"}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );

    async fn assemble(chunks: &[&'static [u8]]) -> (AssembledMessage, StreamStatus) {
        let body = futures_util::stream::iter(
            chunks
                .iter()
                .map(|c| Ok::<_, std::convert::Infallible>(bytes::Bytes::from_static(c))),
        );
        let events: Vec<_> =
            futures_util::StreamExt::collect(super::super::events::bounded_events(body, 1 << 20))
                .await;
        let mut asm = MessageAssembler::new(1 << 20);
        let mut last = StreamStatus::Continue;
        for event in events {
            last = asm.apply(&event.ok().unwrap()).unwrap();
        }
        (asm.finish(), last)
    }

    #[tokio::test]
    async fn a_streamed_reply_with_text_and_a_tool_call_is_assembled() {
        let (msg, status) = assemble(&[STREAM.as_bytes()]).await;
        assert_eq!(status, StreamStatus::Done);
        assert_eq!(msg.id, "msg_1");
        assert_eq!(msg.text(), "Hello");
        let tools: Vec<_> = msg.tool_uses().collect();
        assert_eq!(tools.len(), 1);
        assert_eq!(tools[0].1, "read_file");
        assert_eq!(tools[0].2["path"], "a.txt");
        assert_eq!(msg.stop_reason.as_deref(), Some("tool_use"));
        assert_eq!(msg.usage.input_tokens, 25);
        assert_eq!(msg.usage.output_tokens, 42);
        assert_eq!(msg.usage.cache_creation_input_tokens, 10);
        assert_eq!(msg.usage.cache_read_input_tokens, 5);
    }

    #[tokio::test]
    async fn events_split_across_chunks_at_any_byte_are_reassembled() {
        let bytes = STREAM.as_bytes();
        let chunks: Vec<&'static [u8]> = bytes.chunks(7).collect();
        let (msg, status) = assemble(&chunks).await;
        assert_eq!(status, StreamStatus::Done);
        assert_eq!(msg.tool_uses().count(), 1);
    }

    #[tokio::test]
    async fn an_error_event_is_reported_with_its_type() {
        let (_, status) = assemble(&[b"event: error\r\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\r\n\r\n"]).await;
        assert_eq!(
            status,
            StreamStatus::Error {
                kind: "overloaded_error".into(),
                message: "Overloaded".into()
            }
        );
    }
}
