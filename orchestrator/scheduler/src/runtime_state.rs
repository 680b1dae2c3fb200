//! Each runtime's state as the Agents page shows it: which program it runs and whether
//! it is found, the version that program reports, and whether its credentials are set.
//!
//! Versions are asked of the programs themselves, in the sandbox: `--version` of a CLI,
//! an `initialize` handshake of an ACP agent. Answers are kept for a minute, so a page
//! that polls does not start a process per view.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::Mutex,
    time::{Duration, Instant},
};

use harness_domain::agent::{Agent, RuntimeKind};
use harness_engine::{acp, cli_runtime};

use super::Runtimes;

/// How long a probe may take.
const PROBE_LIMIT: Duration = Duration::from_secs(10);
/// How long a program's answer is kept.
const KEEP_FOR: Duration = Duration::from_secs(60);
/// Answers kept at most; past this the oldest are dropped.
const MAX_KEPT: usize = 64;

/// One runtime with one command, and the agents on it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeState {
    pub runtime: RuntimeKind,
    /// The program and its arguments; empty for the own agent loop.
    pub command: Vec<String>,
    pub agents: Vec<String>,
    /// Where the program was found; `None` for the own loop or when it is missing.
    pub path: Option<PathBuf>,
    /// What the program says it is (`2.1.83 (Claude Code)`, `claude-agent-acp 0.23.1`).
    pub version: Option<String>,
    /// Which credentials it gets, or which it lacks.
    pub credentials: String,
    /// Why it cannot run; `None` when it can.
    pub problem: Option<String>,
}

/// A runtime and its command.
type Key = (RuntimeKind, Vec<String>);
/// A program's answer and when it was given.
type Answer = (Instant, Result<String, String>);

static ANSWERS: Mutex<Option<HashMap<Key, Answer>>> = Mutex::new(None);

impl Runtimes {
    /// Every runtime kind (with its default command when no agent has one), and each
    /// command the agents run, in that order.
    pub async fn states(&self, agents: &[Agent]) -> Vec<RuntimeState> {
        let mut states: Vec<RuntimeState> = Vec::new();
        for agent in agents {
            let (kind, command) = (self.kind(agent), self.command_of(agent));
            match states
                .iter_mut()
                .find(|s| s.runtime == kind && s.command == command)
            {
                Some(state) => state.agents.push(agent.id.to_string()),
                None => states.push(self.state(kind, command, vec![agent.id.to_string()])),
            }
        }
        for kind in [
            RuntimeKind::Anthropic,
            RuntimeKind::OpenAi,
            RuntimeKind::Cli,
            RuntimeKind::Acp,
        ] {
            if !states.iter().any(|s| s.runtime == kind) {
                states.push(self.state(kind, default_command(kind), Vec::new()));
            }
        }
        let versions = futures_util::future::join_all(states.iter().map(|s| self.version(s))).await;
        for (state, answer) in states.iter_mut().zip(versions) {
            match answer {
                Some(Ok(version)) => state.version = Some(version),
                Some(Err(why)) => {
                    state.problem.get_or_insert(why);
                }
                None => {}
            }
        }
        states
    }

    /// The command an agent of `kind` runs: its own, else the runtime's default.
    fn command_of(&self, agent: &Agent) -> Vec<String> {
        let kind = self.kind(agent);
        let own = self.command(agent);
        if own.is_empty() {
            default_command(kind)
        } else {
            own
        }
    }

    fn state(
        &self,
        runtime: RuntimeKind,
        command: Vec<String>,
        agents: Vec<String>,
    ) -> RuntimeState {
        let path = command.first().and_then(|p| cli_runtime::find_program(p));
        let problem = match (runtime.is_own_loop(), &path) {
            (true, _) => self.key_problem(runtime).err().map(|e| e.to_string()),
            (false, None) => Some(format!(
                "`{}` was not found; install it or set the agent's command",
                command.first().map_or("", String::as_str)
            )),
            (false, Some(_)) => None,
        };
        RuntimeState {
            credentials: self.credentials(runtime, &command),
            runtime,
            command,
            agents,
            path,
            version: None,
            problem,
        }
    }

