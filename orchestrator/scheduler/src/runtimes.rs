//! Builds the runtime each agent runs on, and says why one cannot run.

use std::{path::Path, sync::Arc};

use harness_domain::agent::{Agent, RuntimeKind};

use super::error::{Unready, WorkspaceError};

use harness_config::{EngineSettings, Secret};
use harness_engine::{
    acp::{AcpAgentConfig, AcpRuntime},
    anthropic::{Client, ClientConfig, LoopConfig, PriceTable, RateGate, Wire},
    cli_runtime::{CliAgentConfig, CliRuntime},
    git::Repo,
    runtime::{AgentRuntime, AnthropicRuntime},
    sandbox::{Readiness, SandboxConfig},
    tools::ToolLimits,
};

/// Shared by every runtime: one rate gate per model API, so a 429 pauses every session
/// on that API (and only on it: OpenAI's limits say nothing of Anthropic's). Cheap to
/// clone (what it holds is shared), so its checks can move to the blocking pool.
#[derive(Clone)]
pub struct Runtimes {
    settings: Arc<EngineSettings>,
    gate: Arc<RateGate>,
    openai_gate: Arc<RateGate>,
    prices: Arc<PriceTable>,
    /// Whether the sandbox can confine agents on this kernel, decided once.
    sandbox: Readiness,
}

impl Runtimes {
    pub fn new(settings: Arc<EngineSettings>) -> Self {
        let sandbox = settings.sandbox.readiness(settings.sandbox.support());
        let prices = Arc::new(settings.prices.clone());
        Self {
            settings,
            gate: Arc::new(RateGate::new()),
            openai_gate: Arc::new(RateGate::new()),
            prices,
            sandbox,
        }
    }

    pub(crate) fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// What every agent's `status_reason` must say even when it can run (agents
    /// running unconfined under `HARNESS_SANDBOX=warn` or `off`).
    pub fn caveat(&self) -> Option<&str> {
        match &self.sandbox {
            Readiness::Unconfined(reason) => Some(reason),
            _ => None,
        }
    }

    /// The Anthropic API's gate: the one whose long pauses are announced
    /// (`ratelimit.paused`).
    pub fn gate(&self) -> &Arc<RateGate> {
        &self.gate
    }

