//! The operations log: an append-only record of what happened.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ValidationError, time::Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

impl FromStr for Severity {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        [Self::Info, Self::Warning, Self::Error]
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| ValidationError::new("severity", format!("unknown severity '{raw}'")))
    }
}

/// An event as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub id: i64,
    /// Dotted name such as `task.created` or `budget.exceeded`.
    #[serde(rename = "type")]
    pub kind: String,
    pub severity: Severity,
    pub task_id: Option<i64>,
    pub agent_id: Option<String>,
    pub session_id: Option<i64>,
    pub message: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub at: Timestamp,
}

/// An event about to be recorded.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: &'static str,
    pub severity: Severity,
    pub task_id: Option<i64>,
    pub agent_id: Option<String>,
    pub session_id: Option<i64>,
    pub message: String,
    pub payload: serde_json::Value,
}

impl NewEvent {
    pub fn info(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            severity: Severity::Info,
            task_id: None,
            agent_id: None,
            session_id: None,
            message: message.into(),
            payload: serde_json::Value::Null,
        }
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn for_task(mut self, id: i64) -> Self {
        self.task_id = Some(id);
        self
    }

    pub fn for_agent(mut self, id: impl Into<String>) -> Self {
        self.agent_id = Some(id.into());
        self
    }

    pub fn for_session(mut self, id: i64) -> Self {
        self.session_id = Some(id);
        self
    }

    pub fn with_payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = payload;
        self
    }
}
