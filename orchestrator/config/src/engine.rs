//! Settings of the agent engine: workspace, limits, timeouts, verification, models.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::Args;
use harness_domain::agent::RuntimeKind;
use serde::Deserialize;

use super::{ConfigError, Secret, invalid, paths};
use harness_engine::anthropic::{ModelPrice, PriceTable};
use harness_engine::egress::Egress;
use harness_engine::sandbox::net::{NetnsMode, NetnsSettings};
use harness_engine::sandbox::{self, EnvPolicy, Limits, Mode, Network, SandboxConfig};

/// Flags and environment variables of the engine.
#[derive(Debug, Clone, Default, Args)]
pub struct EngineArgs {
    /// The git repository agents work on (alias: VIBE_WORKSPACE). Unset: agents wait.
    #[arg(long, env = "HARNESS_WORKSPACE")]
    pub workspace: Option<PathBuf>,
    /// Branch that passing work is merged into [default: the workspace's current branch].
    #[arg(long, env = "HARNESS_BASE_BRANCH")]
    pub base_branch: Option<String>,
    /// Where attempt worktrees live [default: `worktrees` beside the database].
    #[arg(long, env = "HARNESS_WORKTREES_DIR")]
    pub worktrees_dir: Option<PathBuf>,
    /// Sessions running at once, across all agents [default: 2].
    #[arg(long, env = "HARNESS_MAX_CONCURRENT")]
    pub max_concurrent: Option<u32>,
    /// Seconds between two session starts [default: 2].
    #[arg(long, env = "HARNESS_SESSION_SPACING_SECS")]
    pub session_spacing_secs: Option<f64>,
    /// Seconds between scheduler safety-net ticks [default: 10].
    #[arg(long, env = "HARNESS_TICK_SECS")]
    pub tick_secs: Option<f64>,
    /// Seconds a session may run, preparing its worktree included [default: 1800].
    #[arg(long, env = "HARNESS_SESSION_TIMEOUT_SECS")]
    pub session_timeout_secs: Option<f64>,
    /// Seconds without any sign of life before a session counts as stuck; never less than
    /// the longest command timeout plus 30 [default: 630].
    #[arg(long, env = "HARNESS_STUCK_AFTER_SECS")]
    pub stuck_after_secs: Option<f64>,
    /// First retry delay in seconds; doubles per attempt [default: 60].
    #[arg(long, env = "HARNESS_RETRY_BASE_SECS")]
    pub retry_base_secs: Option<f64>,
    /// Longest retry delay in seconds [default: 1800].
    #[arg(long, env = "HARNESS_RETRY_CAP_SECS")]
    pub retry_cap_secs: Option<f64>,
    /// Verification commands, one per line, run in the worktree; all must exit 0.
    #[arg(long, env = "HARNESS_VERIFY")]
    pub verify: Option<String>,
    /// Seconds each verification command may run [default: 900].
    #[arg(long, env = "HARNESS_VERIFY_TIMEOUT_SECS")]
    pub verify_timeout_secs: Option<f64>,
    /// Author of the agents' commits [default: Parent Harness].
    #[arg(long, env = "HARNESS_GIT_AUTHOR_NAME")]
    pub git_author_name: Option<String>,
    /// Author e-mail of the agents' commits [default: harness@localhost].
    #[arg(long, env = "HARNESS_GIT_AUTHOR_EMAIL")]
    pub git_author_email: Option<String>,
    /// ANTHROPIC_API_KEY: from the environment or ANTHROPIC_API_KEY_FILE only.
    #[arg(skip)]
    pub anthropic_api_key: Option<String>,
    /// Messages API base URL [default: https://api.anthropic.com].
    #[arg(long, env = "ANTHROPIC_BASE_URL")]
    pub anthropic_base_url: Option<String>,
    /// OPENAI_API_KEY: from the environment or OPENAI_API_KEY_FILE only.
    #[arg(skip)]
    pub openai_api_key: Option<String>,
    /// Base URL of the OpenAI-compatible API `openai` agents use, up to and including
    /// `/v1` (Ollama: http://127.0.0.1:11434/v1) [default: https://api.openai.com/v1].
    #[arg(long, env = "OPENAI_BASE_URL")]
    pub openai_base_url: Option<String>,
    /// Model names accepted beyond the runtimes' known ones, comma-separated (a
    /// proxy's model, or one released after this build).
    #[arg(long, env = "HARNESS_EXTRA_MODELS")]
    pub extra_models: Option<String>,
    /// Days a failed attempt's worktree is kept for inspection [default: 7].
    #[arg(long, env = "HARNESS_WORKTREE_RETENTION_DAYS")]
    pub worktree_retention_days: Option<f64>,
    /// First wait after an API error without retry-after; doubles per retry [default: 2].
    #[arg(long, env = "HARNESS_API_BACKOFF_SECS")]
    pub api_backoff_secs: Option<f64>,
    /// Chromium for the browser tool [default: /usr/bin/chromium].
    #[arg(long, env = "HARNESS_CHROMIUM")]
    pub chromium: Option<PathBuf>,
    /// Agent sandbox when Landlock is missing: `require` (agents wait), `warn` (run
    /// unconfined, said everywhere) or `off` [default: require].
    #[arg(long, env = "HARNESS_SANDBOX")]
    pub sandbox: Option<String>,
    /// For tests only: the Landlock ABI to assume instead of asking the kernel, 0 for
    /// "no Landlock" (docs/SECURITY.md). Hidden: it is not a setting for production.
    #[arg(long, env = "HARNESS_SANDBOX_ASSUME_ABI", hide = true)]
    pub sandbox_assume_abi: Option<i32>,
    /// Outbound TCP for agents: `open`, `none`, or ports like `443,80` [default: open].
    #[arg(long, env = "HARNESS_AGENT_NETWORK")]
    pub agent_network: Option<String>,
    /// Each agent in its own network namespace, egress only through the harness's proxy:
    /// `auto` (where user namespaces allow), `off` or `require` [default: off].
    #[arg(long, env = "HARNESS_AGENT_NETNS")]
    pub agent_netns: Option<String>,
    /// Ports agents may never connect to, beside the harness's own, comma-separated:
    /// a `harness dashboard` gateway on another port, which proxies to the API.
    #[arg(long, env = "HARNESS_AGENT_CLOSED_PORTS")]
    pub agent_closed_ports: Option<String>,
    /// Hosts agents in their own namespace may reach through the proxy, comma-separated
    /// `host`, `host:port` or `*.suffix` [default: the package registries]; the model
    /// API's host is always added.
    #[arg(long, env = "HARNESS_AGENT_EGRESS")]
    pub agent_egress: Option<String>,
    /// Extra directories agents may read and execute, `:`-separated (toolchains).
    #[arg(long, env = "HARNESS_AGENT_READ_PATHS")]
    pub agent_read_paths: Option<String>,
    /// Extra directories agents may write, `:`-separated (shared caches).
    #[arg(long, env = "HARNESS_AGENT_WRITE_PATHS")]
    pub agent_write_paths: Option<String>,
    /// Names of extra environment variables passed to agents, comma-separated.
    #[arg(long, env = "HARNESS_AGENT_ENV")]
    pub agent_env: Option<String>,
    /// Memory per agent process in MB, 0 for no limit [default: half the machine's].
    #[arg(long, env = "HARNESS_AGENT_MAX_MEMORY_MB")]
    pub agent_max_memory_mb: Option<u64>,
    /// Open files per agent process, 0 for no limit [default: 4096].
    #[arg(long, env = "HARNESS_AGENT_MAX_OPEN_FILES")]
    pub agent_max_open_files: Option<u64>,
    /// Processes of the harness's user an agent may reach, 0 for no limit [default: 4096].
    #[arg(long, env = "HARNESS_AGENT_MAX_PROCESSES")]
    pub agent_max_processes: Option<u64>,
    /// CPU seconds per agent process, 0 for no limit [default: 3600].
    #[arg(long, env = "HARNESS_AGENT_MAX_CPU_SECS")]
    pub agent_max_cpu_secs: Option<u64>,
    #[command(flatten)]
    pub reliability: super::reliability::ReliabilityArgs,
    #[command(flatten)]
    pub forge: super::forge::ForgeArgs,
}

