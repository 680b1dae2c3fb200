//! What crosses the network between the orchestrator and a worker (JSON over HTTP).

use harness_domain::{agent::RuntimeKind, session::LogKind};
use serde::{Deserialize, Serialize};

pub use harness_engine::tools::CreateTask;
use harness_engine::{
    anthropic::PausedConversation, prompt::TaskBrief, runtime::Resume, safe_git, session::Usage,
};

/// The paths of the worker API, relative to the orchestrator's base URL.
pub const ASSIGNMENT: &str = "/worker/v1/assignment";
pub const EVENTS: &str = "/worker/v1/events";
pub const RESULT: &str = "/worker/v1/result";
/// A planning agent's `create_task`: the body is [`CreateTask`], the answer
/// [`SubtaskAnswer`].
pub const TASKS: &str = "/worker/v1/tasks";
/// The workspace repository, served over git's smart HTTP protocol.
pub const GIT: &str = "/worker/v1/git/repo.git";

/// The most events one batch may carry.
pub const MAX_BATCH: usize = 256;
/// How long a worker retries an orchestrator it cannot reach when the assignment does
/// not say (and before it has one): an orchestrator restarting comes back well within it.
pub(crate) const RECONNECT_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

/// One attempt's work, as the worker needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assignment {
    pub attempt: i64,
    /// The branch to clone, work on and push back.
    pub branch: String,
    /// The branch it starts from (readable, never writable).
    pub base: String,
    pub role_instructions: String,
    /// The role's tools (roles as data): the worker offers the model only these.
    pub tools: Vec<harness_domain::role::Tool>,
    pub brief: TaskBrief,
    pub runtime: RuntimeKind,
    pub model: String,
    /// The CLI agent's command line (`runtime = cli`).
    pub cli_command: Vec<String>,
    /// The own loop's model API base URL: Anthropic's, or the OpenAI-compatible
    /// endpoint's for `runtime = openai` (the name is older than that runtime).
    pub anthropic_base_url: String,
    pub verify: Vec<String>,
    pub verify_timeout_secs: f64,
    pub session_timeout_secs: f64,
    /// How often the worker must show a sign of life.
    pub heartbeat_secs: f64,
    pub author_name: String,
    pub author_email: String,
    /// Extra directories the agent may read and run (toolchains), for a worker on the
    /// orchestrator's own machine (the `process` executor); empty in containers.
    #[serde(default)]
    pub read_paths: Vec<std::path::PathBuf>,
    /// Unused: whether the agent may create tasks is whether `tools` has
    /// `create_task` ([`Assignment::creates_tasks`]). Kept so assignments stay readable
    /// by workers of either version.
    #[serde(default)]
    pub planning: bool,
    /// Longest one git command may run (the orchestrator's `HARNESS_GIT_TIMEOUT_SECS`);
    /// absent from an older orchestrator: [`safe_git::GIT_TIMEOUT`].
    #[serde(default)]
    pub git_timeout_secs: Option<f64>,
    /// How long the worker keeps retrying an orchestrator it cannot reach
    /// (`HARNESS_WORKER_RECONNECT_SECS`); absent from an older orchestrator: 300 s.
    #[serde(default)]
    pub reconnect_secs: Option<f64>,
    /// The orchestrator's price table (`[prices]` over the built-in one), so a remote
    /// session costs what a local one would; absent from an older orchestrator: the
    /// built-in table.
    #[serde(default)]
    pub prices: Option<harness_engine::anthropic::PriceTable>,
    /// Set when a human answered the question the task's previous attempt asked: the
    /// agent continues that conversation, on the branch that holds the work it pushed.
    #[serde(default)]
    pub resume: Option<Resume>,
}

impl Assignment {
    /// Whether its role has `create_task` (planning agents): the worker offers the
    /// tool, and the orchestrator takes the worker's [`TASKS`] requests, only then.
    pub fn creates_tasks(&self) -> bool {
        self.tools.contains(&harness_domain::role::Tool::CreateTask)
    }

    /// How long the worker waits out an orchestrator it cannot reach: what the
    /// orchestrator set, within the bounds it checks, else [`RECONNECT_WINDOW`].
    pub(crate) fn reconnect_window(&self) -> std::time::Duration {
        self.reconnect_secs
            .filter(|secs| (10.0..=86_400.0).contains(secs))
            .map(std::time::Duration::from_secs_f64)
            .unwrap_or(RECONNECT_WINDOW)
    }

    /// The git timeout the orchestrator set, or git's default; a bad value (not a
    /// positive, finite number of seconds) is the default too.
    pub fn git_timeout(&self) -> std::time::Duration {
        self.git_timeout_secs
            .and_then(|secs| std::time::Duration::try_from_secs_f64(secs).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(safe_git::GIT_TIMEOUT)
    }
}

/// One thing that happened in the worker's session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerEvent {
    Log { kind: LogKind, text: String },
    Usage { usage: Usage, cost_usd: f64 },
}

/// Events numbered from `first_seq`. A heartbeat is an empty batch. The orchestrator
/// skips events it already has, so resending after a dropped connection is harmless.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventBatch {
    pub first_seq: u64,
    pub events: Vec<WorkerEvent>,
}

/// The orchestrator's answer to a batch: the next sequence number it expects.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Ack {
    pub next_seq: u64,
    /// The attempt was cancelled: the worker should stop.
    pub cancelled: bool,
}

/// How the worker's session ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum WorkerOutcome {
    /// The agent finished, the branch is pushed at `head`, and verification ran.
    Completed {
        summary: String,
        head: String,
        verified: bool,
        verify_summary: String,
        /// The agent's word on why nothing needed to change (`complete_task`).
        #[serde(default)]
        no_changes_needed: Option<String>,
    },
    /// The task's work failed (uses an attempt).
    Failed {
        reason: String,
    },
    TimedOut,
    /// Not the task's fault (rate limit, the worker's own trouble): requeue.
    Interrupted {
        reason: String,
    },
    Unconfigured {
        reason: String,
    },
    /// The agent asked a human (`ask_human`). Its work so far is committed and pushed
    /// to the branch at `head`; `paused` is the conversation to resume (none for CLI
    /// agents).
    WaitingForHuman {
        question: String,
        #[serde(default)]
        paused: Option<PausedConversation>,
        head: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerResult {
    /// Every event before the result is acknowledged first (`next_seq`).
    pub next_seq: u64,
    #[serde(flatten)]
    pub outcome: WorkerOutcome,
    pub last_message: String,
}

/// The orchestrator's answer to a worker's [`TASKS`] request. A refusal by the board
/// (an unknown dependency, the attempt's bound) is an answer, not an HTTP error: its
/// text goes back to the agent as the tool's error.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SubtaskAnswer {
    Created { display_id: String },
    Refused { reason: String },
}
