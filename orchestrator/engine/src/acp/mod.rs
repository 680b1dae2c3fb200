//! The `acp` runtime: any agent that speaks the Agent Client Protocol (JSON-RPC over
//! stdio), started confined like every agent process: Claude through
//! `claude-agent-acp`, Gemini CLI (`gemini --experimental-acp`), Qwen Code
//! (`qwen --acp`), or any other by its command line.
//!
//! [`AcpRuntime`] runs the agent with [`process::converse`], which keeps the process
//! rules (sandbox, group kill, timeout); [`client`] is the conversation and
//! [`transcript`] what its updates become in the session log.

mod client;
mod transcript;

use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use crate::{
    cli_runtime::{CliAgentConfig, program_readiness},
    process::{self, Termination},
    prompt::{system_prompt, task_message},
    runtime::{AgentRuntime, NotReady, SessionOutcome, SessionReport, SessionRequest},
    session::{LogKind, SessionSink, Usage},
    tools::{ToolLimits, Workspace},
};
use agent_client_protocol::v1::schema::StopReason;
use client::{Ending, Note, Talk};
use transcript::Transcript;

/// Longest log line made from one update.
const MAX_ENTRY_BYTES: usize = 32 * 1024;

/// How an ACP agent is started: a program with its arguments, environment and limits,
/// as a CLI agent is.
pub type AcpAgentConfig = CliAgentConfig;

impl CliAgentConfig {
    /// Claude through Zed's ACP adapter of the Claude Agent SDK.
    pub fn claude_acp() -> Self {
        Self {
            program: "claude-agent-acp".into(),
            args: Vec::new(),
            // No telemetry or update checks from a confined agent: its egress is the
            // model API and the registries.
            env: vec![(
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
                "1".into(),
            )],
            ..Self::claude_code()
        }
    }
}

/// An agent over the Agent Client Protocol.
pub struct AcpRuntime {
    pub config: AcpAgentConfig,
}

impl AgentRuntime for AcpRuntime {
    fn kind(&self) -> &'static str {
        "acp"
    }

    fn readiness(&self) -> Result<(), NotReady> {
        program_readiness(&self.config.program)
    }

    fn run<'a>(
        &'a self,
        request: SessionRequest,
        sink: &'a dyn SessionSink,
    ) -> BoxFuture<'a, SessionReport> {
        Box::pin(run_acp_agent(&self.config, request, sink))
    }
}

/// The agent's name and version, asked with an `initialize` handshake in the sandbox;
/// bounded by `limit`. What it says, or why it could not be asked.
pub async fn introduce(
    config: &AcpAgentConfig,
    dir: &std::path::Path,
    limit: Duration,
) -> Result<String, String> {
    let mut spec = config.command(config.args.clone(), dir);
    spec.timeout = Some(limit);
    spec.kill_grace = crate::cli_runtime::PROBE_GRACE;
    let cancel = tokio_util::sync::CancellationToken::new();
    let started = process::converse(&spec, &cancel, |_| {}, client::introduce).await;
    match started {
        Ok((_, Some(answer))) => answer,
        Ok((finished, None)) => Err(with_tail(
            &format!(
                "it ended with {} before answering",
                finished.termination.describe()
            ),
            &finished.tail,
        )),
        Err(e) => Err(format!("cannot start `{}`: {e}", config.program)),
    }
}