/// OpenAI's own endpoint, the default of OPENAI_BASE_URL: the one that needs a key.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// Per-agent overrides from `harness.toml` (`[agents.build-2]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentOverride {
    /// The agent's role; an agent that does not exist yet is created with it.
    pub role: Option<String>,
    pub runtime: Option<RuntimeKind>,
    /// The CLI agent's command line, for `runtime = "cli"`.
    pub command: Option<Vec<String>>,
    /// Tool groups beyond the role's, like `["browser"]`.
    pub tools: Option<Vec<String>>,
    /// Origins the browser may open beyond loopback, like `["https://staging.example.com"]`.
    pub browser_origins: Option<Vec<String>>,
    /// Where its attempts run (`local` when unset).
    pub executor: Option<harness_executor::ExecutorKind>,
    /// The image its attempts run in on a container executor.
    pub image: Option<String>,
}

/// The engine's part of `harness.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineFile {
    workspace: Option<PathBuf>,
    base_branch: Option<String>,
    worktrees_dir: Option<PathBuf>,
    max_concurrent: Option<u32>,
    session_spacing_secs: Option<f64>,
    tick_secs: Option<f64>,
    session_timeout_secs: Option<f64>,
    stuck_after_secs: Option<f64>,
    retry_base_secs: Option<f64>,
    retry_cap_secs: Option<f64>,
    verify: Option<Vec<String>>,
    verify_timeout_secs: Option<f64>,
    git_author_name: Option<String>,
    git_author_email: Option<String>,
    anthropic_base_url: Option<String>,
    openai_base_url: Option<String>,
    api_backoff_secs: Option<f64>,
    extra_models: Option<Vec<String>>,
    /// Model name (or name prefix) → USD per million tokens, over the built-in table.
    #[serde(default)]
    prices: BTreeMap<String, PriceFile>,
    worktree_retention_days: Option<f64>,
    sandbox: Option<String>,
    agent_network: Option<String>,
    agent_netns: Option<String>,
    agent_closed_ports: Option<String>,
    agent_egress: Option<String>,
    agent_read_paths: Option<Vec<PathBuf>>,
    agent_write_paths: Option<Vec<PathBuf>>,
    agent_env: Option<Vec<String>>,
    agent_max_memory_mb: Option<u64>,
    agent_max_open_files: Option<u64>,
    agent_max_processes: Option<u64>,
    agent_max_cpu_secs: Option<u64>,
    #[serde(default)]
    agents: BTreeMap<String, AgentOverride>,
    // The roles' part (config/roles.rs). Listed here, not flattened: a flattened
    // table inside a flattened table loses serde's unknown-field check.
    #[serde(default)]
    roles: BTreeMap<String, harness_domain::role::RoleSpec>,
    /// Category → role: moves the category to that role.
    #[serde(default)]
    routing: BTreeMap<String, String>,
    #[serde(default)]
    sizes: BTreeMap<String, super::roles::SizeFile>,
    validate_categories: Option<Vec<String>>,
    sia_every_hours: Option<f64>,
    #[serde(default)]
    executors: super::executors::ExecutorsFile,
    #[serde(default)]
    forge: super::forge::ForgeFile,
}

