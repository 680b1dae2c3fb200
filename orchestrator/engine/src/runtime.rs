//! One interface over both runtimes, so the scheduler runs a session the same way
//! whether the agent is `anthropic` or `cli`, and can swap in a fake in tests.
//!
//! The outcome says plainly whether an attempt was used: rate limits, outages, bad keys
//! and cancellations are not the task's failure.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use harness_domain::task::NewTask;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{
    anthropic::{
        AgentLoop, AnthropicError, Client, LoopConfig, LoopOutcome, Message, PausedConversation,
        PriceTable, RateGate, ToolExecutor,
    },
    browser::{BrowserLimits, LaunchConfig, OriginPolicy, SessionBrowser},
    confine::WorktreeRoot,
    prompt::{TaskBrief, system_prompt, task_message},
    session::{LogKind, SessionSink, Usage},
    tools::{
        self, ToolLimits, ToolOutcome, ToolSet, Workspace, browser::BrowserTools,
        findings::FindingReporter, groups::ToolGroups,
    },
};

/// Creates subtasks for planning agents. Implemented by the scheduler over the store;
/// returns the new task's display id. The task arrives validated by the domain's types
/// with the default category; the creator gives it the planning task's.
/// Async because a remote worker's creator asks the orchestrator over the network.
pub trait TaskCreator: Send + Sync {
    fn create(&self, task: NewTask) -> BoxFuture<'_, Result<String, CreateTaskError>>;
}

/// Why the board did not take a subtask. Its text goes back to the model.
#[derive(Debug, thiserror::Error)]
pub enum CreateTaskError {
    /// The board refused or could not store it (an unknown dependency, a busy database).
    #[error("{0}")]
    Board(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The attempt already created as many subtasks as one attempt may.
    #[error("this attempt already created {0} tasks, the most one attempt may create")]
    TooMany(u32),
    /// The orchestrator's board refused a remote worker's subtask; its reason.
    #[error("the orchestrator did not create the task: {0}")]
    Remote(String),
    /// A remote worker's request did not get an answer to use (the network, a 4xx).
    #[error("{0}")]
    Request(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why a runtime cannot run; the text says what to set or install.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("set ANTHROPIC_API_KEY to use the anthropic runtime")]
    MissingApiKey,
    #[error("the agent command `{0}` was not found; install it or set the agent's command")]
    ProgramNotFound(String),
}

/// Everything one session needs.
pub struct SessionRequest {
    pub worktree: PathBuf,
    /// The role's instructions (build, spec, QA…), the start of the system prompt.
    pub role_instructions: String,
    pub brief: TaskBrief,
    /// A conversation paused on `ask_human`, and the human's answer (anthropic only).
    pub resume: Option<(PausedConversation, String)>,
    /// Wall-clock limit of the session.
    pub timeout: Duration,
    pub cancel: CancellationToken,
    /// Set for planning agents; enables the `create_task` tool.
    pub task_creator: Option<Arc<dyn TaskCreator>>,
    /// The tools its role may use (anthropic; a CLI agent brings its own tools).
    pub tools: ToolSet,
    /// The `browser` group, when the agent has it (anthropic only).
    pub browser: Option<BrowserGrant>,
}

/// Resuming after a human answered the agent's `ask_human`: what the next attempt of
/// the task gets, locally or in a remote worker's assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    /// The conversation to continue, when the runtime can resume one (anthropic).
    pub paused: Option<PausedConversation>,
    /// The agent's question; empty for a person's follow-up (a change request after
    /// review, a message), which `answer` then holds.
    pub question: String,
    pub answer: String,
}

impl Resume {
    /// What [`SessionRequest::resume`] gets. A runtime that cannot continue a
    /// conversation (CLI agents) finds the question and the answer in its brief instead.
    pub fn into_request(self, brief: &mut TaskBrief) -> Option<(PausedConversation, String)> {
        match self.paused {
            Some(paused) => Some((paused, self.answer)),
            // A person's follow-up (no question asked) is said as it is.
            None if self.question.is_empty() => {
                brief.description.push_str(&format!("\n\n{}", self.answer));
                None
            }
            None => {
                brief.description.push_str(&format!(
                    "\n\nYou asked: {}\nA human answered: {}",
                    self.question, self.answer
                ));
                None
            }
        }
    }
}