    /// Whether each of `agents` can run, in their order, as the text their status
    /// shows: the workspace looked at once for all of them (it runs git), and each
    /// agent's programs looked for on disk. On the blocking pool, not the caller's
    /// thread: the scheduler asks on every pass.
    pub(crate) async fn readiness_of(
        &self,
        agents: Vec<Agent>,
    ) -> Result<Vec<Result<(), String>>, tokio::task::JoinError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let workspace = this.workspace_problem().map_err(|e| e.to_string());
            agents
                .iter()
                .map(|agent| {
                    workspace
                        .clone()
                        .and_then(|()| this.agent_readiness(agent).map_err(|e| e.to_string()))
                })
                .collect()
        })
        .await
    }

    /// Whether `agent` can run, without building anything. Runs git and looks at
    /// files: blocking.
    fn readiness(&self, agent: &Agent) -> Result<(), Unready> {
        self.workspace_problem()?;
        self.agent_readiness(agent)
    }

    /// [`Runtimes::readiness`] without the workspace check, for a caller that made it
    /// once for many agents. Looks for programs on disk: blocking.
    fn agent_readiness(&self, agent: &Agent) -> Result<(), Unready> {
        let executor = self.executor(agent);
        let local = executor == harness_executor::ExecutorKind::Local;
        // A `process` worker runs on this machine with no container around it: its
        // agent needs the sandbox as a local one does (the worker gets this mode).
        if executor == harness_executor::ExecutorKind::Process
            && let Readiness::Refused(reason) = &self.sandbox
        {
            return Err(Unready::Sandbox(reason.clone()));
        }
        // A container worker is confined by its container, and its CLI is in its image;
        // but no browser is offered on any remote executor (docs/EXECUTORS.md).
        if !local {
            if super::findings::uses_browser(&self.settings, agent) {
                return Err(Unready::BrowserNotRemote {
                    agent: agent.id.to_string(),
                    executor: executor.to_string(),
                });
            }
            return self.key_problem(self.kind(agent));
        }
        if let Readiness::Refused(reason) = &self.sandbox {
            return Err(Unready::Sandbox(reason.clone()));
        }
        let roles = &self.settings.roles;
        let role = roles
            .registry
            .get(agent.role.as_str())
            .ok_or_else(|| Unready::UnknownRole(agent.role.to_string()))?;
        roles.role_problem(role).map_err(Unready::RoleNeeds)?;
        // Refused at startup too; an agent whose runtime changed since is stopped here.
        super::roles::refuse_read_only_on_cli(
            &self.settings,
            agent.id.as_str(),
            agent.role.as_str(),
            agent.runtime,
        )
        .map_err(Unready::RoleNeeds)?;
        if super::findings::uses_browser(&self.settings, agent) {
            roles.find_chromium().map_err(Unready::RoleNeeds)?;
        }
        self.pick(agent).map(drop)
    }

    /// The agent's runtime, then its role's fallbacks (`[roles.X] fallback`), each
    /// runtime once, with the model each asks for (`None`: the agent's).
    fn chain(&self, agent: &Agent) -> Vec<(RuntimeKind, Option<String>)> {
        let mut chain = vec![(self.kind(agent), None)];
        let role = self.settings.roles.registry.get(agent.role.as_str());
        for step in role.into_iter().flat_map(|r| &r.fallback) {
            if !chain.iter().any(|(kind, _)| *kind == step.runtime) {
                chain.push((
                    step.runtime,
                    step.model.as_ref().map(|m| m.as_str().to_owned()),
                ));
            }
        }
        chain
    }

    /// What a local attempt of `agent` runs on now: the first runtime of its chain that
    /// can run and whose API is not rate limited, else the first that can run (it waits
    /// out the limit), else the agent's own runtime's problem. Looks for programs on
    /// disk: blocking.
    fn pick(&self, agent: &Agent) -> Result<(RuntimeKind, Option<String>), Unready> {
        let mut waiting = None;
        let mut problem = None;
        for (kind, model) in self.chain(agent) {
            match self.kind_problem(agent, kind) {
                Ok(()) if !self.rate_limited(kind) => return Ok((kind, model)),
                Ok(()) => {
                    waiting.get_or_insert((kind, model));
                }
                Err(err) => {
                    problem.get_or_insert(err);
                }
            }
        }
        match (waiting, problem) {
            (Some(pick), _) => Ok(pick),
            (None, Some(err)) => Err(err),
            // The chain holds the agent's own runtime at least, so one of the two is set.
            (None, None) => Err(Unready::NoApiKey),
        }
    }

    /// Whether `kind`'s API holds every session back now (its gate closed by a 429).
    fn rate_limited(&self, kind: RuntimeKind) -> bool {
        let gate = match kind {
            RuntimeKind::Anthropic => &self.gate,
            RuntimeKind::OpenAi => &self.openai_gate,
            RuntimeKind::Cli | RuntimeKind::Acp => return false,
        };
        gate.paused_until().is_some()
    }

    /// Whether runtime `kind` can run `agent` here. Looks for programs on disk: blocking.
    fn kind_problem(&self, agent: &Agent, kind: RuntimeKind) -> Result<(), Unready> {
        match kind {
            RuntimeKind::Anthropic | RuntimeKind::OpenAi => self.key_problem(kind),
            RuntimeKind::Cli | RuntimeKind::Acp => {
                let command = self.command(agent);
                let default = match kind {
                    RuntimeKind::Acp => "claude-agent-acp",
                    _ => "claude",
                };
                let program = command.first().map_or(default, String::as_str);
                let path = harness_engine::cli_runtime::find_program(program).ok_or_else(|| {
                    Unready::NoCommand {
                        program: program.to_owned(),
                        agent: agent.id.to_string(),
                    }
                })?;
                // Only Landlock hides directories; unconfined agents reach any program.
                if !matches!(self.sandbox, Readiness::Confined) {
                    return Ok(());
                }
                harness_engine::sandbox::unreachable_program(&self.settings.sandbox, &path)
                    .map_or(Ok(()), |why| Err(Unready::Sandbox(why)))
            }
        }
    }

    /// The own loop needs its API's key: always for Anthropic's, for an OpenAI-compatible
    /// one only on OpenAI's own endpoint (a local model server takes none).
    pub(crate) fn key_problem(&self, kind: RuntimeKind) -> Result<(), Unready> {
        let settings = &self.settings;
        match kind {
            RuntimeKind::Anthropic if settings.anthropic_api_key.is_none() => {
                Err(Unready::NoApiKey)
            }
            RuntimeKind::OpenAi
                if settings.openai_api_key.is_none()
                    && settings.openai_base_url.trim_end_matches('/')
                        == harness_config::OPENAI_BASE_URL =>
            {
                Err(Unready::NoOpenAiKey)
            }
            _ => Ok(()),
        }
    }

    /// `[agents.X] runtime`, else the role's runtime, else the agent's stored one.
    pub fn kind(&self, agent: &Agent) -> RuntimeKind {
        super::roles::runtime_of(
            &self.settings,
            agent.id.as_str(),
            agent.role.as_str(),
            agent.runtime,
        )
    }

    /// Where `agent`'s attempts run: its `executor` in `harness.toml`, else `local`.
    pub fn executor(&self, agent: &Agent) -> harness_executor::ExecutorKind {
        self.settings
            .agents
            .get(agent.id.as_str())
            .and_then(|o| o.executor)
            .unwrap_or(harness_executor::ExecutorKind::Local)
    }

    /// The image `agent`'s attempts run in on a container executor: its own, else its
    /// executor's `image` setting.
    pub fn image(&self, agent: &Agent) -> Option<String> {
        let own = self
            .settings
            .agents
            .get(agent.id.as_str())
            .and_then(|o| o.image.clone());
        own.or_else(|| {
            self.settings
                .executors
                .remote(self.executor(agent))
                .and_then(|r| r.image.clone())
        })
    }

    pub fn command(&self, agent: &Agent) -> Vec<String> {
        self.settings
            .agents
            .get(agent.id.as_str())
            .and_then(|o| o.command.clone())
            .unwrap_or_default()
    }

    /// The runtime for `agent`, or what to set so that it can run.
    pub async fn for_agent(&self, agent: &Agent) -> Result<Arc<dyn AgentRuntime>, Unready> {
        self.for_agent_with_model(agent, None).await
    }

    /// The runtime for `agent` on `model` (a size tier's), else the role's model, else
    /// the agent's own. Checked and built on the blocking pool: the check runs git and
    /// looks for programs on disk.
    pub(crate) async fn for_agent_with_model(
        &self,
        agent: &Agent,
        model: Option<&str>,
    ) -> Result<Arc<dyn AgentRuntime>, Unready> {
        let (this, agent, model) = (self.clone(), agent.clone(), model.map(str::to_owned));
        tokio::task::spawn_blocking(move || this.build(&agent, model.as_deref())).await?
    }

    /// [`Runtimes::for_agent_with_model`]'s work, blocking.
    fn build(&self, agent: &Agent, model: Option<&str>) -> Result<Arc<dyn AgentRuntime>, Unready> {
        self.readiness(agent)?;
        // A remote worker runs the agent's own runtime: the fallback chain is local.
        let (kind, fallback_model) = match self.executor(agent) {
            harness_executor::ExecutorKind::Local => self.pick(agent)?,
            _ => (self.kind(agent), None),
        };
        let role_model = self
            .settings
            .roles
            .registry
            .get(agent.role.as_str())
            .and_then(|r| r.model.as_ref())
            .map(|m| m.as_str());
        let model = fallback_model
            .as_deref()
            .or(model)
            .or(role_model)
            .unwrap_or(&agent.model);
        let sandbox = self.settings.agent_sandbox_for(agent.role.as_str());
        let runtime: Arc<dyn AgentRuntime> = match kind {
            RuntimeKind::Anthropic => Arc::new(self.own_loop(Wire::Anthropic, model, sandbox)?),
            RuntimeKind::OpenAi => Arc::new(self.own_loop(Wire::OpenAiChat, model, sandbox)?),
            RuntimeKind::Cli => Arc::new(self.cli(self.command(agent), sandbox)),
            RuntimeKind::Acp => Arc::new(self.acp(self.command(agent), sandbox)),
        };
        if self.executor(agent) == harness_executor::ExecutorKind::Local {
            runtime.readiness()?;
        }
        Ok(runtime)
    }

    /// The harness's own agent loop on the model API `wire` speaks.
    fn own_loop(
        &self,
        wire: Wire,
        model: &str,
        sandbox: SandboxConfig,
    ) -> Result<AnthropicRuntime, Unready> {
        let settings = &self.settings;
        let (base_url, key, gate) = match wire {
            Wire::Anthropic => (
                &settings.anthropic_base_url,
                &settings.anthropic_api_key,
                &self.gate,
            ),
            Wire::OpenAiChat => (
                &settings.openai_base_url,
                &settings.openai_api_key,
                &self.openai_gate,
            ),
        };
        let key = key.clone().unwrap_or_else(|| Secret::new(""));
        let mut config = ClientConfig::new(base_url.clone(), key);
        config.wire = wire;
        config.backoff_base = settings.api_backoff;
        let client = Client::new(config, gate.clone())?;
        Ok(AnthropicRuntime {
            client,
            prices: self.prices.clone(),
            loop_config: LoopConfig::new(model),
            tool_limits: ToolLimits {
                sandbox,
                ..ToolLimits::default()
            },
        })
    }

    pub(crate) fn cli(&self, command: Vec<String>, sandbox: SandboxConfig) -> CliRuntime {
        let mut config = CliAgentConfig::claude_code();
        if let Some((program, args)) = command.split_first() {
            config.program = program.clone();
            config.args = args.to_vec();
        }
        config.timeout = self.settings.session_timeout;
        config.sandbox = sandbox;
        CliRuntime { config }
    }

    /// An agent over the Agent Client Protocol: `claude-agent-acp` unless the agent's
    /// `command` names another (`["gemini", "--experimental-acp"]`, `["qwen", "--acp"]`).
    /// Claude's adapter calls the Messages API itself: it gets the harness's endpoint and
    /// key, and only it (credentials go to their own runtime's process, never to any
    /// other agent's).
    pub(crate) fn acp(&self, command: Vec<String>, sandbox: SandboxConfig) -> AcpRuntime {
        let mut config = AcpAgentConfig::claude_acp();
        if let Some((program, args)) = command.split_first() {
            config.program = program.clone();
            config.args = args.to_vec();
        }
        if super::runtime_state::is_claude_acp(&command) || command.is_empty() {
            let settings = &self.settings;
            config.env.push((
                "ANTHROPIC_BASE_URL".into(),
                settings.anthropic_base_url.clone(),
            ));
            if let Some(key) = &settings.anthropic_api_key {
                config
                    .env
                    .push(("ANTHROPIC_API_KEY".into(), key.expose().to_owned()));
            }
        }
        config.timeout = self.settings.session_timeout;
        config.sandbox = sandbox;
        AcpRuntime { config }
    }

    /// Agents cannot work without a git workspace; say exactly what is missing. Runs
    /// git: blocking. Looked at again each time, as the workspace can become a
    /// repository (or stop being one) while the orchestrator runs.
    fn workspace_problem(&self) -> Result<(), Unready> {
        let Some(path) = &self.settings.workspace else {
            return Err(Unready::NoWorkspace);
        };
        Ok(workspace_repo(path).map(drop)?)
    }
}

/// Opens the workspace repository. Runs git: call it on the blocking pool.
pub(crate) fn workspace_repo(path: &Path) -> Result<Repo, WorkspaceError> {
    Ok(Repo::open(path)?)
}