/// `[prices."MODEL"]`: USD per million tokens. Cache writes and reads cost the input
/// price unless given: a cost is never undercounted for want of a number.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    input: f64,
    output: f64,
    cache_write: Option<f64>,
    cache_read: Option<f64>,
}

/// The built-in price table with `[prices]` over it.
fn price_table(file: BTreeMap<String, PriceFile>) -> Result<PriceTable, ConfigError> {
    let mut table = PriceTable::default();
    for (model, price) in file {
        let invalid = |message: String| ConfigError::Invalid {
            name: "harness.toml [prices]",
            message,
        };
        if model.trim().is_empty() || model.len() > 200 {
            return Err(invalid(format!(
                "model name '{model}' must be 1 to 200 characters"
            )));
        }
        let price = ModelPrice::new(
            price.input,
            price.output,
            price.cache_write.unwrap_or(price.input),
            price.cache_read.unwrap_or(price.input),
        );
        let numbers = [
            price.input,
            price.output,
            price.cache_write,
            price.cache_read,
        ];
        if numbers
            .iter()
            .any(|n| !n.is_finite() || *n < 0.0 || *n > 10_000.0)
        {
            return Err(invalid(format!(
                "{model}: each price is USD per million tokens, from 0 to 10000"
            )));
        }
        table.models.insert(model, price);
    }
    Ok(table)
}

/// Validated engine settings.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub workspace: Option<PathBuf>,
    pub base_branch: Option<String>,
    pub worktrees_dir: PathBuf,
    pub max_concurrent: u32,
    pub session_spacing: Duration,
    pub tick: Duration,
    pub session_timeout: Duration,
    pub stuck_after: Duration,
    pub retry_base: Duration,
    pub retry_cap: Duration,
    pub verify: Vec<String>,
    pub verify_timeout: Duration,
    pub git_author_name: String,
    pub git_author_email: String,
    pub anthropic_api_key: Option<Secret>,
    pub anthropic_base_url: String,
    /// OPENAI_API_KEY: none for a local model server that takes no key.
    pub openai_api_key: Option<Secret>,
    /// OPENAI_BASE_URL, ending in `/v1`.
    pub openai_base_url: String,
    pub api_backoff: Duration,
    /// HARNESS_EXTRA_MODELS: model names accepted beyond the known ones.
    pub extra_models: Vec<String>,
    /// What each model costs: the built-in table with `[prices]` over it.
    pub prices: PriceTable,
    pub worktree_retention: Duration,
    /// How every agent process is confined.
    pub sandbox: SandboxConfig,
    /// Roles, routing, size tiers (config/roles.rs).
    pub roles: super::roles::RoleSettings,
    pub agents: BTreeMap<String, AgentOverride>,
    pub executors: super::executors::ExecutorSettings,
    pub reliability: super::reliability::ReliabilitySettings,
    /// `None` unless a forge token is set (config/forge.rs).
    pub pull_requests: Option<super::forge::PullRequestSettings>,
}