/// What a session needs to get the `browser` tool group: where Chromium is, which
/// origins it may open, and where findings go. The browser itself starts on first use.
#[derive(Clone)]
pub struct BrowserGrant {
    pub chromium: PathBuf,
    /// Where browser profiles are made (see [`LaunchConfig::profiles_dir`]).
    pub profiles_dir: PathBuf,
    pub policy: OriginPolicy,
    pub findings: Option<Arc<dyn FindingReporter>>,
}

/// How a session ended, from the scheduler's point of view.
#[derive(Debug, Clone)]
pub enum SessionOutcome {
    /// The agent says it is done: commit and verify next.
    Completed {
        summary: String,
        /// Why the task needed no change to the repository, when the agent changed
        /// nothing: a role that must change it fails without this.
        no_changes_needed: Option<String>,
        /// The conversation to continue after a person's review (anthropic).
        conversation: Option<Box<PausedConversation>>,
    },
    /// The attempt failed; this uses an attempt.
    Failed {
        reason: String,
    },
    /// Waiting for a human; `paused` is stored to resume (anthropic), `None` for cli.
    WaitingForHuman {
        question: String,
        paused: Option<PausedConversation>,
    },
    /// Not the task's fault (rate limit retries exhausted, API outage): requeue without
    /// using an attempt, not before `retry_at` when known.
    Interrupted {
        reason: String,
        retry_at: Option<DateTime<Utc>>,
    },
    /// The runtime cannot run (bad key, missing CLI): mark the agent `unconfigured`.
    Unconfigured {
        reason: String,
    },
    Cancelled,
    /// The session timeout fired; the normal failure path applies.
    TimedOut,
}

impl SessionOutcome {
    /// True when this outcome uses one of the task's attempts.
    pub fn uses_attempt(&self) -> bool {
        matches!(
            self,
            SessionOutcome::Failed { .. } | SessionOutcome::TimedOut
        )
    }
}

/// The outcome with usage and the agent's last words.
#[derive(Debug, Clone)]
pub struct SessionReport {
    pub outcome: SessionOutcome,
    pub usage: Usage,
    pub cost_usd: f64,
    pub model: Option<String>,
    /// The agent's last message, for the next attempt's failure summary.
    pub last_message: String,
}

/// An agent runtime. Object-safe so the scheduler can hold `Arc<dyn AgentRuntime>`.
pub trait AgentRuntime: Send + Sync {
    /// `anthropic`, `openai` or `cli`, as in the API's agent shape.
    fn kind(&self) -> &'static str;
    /// `Err` when it cannot run, saying what to set or install.
    fn readiness(&self) -> Result<(), NotReady>;
    /// Runs one session to its end. Never panics on agent behaviour.
    fn run<'a>(
        &'a self,
        request: SessionRequest,
        sink: &'a dyn SessionSink,
    ) -> BoxFuture<'a, SessionReport>;
}

/// The harness's own agent loop, on the Messages API or an OpenAI-compatible endpoint
/// (its client's [`crate::anthropic::Wire`]).
pub struct AnthropicRuntime {
    pub client: Client,
    pub prices: Arc<PriceTable>,
    pub loop_config: LoopConfig,
    pub tool_limits: ToolLimits,
}

/// Workspace tools plus `create_task` through the scheduler.
struct SessionTools<'a> {
    workspace: Workspace,
    creator: Option<Arc<dyn TaskCreator>>,
    tools: ToolSet,
    groups: ToolGroups,
    /// Told of each line a running command prints.
    sink: &'a dyn SessionSink,
}

impl ToolExecutor for SessionTools<'_> {
    async fn execute(&self, name: &str, input: &Value) -> ToolOutcome {
        if let Some(browser) = &self.groups.browser
            && let Some(outcome) = browser.dispatch(name, input).await
        {
            return outcome;
        }
        // The model only sees the tools of its set; a call to another is refused too.
        if !self.tools.allows(name) {
            return ToolOutcome::error(format!(
                "{name} is not available to this agent: its tools are {}",
                self.tools.names()
            ));
        }
        let alive = || self.sink.alive();
        self.workspace.dispatch_reporting(name, input, &alive).await
    }

    async fn create_task(&self, task: NewTask) -> ToolOutcome {
        match &self.creator {
            Some(creator) => match creator.create(task).await {
                Ok(id) => ToolOutcome::ok(format!("created task {id}")),
                Err(error) => ToolOutcome::error(error.to_string()),
            },
            None => ToolOutcome::error("create_task is not available to this agent"),
        }
    }
}

