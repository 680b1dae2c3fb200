//! Messages API shapes: conversation messages, content blocks, and the assembled reply.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::session::Usage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// One message of the conversation. Serializable so a paused conversation (ask_human)
/// can be stored and resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

impl Message {
    pub fn user_text(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: vec![ContentBlock::Text { text: text.into() }],
        }
    }
}

/// The content blocks the harness sends and receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        content: ToolResultContent,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    /// Extended-thinking blocks are kept verbatim so they can be sent back unchanged.
    Thinking {
        thinking: String,
        #[serde(default)]
        signature: String,
    },
}

/// A tool result's content: plain text, or blocks when it carries an image (a browser
/// screenshot), as the Messages API takes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolResultContent {
    Text(String),
    Blocks(Vec<ToolResultBlock>),
}

impl ToolResultContent {
    /// `text` followed by a PNG image.
    pub(crate) fn text_and_png(text: String, png: &[u8]) -> Self {
        use base64::Engine;
        Self::Blocks(vec![
            ToolResultBlock::Text { text },
            ToolResultBlock::Image {
                source: ImageSource {
                    kind: "base64".into(),
                    media_type: "image/png".into(),
                    data: base64::engine::general_purpose::STANDARD.encode(png),
                },
            },
        ])
    }
}

impl From<String> for ToolResultContent {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for ToolResultContent {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

/// One block of a tool result's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolResultBlock {
    Text { text: String },
    Image { source: ImageSource },
}

/// An image given inline: `{"type":"base64","media_type":"image/png","data":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageSource {
    #[serde(rename = "type")]
    pub kind: String,
    pub media_type: String,
    pub data: String,
}

/// A complete assistant reply, assembled from the stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssembledMessage {
    pub id: String,
    pub model: String,
    pub content: Vec<ContentBlock>,
    pub stop_reason: Option<String>,
    pub usage: Usage,
}

impl AssembledMessage {
    /// All text blocks, joined.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        parts.join("\n")
    }

    /// The tool_use blocks, in order.
    pub(crate) fn tool_uses(&self) -> impl Iterator<Item = (&str, &str, &Value)> {
        self.content.iter().filter_map(|b| match b {
            ContentBlock::ToolUse { id, name, input } => Some((id.as_str(), name.as_str(), input)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_tool_result_with_a_screenshot_is_sent_as_text_and_image_blocks() {
        let block = ContentBlock::ToolResult {
            tool_use_id: "t1".into(),
            content: ToolResultContent::text_and_png("a screenshot".into(), b"\x89PNG"),
            is_error: false,
        };
        assert_eq!(
            serde_json::to_value(&block).unwrap(),
            json!({"type":"tool_result","tool_use_id":"t1","content":[
                {"type":"text","text":"a screenshot"},
                {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw=="}}
            ]})
        );
    }

    #[test]
    fn a_stored_text_tool_result_still_reads_back() {
        let stored = json!({"type":"tool_result","tool_use_id":"t1","content":"ok"});
        let block: ContentBlock = serde_json::from_value(stored).unwrap();
        assert!(matches!(
            block,
            ContentBlock::ToolResult { content: ToolResultContent::Text(t), .. } if t == "ok"
        ));
    }
}
