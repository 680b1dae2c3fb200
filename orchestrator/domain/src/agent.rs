//! Agents: the workers that tasks are given to.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ValidationError, role::RoleName, time::Timestamp, validation::slug};

/// An agent's id, a slug such as `build-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct AgentId(String);

impl AgentId {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        slug("agent_id", raw.trim(), 64).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How an agent runs: the harness's own agent loop on the Anthropic Messages API or on
/// an OpenAI-compatible Chat Completions endpoint (OpenAI, Ollama, vLLM, llama.cpp's
/// server), a CLI agent child process, or an agent over the Agent Client Protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeKind {
    Anthropic,
    #[serde(rename = "openai")]
    OpenAi,
    Cli,
    Acp,
}

impl RuntimeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::OpenAi => "openai",
            Self::Cli => "cli",
            Self::Acp => "acp",
        }
    }

    /// The harness's own agent loop (in-process, over a model API), not a CLI child.
    pub fn is_own_loop(self) -> bool {
        matches!(self, Self::Anthropic | Self::OpenAi)
    }

    /// An agent process that brings its own tools (a CLI or an ACP agent): the harness
    /// cannot hold it to a read-only role's tools.
    pub fn brings_own_tools(self) -> bool {
        matches!(self, Self::Cli | Self::Acp)
    }
}

/// What an agent is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Idle,
    Working,
    Error,
    Disabled,
    /// The runtime cannot run (no API key, CLI missing, …); `status_reason` says what to set.
    Unconfigured,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Working => "working",
            Self::Error => "error",
            Self::Disabled => "disabled",
            Self::Unconfigured => "unconfigured",
        }
    }
}

macro_rules! parse_by_name {
    ($ty:ty, $field:literal, [$($variant:expr),+ $(,)?]) => {
        impl FromStr for $ty {
            type Err = ValidationError;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                [$($variant),+]
                    .into_iter()
                    .find(|v| v.as_str() == raw.trim())
                    .ok_or_else(|| ValidationError::new($field, format!("unknown {} '{raw}'", $field)))
            }
        }
    };
}

parse_by_name!(
    RuntimeKind,
    "runtime",
    [
        RuntimeKind::Anthropic,
        RuntimeKind::OpenAi,
        RuntimeKind::Cli,
        RuntimeKind::Acp
    ]
);
parse_by_name!(
    AgentStatus,
    "status",
    [
        AgentStatus::Idle,
        AgentStatus::Working,
        AgentStatus::Error,
        AgentStatus::Disabled,
        AgentStatus::Unconfigured,
    ]
);

/// A model name such as `claude-sonnet-4-5`: 1 to 100 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelName(String);

impl ModelName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let raw = raw.trim();
        if !raw.is_empty() && raw.len() <= 100 && raw.chars().all(|c| c.is_ascii_graphic()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                "model",
                "model must be 1-100 visible ASCII characters",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many sessions one agent may run at once: 1 to 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency(u32);

impl Concurrency {
    pub fn parse(raw: i64) -> Result<Self, ValidationError> {
        match u32::try_from(raw) {
            Ok(n @ 1..=16) => Ok(Self(n)),
            _ => Err(ValidationError::new(
                "max_concurrency",
                "max_concurrency must be between 1 and 16",
            )),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// An agent as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Agent {
    #[schema(value_type = String)]
    pub id: AgentId,
    pub name: String,
    /// The name of its role (`GET /api/roles`).
    #[schema(value_type = String)]
    pub role: RoleName,
    pub model: String,
    pub runtime: RuntimeKind,
    pub max_concurrency: u32,
    pub enabled: bool,
    pub status: AgentStatus,
    /// Why the agent is in `error` or `unconfigured`, and what to do about it.
    pub status_reason: Option<String>,
    pub last_heartbeat: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A validated partial update of an agent.
#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub enabled: Option<bool>,
    pub model: Option<ModelName>,
    pub max_concurrency: Option<Concurrency>,
}

/// The agent set seeded on first start: one for each role that took tasks before roles
/// were data, two builders. Agents of the other roles (evaluator, validation, …) are
/// added in `harness.toml` `[agents.NAME] role = …`, which turns those jobs on.
pub fn default_agents() -> Vec<(AgentId, &'static str, RoleName, u32)> {
    [
        ("build-1", "Builder 1", "build", 1),
        ("build-2", "Builder 2", "build", 1),
        ("spec", "Spec writer", "spec", 1),
        ("qa", "QA reviewer", "qa", 2),
        ("research", "Researcher", "research", 1),
        ("planning", "Planner", "planning", 1),
        ("investigator", "Investigator", "investigator", 1),
        ("clarification", "Clarifier", "clarification", 1),
    ]
    .into_iter()
    .map(|(id, name, role, n)| (AgentId(id.to_owned()), name, RoleName::builtin(role), n))
    .collect()
}

/// The model new agents use unless configured otherwise.
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids_are_slugs() {
        assert!(AgentId::parse("build-1").is_ok());
        assert!(AgentId::parse("Build 1").is_err());
    }

    #[test]
    fn every_default_agent_has_a_builtin_role() {
        let registry = crate::role::RoleRegistry::default();
        for (id, _, role, _) in default_agents() {
            assert!(registry.get(role.as_str()).is_some(), "{id}");
        }
    }

    #[test]
    fn concurrency_outside_1_to_16_is_rejected() {
        assert!(Concurrency::parse(0).is_err());
        assert!(Concurrency::parse(17).is_err());
        assert_eq!(Concurrency::parse(4).unwrap().get(), 4);
    }
}