async fn run_acp_agent(
    config: &AcpAgentConfig,
    request: SessionRequest,
    sink: &dyn SessionSink,
) -> SessionReport {
    let unconfigured = |reason: String| SessionReport {
        outcome: SessionOutcome::Unconfigured { reason },
        usage: Usage::default(),
        cost_usd: 0.0,
        model: None,
        last_message: String::new(),
    };
    let root = match crate::confine::WorktreeRoot::new(&request.worktree) {
        Ok(root) => root,
        Err(e) => return unconfigured(format!("cannot open the worktree: {e}")),
    };
    let limits = ToolLimits {
        sandbox: config.sandbox.clone(),
        ..ToolLimits::default()
    };
    let mut spec = config.command(config.args.clone(), &request.worktree);
    spec.timeout = Some(config.timeout.min(request.timeout));
    let talk = Talk {
        workspace: Workspace::new(root, limits),
        tools: request.tools.clone(),
        prompt: format!(
            "{}\n\n{}",
            system_prompt(&request.role_instructions),
            task_message(&request.brief)
        ),
        cancel: request.cancel.clone(),
    };
    let (notes_tx, mut notes) = mpsc::channel(client::NOTE_QUEUE);
    let mut transcript = Transcript::new(MAX_ENTRY_BYTES);
    let mut cost = 0.0;
    let conversation = process::converse(
        &spec,
        &request.cancel,
        |line| sink.log(LogKind::Output, &line.text),
        |pipes| client::talk(pipes, talk, notes_tx),
    );
    tokio::pin!(conversation);
    // The notes are logged while the conversation runs, not after it.
    let result = loop {
        tokio::select! {
            biased;
            Some(note) = notes.recv() => cost += log_note(note, &mut transcript, sink),
            result = &mut conversation => break result,
        }
    };
    while let Ok(note) = notes.try_recv() {
        cost += log_note(note, &mut transcript, sink);
    }
    if let Some(entry) = transcript.flush() {
        sink.log(entry.kind, &entry.content);
    }
    match result {
        Ok((finished, ending)) => report(
            finished.termination,
            ending,
            &finished.tail,
            transcript,
            cost,
            sink,
        ),
        Err(e) => unconfigured(format!("cannot start `{}`: {e}", config.program)),
    }
}

/// Logs one note; returns the cost it adds.
fn log_note(note: Note, transcript: &mut Transcript, sink: &dyn SessionSink) -> f64 {
    match note {
        Note::Log(kind, text) => {
            if let Some(entry) = transcript.flush() {
                sink.log(entry.kind, &entry.content);
            }
            sink.log(kind, &text);
            0.0
        }
        Note::Update(update) => {
            let (entries, cost) = transcript.update(*update);
            for entry in entries {
                sink.log(entry.kind, &entry.content);
            }
            if cost > 0.0 {
                // Tokens come with the end of the turn; the cost as the agent reports it.
                sink.usage(&Usage::default(), cost);
                sink.alive();
            }
            cost
        }
    }
}

fn report(
    termination: Termination,
    ending: Option<Ending>,
    tail: &str,
    transcript: Transcript,
    cost_usd: f64,
    sink: &dyn SessionSink,
) -> SessionReport {
    let last_message = transcript.last_message().to_owned();
    let mut usage = Usage::default();
    let model = ending.as_ref().and_then(|e| e.agent.clone());
    let outcome = match (termination, ending) {
        (Termination::Cancelled, _) => SessionOutcome::Cancelled,
        (Termination::TimedOut, _) => SessionOutcome::TimedOut,
        (
            _,
            Some(Ending {
                stop: Ok(stop),
                usage: reported,
                ..
            }),
        ) => {
            if let Some(reported) = reported {
                sink.usage(&reported, 0.0);
                usage = reported;
            }
            stop_outcome(stop, &last_message)
        }
        (
            _,
            Some(Ending {
                stop: Err(reason), ..
            }),
        ) => SessionOutcome::Failed {
            reason: with_tail(&reason, tail),
        },
        (termination, None) => SessionOutcome::Failed {
            reason: with_tail(
                &format!(
                    "the agent ended with {} before its turn did",
                    termination.describe()
                ),
                tail,
            ),
        },
    };
    SessionReport {
        outcome,
        usage,
        cost_usd,
        model,
        last_message,
    }
}

/// A turn that ended on its own is done; one cut short by a limit or refused is not.
fn stop_outcome(stop: StopReason, last_message: &str) -> SessionOutcome {
    let reason = match stop {
        StopReason::EndTurn => {
            return SessionOutcome::Completed {
                summary: last_message.to_owned(),
                no_changes_needed: None,
                conversation: None,
            };
        }
        StopReason::Cancelled => return SessionOutcome::Cancelled,
        StopReason::MaxTokens => "the agent ran out of output tokens",
        StopReason::MaxTurnRequests => "the agent reached its limit of model requests",
        StopReason::Refusal => "the agent refused the task",
        _ => "the agent stopped for a reason this harness does not know",
    };
    SessionOutcome::Failed {
        reason: reason.into(),
    }
}

fn with_tail(reason: &str, tail: &str) -> String {
    let tail = crate::session::tail(tail, 2048).trim();
    if tail.is_empty() {
        reason.to_owned()
    } else {
        format!("{reason}; its last output: {tail}")
    }
}