/// `HARNESS_AGENT_CLOSED_PORTS`: comma-separated ports from 1 to 65535, or nothing.
fn closed_ports(text: Option<&str>) -> Result<Vec<u16>, ConfigError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|p| p.trim().parse::<u16>().ok().filter(|&p| p > 0))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            invalid(
                "HARNESS_AGENT_CLOSED_PORTS",
                "must be comma-separated ports from 1 to 65535",
            )
        })
}

/// HARNESS_AGENT_NETNS and HARNESS_AGENT_EGRESS; the model API's host is always allowed.
fn netns_settings(args: &EngineArgs, file: &EngineFile) -> Result<NetnsSettings, ConfigError> {
    let mode = match args.agent_netns.as_deref().or(file.agent_netns.as_deref()) {
        None => NetnsMode::default(),
        Some(text) => NetnsMode::parse(text)
            .ok_or_else(|| invalid("HARNESS_AGENT_NETNS", "must be auto, off or require"))?,
    };
    let model = args
        .anthropic_base_url
        .as_deref()
        .or(file.anthropic_base_url.as_deref())
        .unwrap_or("https://api.anthropic.com");
    let model_host = harness_engine::egress::host_port_of(model);
    let egress = match args
        .agent_egress
        .as_deref()
        .or(file.agent_egress.as_deref())
    {
        None => Egress::default_with(model_host.as_deref()),
        Some(text) => {
            let list = match &model_host {
                Some(host) => format!("{text},{host}"),
                None => text.to_owned(),
            };
            Egress::parse(&list).map_err(|e| invalid("HARNESS_AGENT_EGRESS", &e))?
        }
    };
    Ok(NetnsSettings { mode, egress })
}

/// The agent sandbox from flags, environment and file.
fn sandbox_settings(args: &EngineArgs, file: &EngineFile) -> Result<SandboxConfig, ConfigError> {
    let mode = match args.sandbox.as_deref().or(file.sandbox.as_deref()) {
        None => Mode::default(),
        Some(text) => Mode::parse(text)
            .ok_or_else(|| invalid("HARNESS_SANDBOX", "must be require, warn or off"))?,
    };
    let network = match args
        .agent_network
        .as_deref()
        .or(file.agent_network.as_deref())
    {
        None => Network::default(),
        Some(text) => Network::parse(text).ok_or_else(|| {
            invalid(
                "HARNESS_AGENT_NETWORK",
                "must be open, none, or comma-separated ports from 1 to 65535",
            )
        })?,
    };
    let netns = netns_settings(args, file)?;
    let closed_ports = closed_ports(
        args.agent_closed_ports
            .as_deref()
            .or(file.agent_closed_ports.as_deref()),
    )?;
    let paths = |flag: &Option<String>, file: &Option<Vec<PathBuf>>| -> Option<Vec<PathBuf>> {
        match flag {
            Some(text) => Some(
                std::env::split_paths(text)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect(),
            ),
            None => file.clone(),
        }
    };
    let mut read_paths = sandbox::default_toolchain_paths();
    read_paths.extend(paths(&args.agent_read_paths, &file.agent_read_paths).unwrap_or_default());
    let write_paths = paths(&args.agent_write_paths, &file.agent_write_paths).unwrap_or_default();
    for (name, list) in [
        ("HARNESS_AGENT_READ_PATHS", &read_paths),
        ("HARNESS_AGENT_WRITE_PATHS", &write_paths),
    ] {
        if let Some(p) = list.iter().find(|p| !p.is_absolute()) {
            return Err(invalid(
                name,
                &format!("{} is not an absolute path", p.display()),
            ));
        }
    }
    let pass = names(args.agent_env.as_deref(), file.agent_env.clone());
    if let Some(secret) = harness_engine::sandbox::harness_secret(&pass) {
        return Err(invalid(
            "HARNESS_AGENT_ENV",
            &format!("names {secret}, a secret of the harness that no agent may get"),
        ));
    }
    let defaults = Limits::default();
    let limit = |flag: Option<u64>, file: Option<u64>, default: Option<u64>, scale: u64| match flag
        .or(file)
    {
        Some(0) => None,
        Some(v) => Some(v.saturating_mul(scale)),
        None => default,
    };
    Ok(SandboxConfig {
        mode,
        network,
        read_paths,
        write_paths,
        env: EnvPolicy { pass },
        // Filled from `EngineSettings::workspace` by `EngineSettings::agent_sandbox`.
        workspace: None,
        assume_abi: args.sandbox_assume_abi,
        closed_ports,
        // Built by the server once it has bound its port.
        guard: None,
        netns,
        limits: Limits {
            memory_bytes: limit(
                args.agent_max_memory_mb,
                file.agent_max_memory_mb,
                defaults.memory_bytes,
                1 << 20,
            ),
            open_files: limit(
                args.agent_max_open_files,
                file.agent_max_open_files,
                defaults.open_files,
                1,
            ),
            processes: limit(
                args.agent_max_processes,
                file.agent_max_processes,
                defaults.processes,
                1,
            ),
            cpu_secs: limit(
                args.agent_max_cpu_secs,
                file.agent_max_cpu_secs,
                defaults.cpu_secs,
                1,
            ),
        },
    })
}