impl AgentRuntime for AnthropicRuntime {
    fn kind(&self) -> &'static str {
        match self.client.wire() {
            crate::anthropic::Wire::Anthropic => "anthropic",
            crate::anthropic::Wire::OpenAiChat => "openai",
        }
    }

    fn readiness(&self) -> Result<(), NotReady> {
        if self.client.has_key() {
            Ok(())
        } else {
            Err(NotReady::MissingApiKey)
        }
    }

    fn run<'a>(
        &'a self,
        request: SessionRequest,
        sink: &'a dyn SessionSink,
    ) -> BoxFuture<'a, SessionReport> {
        Box::pin(self.run_session(request, sink))
    }
}

impl AnthropicRuntime {
    async fn run_session(&self, request: SessionRequest, sink: &dyn SessionSink) -> SessionReport {
        let root = match WorktreeRoot::new(&request.worktree) {
            Ok(root) => root,
            Err(e) => return failed_before_start(format!("worktree unusable: {e}")),
        };
        let groups = ToolGroups {
            browser: request.browser.clone().map(|grant| BrowserTools {
                browser: SessionBrowser::new(
                    LaunchConfig {
                        chromium: grant.chromium,
                        sandbox: self.tool_limits.sandbox.clone(),
                        worktree: request.worktree.clone(),
                        profiles_dir: grant.profiles_dir,
                        start_timeout: std::time::Duration::from_secs(30),
                    },
                    grant.policy,
                    BrowserLimits::default(),
                    request.cancel.clone(),
                ),
                findings: grant.findings,
            }),
        };
        let mut tool_defs = request.tools.definitions();
        tool_defs.extend(groups.definitions());
        let executor = SessionTools {
            workspace: Workspace::new(root, self.tool_limits.clone()),
            creator: request.task_creator.clone(),
            tools: request.tools.clone(),
            groups,
            sink,
        };
        tool_defs.extend(tools::harness_tool_definitions(
            request.task_creator.is_some(),
        ));
        let system = system_prompt(&request.role_instructions);
        let messages = match request.resume {
            Some((paused, answer)) => paused.resume(&answer),
            None => vec![Message::user_text(task_message(&request.brief))],
        };
        let agent = AgentLoop {
            client: &self.client,
            prices: &self.prices,
            executor: &executor,
            sink,
            config: self.loop_config.clone(),
        };
        let gate = Some(self.client.gate().clone());
        let (cancel, timed_out, timer) = session_timer(&request.cancel, request.timeout, gate);
        let report = agent.run(&system, &tool_defs, messages, &cancel).await;
        timer.abort();
        let outcome = match report.outcome {
            LoopOutcome::Completed {
                summary,
                no_changes_needed,
                conversation,
            } => SessionOutcome::Completed {
                summary,
                no_changes_needed,
                conversation: Some(conversation),
            },
            LoopOutcome::Failed { reason } => SessionOutcome::Failed { reason },
            LoopOutcome::AskHuman { question, paused } => SessionOutcome::WaitingForHuman {
                question,
                paused: Some(paused),
            },
            LoopOutcome::TurnLimit { turns } => SessionOutcome::Failed {
                reason: format!("stopped after {turns} turns without completing"),
            },
            LoopOutcome::CostLimit { spent_usd } => SessionOutcome::Failed {
                reason: format!("stopped at the session cost limit (${spent_usd:.2})"),
            },
            LoopOutcome::Api(error) => api_outcome(error),
            LoopOutcome::Cancelled if timed_out.load(Ordering::SeqCst) => {
                match self.client.gate().paused_until() {
                    // Still rate limited at the hard limit: not the task's fault.
                    Some(until) => SessionOutcome::Interrupted {
                        reason: "the session ran out of time waiting for the API rate limit".into(),
                        retry_at: Some(until),
                    },
                    None => SessionOutcome::TimedOut,
                }
            }
            LoopOutcome::Cancelled => SessionOutcome::Cancelled,
        };
        if let SessionOutcome::Interrupted { reason, .. }
        | SessionOutcome::Unconfigured { reason } = &outcome
        {
            sink.log(LogKind::System, reason);
        }
        SessionReport {
            outcome,
            usage: report.usage,
            cost_usd: report.cost_usd,
            model: Some(self.loop_config.model.clone()),
            last_message: report.last_text,
        }
    }
}