    fn credentials(&self, runtime: RuntimeKind, command: &[String]) -> String {
        let settings = self.settings();
        let set = |name: &str, key: bool| {
            if key {
                format!("{name} is set")
            } else {
                format!("{name} is not set")
            }
        };
        let passed = |name: &str| settings.sandbox.env.pass.iter().any(|n| n == name);
        match runtime {
            RuntimeKind::Anthropic => {
                set("ANTHROPIC_API_KEY", settings.anthropic_api_key.is_some())
            }
            RuntimeKind::OpenAi if settings.openai_api_key.is_some() => set("OPENAI_API_KEY", true),
            RuntimeKind::OpenAi if self.key_problem(runtime).is_ok() => {
                "none: a local server at OPENAI_BASE_URL takes no key".into()
            }
            RuntimeKind::OpenAi => set("OPENAI_API_KEY", false),
            RuntimeKind::Acp if is_claude_acp(command) => format!(
                "the harness's Anthropic endpoint; {}",
                set("ANTHROPIC_API_KEY", settings.anthropic_api_key.is_some())
            ),
            RuntimeKind::Cli if passed("ANTHROPIC_API_KEY") => {
                "ANTHROPIC_API_KEY through HARNESS_AGENT_ENV".into()
            }
            RuntimeKind::Cli | RuntimeKind::Acp => {
                "the agent's own: name its key in HARNESS_AGENT_ENV".into()
            }
        }
    }

    /// The program's own answer, kept for a minute; `None` for the own loop or a
    /// program that is not there.
    async fn version(&self, state: &RuntimeState) -> Option<Result<String, String>> {
        if state.runtime.is_own_loop() || state.path.is_none() {
            return None;
        }
        let key = (state.runtime, state.command.clone());
        if let Some((at, answer)) = kept(&key)
            && at.elapsed() < KEEP_FOR
        {
            return Some(answer);
        }
        let dir = match tempfile::tempdir() {
            Ok(dir) => dir,
            Err(e) => return Some(Err(format!("no directory to ask it in: {e}"))),
        };
        let sandbox = self.settings().agent_sandbox_for("build");
        let answer = match state.runtime {
            RuntimeKind::Acp => {
                let config = self.acp(state.command.clone(), sandbox);
                acp::introduce(&config.config, dir.path(), PROBE_LIMIT).await
            }
            _ => {
                let config = self.cli(state.command.clone(), sandbox);
                cli_runtime::version(&config.config, dir.path(), PROBE_LIMIT).await
            }
        };
        keep(key, answer.clone());
        Some(answer)
    }
}

fn kept(key: &Key) -> Option<Answer> {
    let answers = ANSWERS.lock().unwrap_or_else(|e| e.into_inner());
    answers.as_ref()?.get(key).cloned()
}

fn keep(key: Key, answer: Result<String, String>) {
    let mut answers = ANSWERS.lock().unwrap_or_else(|e| e.into_inner());
    let answers = answers.get_or_insert_with(HashMap::new);
    if answers.len() >= MAX_KEPT {
        answers.retain(|_, (at, _)| at.elapsed() < KEEP_FOR);
    }
    if answers.len() < MAX_KEPT {
        answers.insert(key, (Instant::now(), answer));
    }
}

fn default_command(kind: RuntimeKind) -> Vec<String> {
    match kind {
        RuntimeKind::Cli => vec!["claude".into()],
        RuntimeKind::Acp => vec!["claude-agent-acp".into()],
        _ => Vec::new(),
    }
}

/// Zed's adapter of Claude, which calls the Messages API itself.
pub(crate) fn is_claude_acp(command: &[String]) -> bool {
    command
        .first()
        .and_then(|p| std::path::Path::new(p).file_name())
        .is_some_and(|name| name == "claude-agent-acp")
}