/// A list of names: comma-separated in a flag or variable (which wins), a list in the file.
fn names(flag: Option<&str>, file: Option<Vec<String>>) -> Vec<String> {
    match flag {
        Some(text) => text
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect(),
        None => file.unwrap_or_default(),
    }
}

fn seconds(
    name: &'static str,
    value: Option<f64>,
    default: f64,
    min: f64,
) -> Result<Duration, ConfigError> {
    let v = value.unwrap_or(default);
    if !v.is_finite() || v < min || v > 30.0 * 24.0 * 3600.0 {
        return Err(invalid(
            name,
            &format!("must be a number of seconds from {min}"),
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

/// The harness's own directories may not lie inside the repository agents work on:
/// git would create worktrees inside the user's checkout, its status would list them,
/// and a landing would carry the harness's data into the repository.
fn check_outside_workspace(
    workspace: &Path,
    database_dir: &Path,
    worktrees_dir: &Path,
) -> Result<(), ConfigError> {
    for (name, dir) in [
        ("HARNESS_WORKTREES_DIR", worktrees_dir),
        ("DATABASE_PATH", database_dir),
    ] {
        if paths::within(dir, workspace) {
            return Err(invalid(
                name,
                &format!(
                    "{} lies inside HARNESS_WORKSPACE ({}); put the harness's data outside the repository agents work on",
                    dir.display(),
                    workspace.display()
                ),
            ));
        }
    }
    Ok(())
}

impl EngineArgs {
    /// Flags and variables are relative to the directory the harness was started in.
    pub(super) fn resolve_paths(&mut self, cwd: &Path) {
        paths::resolve(cwd, &mut self.workspace);
        paths::resolve(cwd, &mut self.worktrees_dir);
        // A bare name (`chromium`) is a command looked up on PATH, not a path.
        if self
            .chromium
            .as_ref()
            .is_some_and(|c| c.components().count() > 1)
        {
            paths::resolve(cwd, &mut self.chromium);
        }
    }
}

impl EngineFile {
    /// `harness.toml`'s paths are relative to the file's own directory.
    pub(super) fn resolve_paths(&mut self, dir: &Path) {
        paths::resolve(dir, &mut self.workspace);
        paths::resolve(dir, &mut self.worktrees_dir);
        paths::resolve_all(dir, &mut self.agent_read_paths);
        paths::resolve_all(dir, &mut self.agent_write_paths);
    }
}

impl EngineSettings {
    /// The sandbox every agent process of this engine starts with: the settings' one,
    /// plus the workspace repository whose worktrees the agents work in.
    pub fn agent_sandbox(&self) -> SandboxConfig {
        SandboxConfig {
            workspace: self.workspace.clone(),
            ..self.sandbox.clone()
        }
    }

    /// The sandbox of an agent of `role`: the server's, with the hosts the role lists
    /// (`[roles.NAME] egress`) added to what its egress proxy lets through.
    pub fn agent_sandbox_for(&self, role: &str) -> SandboxConfig {
        let mut sandbox = self.agent_sandbox();
        // Checked at startup (roles.rs): an entry that does not parse cannot be here.
        if let Some(more) = self
            .roles
            .registry
            .get(role)
            .filter(|r| !r.egress.is_empty())
            .and_then(|r| Egress::parse(&r.egress.join(",")).ok())
        {
            sandbox.netns.egress = sandbox.netns.egress.with(&more);
        }
        sandbox
    }

    /// Merges flags and environment with the file. `alias_workspace` is VIBE_WORKSPACE.
    pub fn load(
        args: EngineArgs,
        file: EngineFile,
        alias_workspace: Option<PathBuf>,
        database_dir: PathBuf,
    ) -> Result<Self, ConfigError> {
        let sandbox = sandbox_settings(&args, &file)?;
        let verify = match args.verify {
            Some(lines) => lines
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            None => file.verify.unwrap_or_default(),
        };
        if let Some(n) = args.max_concurrent
            && !(1..=64).contains(&n)
        {
            return Err(invalid(
                "HARNESS_MAX_CONCURRENT",
                "must be between 1 and 64",
            ));
        }
        let roles = super::roles::RoleSettings::load(
            super::roles::RolesFile {
                roles: file.roles,
                routing: file.routing,
                sizes: file.sizes,
                validate_categories: file.validate_categories,
                sia_every_hours: file.sia_every_hours,
            },
            args.chromium,
        )?;
        let executors = super::executors::ExecutorSettings::load(
            file.executors,
            args.max_concurrent,
            file.max_concurrent,
        )?;
        let max_concurrent = executors.local_max_concurrent;
        let (forge_args, forge_file) = (args.forge, file.forge);
        let mut settings = Self {
            workspace: args
                .workspace
                .or(alias_workspace)
                .or(file.workspace)
                .filter(|p| !p.as_os_str().is_empty()),
            base_branch: args
                .base_branch
                .or(file.base_branch)
                .filter(|b| !b.is_empty()),
            worktrees_dir: args
                .worktrees_dir
                .or(file.worktrees_dir)
                .unwrap_or_else(|| database_dir.join("worktrees")),
            max_concurrent,
            session_spacing: seconds(
                "HARNESS_SESSION_SPACING_SECS",
                args.session_spacing_secs.or(file.session_spacing_secs),
                2.0,
                0.0,
            )?,
            tick: seconds(
                "HARNESS_TICK_SECS",
                args.tick_secs.or(file.tick_secs),
                10.0,
                0.05,
            )?,
            session_timeout: seconds(
                "HARNESS_SESSION_TIMEOUT_SECS",
                args.session_timeout_secs.or(file.session_timeout_secs),
                1800.0,
                1.0,
            )?,
            stuck_after: seconds(
                "HARNESS_STUCK_AFTER_SECS",
                args.stuck_after_secs.or(file.stuck_after_secs),
                630.0,
                1.0,
            )?,
            retry_base: seconds(
                "HARNESS_RETRY_BASE_SECS",
                args.retry_base_secs.or(file.retry_base_secs),
                60.0,
                0.0,
            )?,
            retry_cap: seconds(
                "HARNESS_RETRY_CAP_SECS",
                args.retry_cap_secs.or(file.retry_cap_secs),
                1800.0,
                0.0,
            )?,
            verify,
            verify_timeout: seconds(
                "HARNESS_VERIFY_TIMEOUT_SECS",
                args.verify_timeout_secs.or(file.verify_timeout_secs),
                900.0,
                1.0,
            )?,
            git_author_name: args
                .git_author_name
                .or(file.git_author_name)
                .unwrap_or_else(|| "Parent Harness".into()),
            git_author_email: args
                .git_author_email
                .or(file.git_author_email)
                .unwrap_or_else(|| "harness@localhost".into()),
            anthropic_api_key: args
                .anthropic_api_key
                .filter(|k| !k.trim().is_empty())
                .map(Secret::new),
            anthropic_base_url: args
                .anthropic_base_url
                .or(file.anthropic_base_url)
                .unwrap_or_else(|| "https://api.anthropic.com".into()),
            openai_api_key: args
                .openai_api_key
                .filter(|k| !k.trim().is_empty())
                .map(Secret::new),
            openai_base_url: args
                .openai_base_url
                .or(file.openai_base_url)
                .unwrap_or_else(|| OPENAI_BASE_URL.into()),
            api_backoff: seconds(
                "HARNESS_API_BACKOFF_SECS",
                args.api_backoff_secs.or(file.api_backoff_secs),
                2.0,
                0.0,
            )?,
            extra_models: names(args.extra_models.as_deref(), file.extra_models),
            prices: price_table(file.prices)?,
            worktree_retention: seconds(
                "HARNESS_WORKTREE_RETENTION_DAYS",
                args.worktree_retention_days
                    .or(file.worktree_retention_days)
                    .map(|d| d * 86_400.0),
                7.0 * 86_400.0,
                0.0,
            )?,
            sandbox,
            roles,
            agents: file.agents,
            executors,
            reliability: super::reliability::ReliabilitySettings::load(args.reliability)?,
            pull_requests: None,
        };
        settings.pull_requests = super::forge::PullRequestSettings::load(
            forge_args,
            forge_file,
            settings.workspace.as_deref(),
        )?;
        if settings.pull_requests.is_none()
            && let Some(role) = settings
                .roles
                .registry
                .iter()
                .find(|r| r.land == harness_domain::review::LandPolicy::PullRequest)
        {
            return Err(invalid(
                "harness.toml [roles]",
                &format!(
                    "role '{}' lands by pull request, but no forge is set up: set HARNESS_FORGE_TOKEN (docs/REVIEW.md)",
                    role.name
                ),
            ));
        }
        if paths::within(&database_dir, &settings.worktrees_dir) {
            return Err(invalid(
                "HARNESS_WORKTREES_DIR",
                "must not contain the database's directory: agents write in their worktrees",
            ));
        }
        if let Some(workspace) = &settings.workspace {
            check_outside_workspace(workspace, &database_dir, &settings.worktrees_dir)?;
        }
        let settings = super::reliability::watchdog_outlasts_commands(settings);
        for (id, o) in &settings.agents {
            if o.runtime == Some(RuntimeKind::Cli)
                && o.command.as_ref().is_none_or(|c| c.is_empty())
            {
                return Err(ConfigError::Invalid {
                    name: "harness.toml [agents]",
                    message: format!("agent {id} has runtime = \"cli\" but no command"),
                });
            }
            if let Some(role) = &o.role
                && settings.roles.registry.get(role).is_none()
            {
                return Err(ConfigError::Invalid {
                    name: "harness.toml [agents]",
                    message: format!("agent {id}: role: no role named '{role}'"),
                });
            }
            // Only tool groups add to a role's tools; anything else would be ignored.
            if let Some(bad) = o
                .tools
                .iter()
                .flatten()
                .find(|t| t.as_str() != harness_engine::browser::GROUP)
            {
                return Err(ConfigError::Invalid {
                    name: "harness.toml [agents]",
                    message: format!(
                        "agent '{id}': tools: unknown tool group '{bad}' (known: {})",
                        harness_engine::browser::GROUP
                    ),
                });
            }
            if let Some(origins) = &o.browser_origins {
                harness_engine::browser::OriginPolicy::with_origins(origins).map_err(|e| {
                    ConfigError::Invalid {
                        name: "harness.toml [agents]",
                        message: format!("agent {id}: {e}"),
                    }
                })?;
            }
            if let Some(kind) = o.executor
                && settings.executors.max_concurrent(kind) == 0
            {
                return Err(ConfigError::Invalid {
                    name: "harness.toml [agents]",
                    message: format!(
                        "agent {id} runs on executor {kind}, which has no [executors.{kind}] section"
                    ),
                });
            }
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(args: EngineArgs) -> Result<SandboxConfig, ConfigError> {
        sandbox_settings(&args, &EngineFile::default())
    }

    fn load_engine(args: EngineArgs) -> EngineSettings {
        let dir = std::env::temp_dir().join("harness-engine-settings-test");
        EngineSettings::load(args, EngineFile::default(), None, dir).unwrap()
    }

    #[test]
    fn an_agent_of_a_role_with_egress_hosts_gets_them_beside_the_servers() {
        let mut settings = load_engine(EngineArgs::default());
        let mut file = crate::roles::RolesFile::default();
        file.roles.insert(
            "research".into(),
            harness_domain::role::RoleSpec {
                egress: Some(vec!["github.com".into()]),
                ..Default::default()
            },
        );
        settings.roles = crate::roles::RoleSettings::load(file, None).unwrap();
        let server = settings.agent_sandbox().netns.egress;
        let research = settings.agent_sandbox_for("research").netns.egress;
        let build = settings.agent_sandbox_for("build").netns.egress;
        assert_eq!(build, server);
        assert_eq!(research, server.with(&Egress::parse("github.com").unwrap()));
        assert_ne!(research, server);
    }

    #[test]
    fn the_namespace_setting_and_the_egress_list_parse_and_always_allow_the_model_api() {
        let netns = sandbox(EngineArgs::default()).unwrap().netns;
        assert_eq!(netns.mode, NetnsMode::Auto);
        assert_eq!(
            netns.egress,
            Egress::default_with(Some(harness_engine::sandbox::net::DEFAULT_MODEL_HOST))
        );
        let netns = sandbox(EngineArgs {
            agent_netns: Some("Require".into()),
            agent_egress: Some("example.org, *.internal.test:8443".into()),
            anthropic_base_url: Some("http://127.0.0.1:9".into()),
            ..EngineArgs::default()
        })
        .unwrap()
        .netns;
        assert_eq!(netns.mode, NetnsMode::Require);
        assert_eq!(
            netns.egress,
            Egress::parse("example.org,*.internal.test:8443,127.0.0.1:9").unwrap()
        );
        for (netns, egress) in [(Some("sometimes"), None), (None, Some("a b"))] {
            let err = sandbox(EngineArgs {
                agent_netns: netns.map(Into::into),
                agent_egress: egress.map(Into::into),
                ..EngineArgs::default()
            })
            .unwrap_err()
            .to_string();
            assert!(err.contains("HARNESS_AGENT_"), "{err}");
        }
    }

    #[test]
    fn the_stuck_watchdog_is_never_shorter_than_the_longest_command() {
        let floor = harness_engine::tools::ToolLimits::default().max_command_timeout
            + Duration::from_secs(30);
        let raised = load_engine(EngineArgs {
            stuck_after_secs: Some(5.0),
            ..EngineArgs::default()
        });
        assert_eq!(raised.stuck_after, floor);
        let longer = floor + Duration::from_secs(60);
        let kept = load_engine(EngineArgs {
            stuck_after_secs: Some(longer.as_secs_f64()),
            ..EngineArgs::default()
        });
        assert_eq!(kept.stuck_after, longer);
    }

    #[test]
    fn the_sandbox_requires_landlock_and_leaves_the_network_open_by_default() {
        let config = sandbox(EngineArgs::default()).unwrap();
        assert_eq!(config.mode, Mode::Require);
        assert_eq!(config.network, Network::Open);
        assert!(config.limits.memory_bytes.is_some());
    }

    fn load_with_worktrees(worktrees: PathBuf, database_dir: PathBuf) -> Result<(), ConfigError> {
        let args = EngineArgs {
            worktrees_dir: Some(worktrees),
            ..EngineArgs::default()
        };
        EngineSettings::load(args, EngineFile::default(), None, database_dir).map(drop)
    }

    #[test]
    fn worktrees_that_reach_the_database_through_a_symlink_or_dot_dot_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("real/data");
        std::fs::create_dir_all(&data).unwrap();
        let alias = dir.path().join("alias");
        std::os::unix::fs::symlink(dir.path().join("real"), &alias).unwrap();
        for worktrees in [
            alias.clone(),
            alias.join("data"),
            data.join("worktrees/.."),
            data.join("not-yet/../.."),
        ] {
            let err = load_with_worktrees(worktrees.clone(), data.clone()).unwrap_err();
            assert!(
                err.to_string().contains("HARNESS_WORKTREES_DIR"),
                "{}: {err}",
                worktrees.display()
            );
        }
        // Beside the data directory, or inside it, is fine.
        load_with_worktrees(alias.join("worktrees"), data.clone()).unwrap();
        load_with_worktrees(data.join("worktrees"), data).unwrap();
    }

    #[test]
    fn the_test_only_landlock_override_reaches_the_sandbox() {
        let config = sandbox(EngineArgs {
            sandbox_assume_abi: Some(0),
            ..EngineArgs::default()
        })
        .unwrap();
        assert_eq!(config.support(), sandbox::Support::Missing);
        assert_eq!(sandbox(EngineArgs::default()).unwrap().assume_abi, None);
    }

    #[test]
    fn closed_ports_parse_and_a_bad_one_is_named() {
        let config = sandbox(EngineArgs {
            agent_closed_ports: Some(" 8080, 3334".into()),
            ..EngineArgs::default()
        })
        .unwrap();
        assert_eq!(config.closed_ports, [8080, 3334]);
        assert!(
            sandbox(EngineArgs::default())
                .unwrap()
                .closed_ports
                .is_empty()
        );
        for bad in ["0", "8080,", "http", "70000"] {
            let err = sandbox(EngineArgs {
                agent_closed_ports: Some(bad.into()),
                ..EngineArgs::default()
            })
            .unwrap_err();
            assert!(
                err.to_string().contains("HARNESS_AGENT_CLOSED_PORTS"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_bad_sandbox_setting_is_named() {
        let err = sandbox(EngineArgs {
            sandbox: Some("maybe".into()),
            ..EngineArgs::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("HARNESS_SANDBOX"), "{err}");
        let err = sandbox(EngineArgs {
            agent_network: Some("443,https".into()),
            ..EngineArgs::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("HARNESS_AGENT_NETWORK"), "{err}");
        let err = sandbox(EngineArgs {
            agent_write_paths: Some("relative/cache".into()),
            ..EngineArgs::default()
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("HARNESS_AGENT_WRITE_PATHS"),
            "{err}"
        );
    }

    #[test]
    fn a_harness_secret_in_the_agent_environment_is_refused_by_name() {
        let err = sandbox(EngineArgs {
            agent_env: Some("GOPATH, TELEGRAM_BOT_TOKEN".into()),
            ..EngineArgs::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("HARNESS_AGENT_ENV"), "{err}");
        assert!(err.contains("TELEGRAM_BOT_TOKEN"), "{err}");
    }

    #[test]
    fn zero_removes_a_limit_and_megabytes_become_bytes() {
        let config = sandbox(EngineArgs {
            agent_max_memory_mb: Some(512),
            agent_max_processes: Some(0),
            agent_env: Some("GOPATH, JAVA_HOME".into()),
            ..EngineArgs::default()
        })
        .unwrap();
        assert_eq!(config.limits.memory_bytes, Some(512 << 20));
        assert_eq!(config.limits.processes, None);
        assert_eq!(config.env.pass, ["GOPATH", "JAVA_HOME"]);
    }
}