fn api_outcome(error: AnthropicError) -> SessionOutcome {
    match error {
        AnthropicError::RateLimited { resume_at, .. } => SessionOutcome::Interrupted {
            reason: error.to_string(),
            retry_at: resume_at,
        },
        AnthropicError::Auth { .. }
        | AnthropicError::Setup(_)
        | AnthropicError::BadRequestSetup { .. } => SessionOutcome::Unconfigured {
            reason: error.to_string(),
        },
        AnthropicError::Unavailable(_) | AnthropicError::UnreadableStream(_) => {
            SessionOutcome::Interrupted {
                reason: error.to_string(),
                retry_at: None,
            }
        }
        AnthropicError::InvalidRequest { .. } => SessionOutcome::Failed {
            reason: error.to_string(),
        },
    }
}

/// A child token that also fires at the session timeout, and a flag saying it did.
///
/// A rate limit must never turn into a timeout (which uses an attempt): when the deadline
/// comes while the shared gate is closed, the session gets until the gate opens plus a
/// quarter of its timeout to finish the request it was waiting for. Bounded at four
/// timeouts in all.
fn session_timer(
    parent: &CancellationToken,
    timeout: Duration,
    gate: Option<Arc<RateGate>>,
) -> (
    CancellationToken,
    Arc<AtomicBool>,
    tokio::task::JoinHandle<()>,
) {
    let cancel = parent.child_token();
    let timed_out = Arc::new(AtomicBool::new(false));
    let timer = tokio::spawn({
        let cancel = cancel.clone();
        let timed_out = timed_out.clone();
        async move {
            let started = tokio::time::Instant::now();
            let hard_limit = started + timeout.saturating_mul(4);
            let mut deadline = started + timeout;
            loop {
                tokio::time::sleep_until(deadline).await;
                let Some(gate) = gate.as_ref().filter(|g| g.paused_until().is_some()) else {
                    break;
                };
                if tokio::time::Instant::now() >= hard_limit {
                    break;
                }
                // Elapsed means the hard limit came: the next turn of the loop stops.
                let _ = tokio::time::timeout_at(hard_limit, gate.wait()).await;
                deadline = (tokio::time::Instant::now() + timeout / 4).min(hard_limit);
            }
            timed_out.store(true, Ordering::SeqCst);
            cancel.cancel();
        }
    });
    (cancel, timed_out, timer)
}

pub(super) fn failed_before_start(reason: String) -> SessionReport {
    SessionReport {
        outcome: SessionOutcome::Failed { reason },
        usage: Usage::default(),
        cost_usd: 0.0,
        model: None,
        last_message: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_and_timeouts_use_an_attempt() {
        assert!(SessionOutcome::Failed { reason: "x".into() }.uses_attempt());
        assert!(SessionOutcome::TimedOut.uses_attempt());
        assert!(
            !SessionOutcome::Interrupted {
                reason: "429".into(),
                retry_at: None
            }
            .uses_attempt()
        );
        assert!(!SessionOutcome::Cancelled.uses_attempt());
        assert!(
            !SessionOutcome::Unconfigured {
                reason: "key".into()
            }
            .uses_attempt()
        );
    }

    fn resume(paused: Option<PausedConversation>) -> Resume {
        Resume {
            paused,
            question: "Blue or green?".into(),
            answer: "green".into(),
        }
    }

    #[test]
    fn a_paused_conversation_resumes_with_the_answer_and_leaves_the_brief_alone() {
        let paused = PausedConversation {
            messages: Vec::new(),
            results: Vec::new(),
            ask_tool_use_id: "toolu_1".into(),
            skipped: Vec::new(),
            after_completion: false,
        };
        let mut brief = TaskBrief::default();
        let request = resume(Some(paused.clone())).into_request(&mut brief);
        assert_eq!(request, Some((paused, "green".to_owned())));
        assert!(brief.description.is_empty());
    }

    #[test]
    fn without_a_conversation_the_question_and_answer_go_into_the_brief() {
        let mut brief = TaskBrief::default();
        assert_eq!(resume(None).into_request(&mut brief), None);
        assert!(
            brief
                .description
                .contains("You asked: Blue or green?\nA human answered: green"),
            "{}",
            brief.description
        );
    }
}
