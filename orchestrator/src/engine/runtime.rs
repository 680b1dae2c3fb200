//! One interface over both runtimes, so the scheduler runs a session the same way
//! whether the agent is `anthropic` or `cli`, and can swap in a fake in tests.
//!
//! The outcome says plainly whether an attempt was used: rate limits, outages, bad keys
//! and cancellations are not the task's failure.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{
    anthropic::{
        AgentLoop, ApiError, Client, LoopConfig, LoopOutcome, Message, PausedConversation,
        PriceTable, RateGate, ToolExecutor,
    },
    cli_runtime::{CliAgentConfig, run_cli_agent},
    confine::WorktreeRoot,
    process::Termination,
    prompt::{TaskBrief, system_prompt, task_message},
    session::{LogKind, SessionSink, Usage},
    tools::{self, NewTask, ToolLimits, ToolOutcome, Workspace},
};

/// Creates subtasks for planning agents. Implemented by the scheduler over the store;
/// returns the new task's display id, or a message for the model.
pub trait TaskCreator: Send + Sync {
    fn create(&self, task: NewTask) -> Result<String, String>;
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
}

/// How a session ended, from the scheduler's point of view.
#[derive(Debug, Clone)]
pub enum SessionOutcome {
    /// The agent says it is done: commit and verify next.
    Completed {
        summary: String,
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
    /// `anthropic` or `cli`, as in the API's agent shape.
    fn kind(&self) -> &'static str;
    /// `Err(reason)` when it cannot run; the reason says what to set or install.
    fn readiness(&self) -> Result<(), String>;
    /// Runs one session to its end. Never panics on agent behaviour.
    fn run<'a>(
        &'a self,
        request: SessionRequest,
        sink: &'a dyn SessionSink,
    ) -> BoxFuture<'a, SessionReport>;
}

/// The Messages API runtime.
pub struct AnthropicRuntime {
    pub client: Client,
    pub prices: Arc<PriceTable>,
    pub loop_config: LoopConfig,
    pub tool_limits: ToolLimits,
}

/// Workspace tools plus `create_task` through the scheduler.
struct SessionTools {
    workspace: Workspace,
    creator: Option<Arc<dyn TaskCreator>>,
}

impl ToolExecutor for SessionTools {
    async fn execute(&self, name: &str, input: &Value) -> ToolOutcome {
        self.workspace.dispatch(name, input).await
    }

    async fn create_task(&self, task: NewTask) -> ToolOutcome {
        match &self.creator {
            Some(creator) => match creator.create(task) {
                Ok(id) => ToolOutcome::ok(format!("created task {id}")),
                Err(message) => ToolOutcome::error(message),
            },
            None => ToolOutcome::error("create_task is not available to this agent"),
        }
    }
}

impl AgentRuntime for AnthropicRuntime {
    fn kind(&self) -> &'static str {
        "anthropic"
    }

    fn readiness(&self) -> Result<(), String> {
        if self.client.has_key() {
            Ok(())
        } else {
            Err("set ANTHROPIC_API_KEY to use the anthropic runtime".into())
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
        let executor = SessionTools {
            workspace: Workspace::new(root, self.tool_limits.clone()),
            creator: request.task_creator.clone(),
        };
        let mut tool_defs = tools::workspace_tool_definitions();
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
            LoopOutcome::Completed { summary } => SessionOutcome::Completed { summary },
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

fn api_outcome(error: ApiError) -> SessionOutcome {
    match error {
        ApiError::RateLimited { resume_at, .. } => SessionOutcome::Interrupted {
            reason: error.to_string(),
            retry_at: resume_at,
        },
        ApiError::Auth { .. } | ApiError::Setup(_) => SessionOutcome::Unconfigured {
            reason: error.to_string(),
        },
        ApiError::Unavailable(_) => SessionOutcome::Interrupted {
            reason: error.to_string(),
            retry_at: None,
        },
        ApiError::InvalidRequest { .. } => SessionOutcome::Failed {
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
                let _ = tokio::time::timeout_at(hard_limit, gate.wait()).await;
                deadline = (tokio::time::Instant::now() + timeout / 4).min(hard_limit);
            }
            timed_out.store(true, Ordering::SeqCst);
            cancel.cancel();
        }
    });
    (cancel, timed_out, timer)
}

fn failed_before_start(reason: String) -> SessionReport {
    SessionReport {
        outcome: SessionOutcome::Failed { reason },
        usage: Usage::default(),
        cost_usd: 0.0,
        model: None,
        last_message: String::new(),
    }
}

/// A CLI agent (Claude Code or any command).
pub struct CliRuntime {
    pub config: CliAgentConfig,
}

impl AgentRuntime for CliRuntime {
    fn kind(&self) -> &'static str {
        "cli"
    }

    fn readiness(&self) -> Result<(), String> {
        match find_program(&self.config.program) {
            Some(_) => Ok(()),
            None => Err(format!(
                "the agent command `{}` was not found; install it or set the agent's command",
                self.config.program
            )),
        }
    }

    fn run<'a>(
        &'a self,
        request: SessionRequest,
        sink: &'a dyn SessionSink,
    ) -> BoxFuture<'a, SessionReport> {
        Box::pin(async move {
            let mut config = self.config.clone();
            config.timeout = config.timeout.min(request.timeout);
            let prompt = format!(
                "{}\n\n{}",
                system_prompt(&request.role_instructions),
                task_message(&request.brief)
            );
            let report =
                match run_cli_agent(&config, &request.worktree, &prompt, &request.cancel, sink)
                    .await
                {
                    Ok(report) => report,
                    Err(e) => {
                        let mut report = failed_before_start(String::new());
                        report.outcome = SessionOutcome::Unconfigured {
                            reason: format!("cannot start `{}`: {e}", config.program),
                        };
                        return report;
                    }
                };
            let outcome = match report.termination {
                Termination::Cancelled => SessionOutcome::Cancelled,
                Termination::TimedOut => SessionOutcome::TimedOut,
                _ if report.success => SessionOutcome::Completed {
                    summary: report.summary.clone(),
                },
                _ => SessionOutcome::Failed {
                    reason: report.summary.clone(),
                },
            };
            SessionReport {
                outcome,
                usage: report.usage,
                cost_usd: report.cost_usd.unwrap_or(0.0),
                model: report.model,
                last_message: report.summary,
            }
        })
    }
}

/// `program` as given when it contains a slash, else the first match on `PATH`.
/// (`PATH` is the process's search path, not a harness setting.)
pub fn find_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.contains('/') {
        let path = PathBuf::from(program);
        return executable(&path).then_some(path);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sh_is_found_on_path_and_a_missing_program_is_not() {
        assert!(find_program("sh").is_some());
        assert!(find_program("definitely-not-installed-xyz").is_none());
        assert!(find_program("/nonexistent/claude").is_none());
    }

    #[test]
    fn a_missing_cli_makes_the_runtime_unready_with_a_reason() {
        let mut config = CliAgentConfig::claude_code();
        config.program = "definitely-not-installed-xyz".into();
        let err = CliRuntime { config }.readiness().unwrap_err();
        assert!(err.contains("not found"), "{err}");
    }

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
}
