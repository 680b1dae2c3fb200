//! Sessions: one run of an agent on a task, and its log.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ValidationError, time::Timestamp};

crate::validation::positive_id!(
    /// Database id of a session. Positive.
    SessionId,
    "session"
);

/// How a session ended, or that it is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// The orchestrator stopped (crash, restart) while it ran.
    Interrupted,
}

impl SessionStatus {
    pub const ALL: [SessionStatus; 5] = [
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
        }
    }
}

impl FromStr for SessionStatus {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw.trim())
            .ok_or_else(|| {
                ValidationError::new("status", format!("unknown session status '{raw}'"))
            })
    }
}

/// Tokens a session used, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
    }
}

/// A session as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub id: SessionId,
    /// `null` once the task was deleted; the session stays so its spend is counted.
    pub task_id: Option<crate::task::TaskId>,
    pub agent_id: String,
    pub model: String,
    pub status: SessionStatus,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub exit_reason: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cost_usd: f64,
    /// `attempt` (works on the task) or `investigation` (diagnoses a blocked task).
    pub purpose: String,
    /// The git branch the attempt worked on.
    pub branch: Option<String>,
    /// The commit of the agent's changes, once made.
    pub commit_sha: Option<String>,
    /// The tail of the verification output.
    pub verify_output: Option<String>,
    /// How the branch was brought up to the base before verification (`merge`), or
    /// `base-moved` on a remote attempt whose verified branch found the base moved (the
    /// task was requeued; `HARNESS_LAND_TRIES` such rounds in a row fail the attempt).
    pub landing: Option<String>,
    /// Where the session runs: `local`, `docker`, `kubernetes` or `process` (null for
    /// sessions from before executors).
    pub executor: Option<String>,
    /// The container, pod or process it runs in on a remote executor.
    pub executor_name: Option<String>,
    /// The Kubernetes node or Docker engine host it runs on, once known.
    pub executor_node: Option<String>,
    /// Bytes of log stored for this session (capped by HARNESS_SESSION_LOG_MAX_BYTES).
    pub log_bytes: u64,
}

/// What a session log line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// A model message.
    Text,
    /// A tool call: JSON `{"name","input"}`.
    ToolCall,
    /// A tool's answer: JSON `{"name","output","is_error"}`.
    ToolResult,
    /// Output of a command.
    Output,
    /// A note from the orchestrator itself.
    System,
    Commit,
    Diff,
}

impl LogKind {
    pub const ALL: [LogKind; 7] = [
        Self::Text,
        Self::ToolCall,
        Self::ToolResult,
        Self::Output,
        Self::System,
        Self::Commit,
        Self::Diff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::ToolCall => "tool_call",
            Self::ToolResult => "tool_result",
            Self::Output => "output",
            Self::System => "system",
            Self::Commit => "commit",
            Self::Diff => "diff",
        }
    }
}

impl FromStr for LogKind {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| ValidationError::new("kind", format!("unknown log kind '{raw}'")))
    }
}

/// One line of a session's append-only log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogLine {
    pub session_id: SessionId,
    /// 1, 2, 3, … within the session.
    pub seq: i64,
    pub at: Timestamp,
    pub kind: LogKind,
    pub content: String,
}

/// Longest log line kept; longer content is cut with a marker, so one runaway
/// command cannot fill the database.
pub(crate) const MAX_LOG_LINE_BYTES: usize = 64 * 1024;

/// Cuts `content` to [`MAX_LOG_LINE_BYTES`] at a character boundary.
pub fn clip_log_content(content: &str) -> String {
    if content.len() <= MAX_LOG_LINE_BYTES {
        return content.to_owned();
    }
    let mut end = MAX_LOG_LINE_BYTES;
    while !content.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [cut {} bytes]", &content[..end], content.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_log_line_is_cut_at_a_char_boundary() {
        let long = "é".repeat(MAX_LOG_LINE_BYTES);
        let clipped = clip_log_content(&long);
        assert!(clipped.len() < long.len());
        assert!(clipped.ends_with("bytes]"));
    }

    #[test]
    fn usage_adds_up() {
        let mut u = Usage {
            input_tokens: 1,
            ..Usage::default()
        };
        u.add(Usage {
            input_tokens: 2,
            output_tokens: 3,
            ..Usage::default()
        });
        assert_eq!((u.input_tokens, u.output_tokens), (3, 3));
    }
}
