//! Settings of the agent engine: workspace, limits, timeouts, verification, models.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use clap::Args;
use harness_domain::agent::{AgentRole, RuntimeKind};
use serde::Deserialize;

use super::{ConfigError, Secret, invalid};

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
    /// Seconds a session may run [default: 1800].
    #[arg(long, env = "HARNESS_SESSION_TIMEOUT_SECS")]
    pub session_timeout_secs: Option<f64>,
    /// Seconds without any sign of life before a session counts as stuck [default: 600].
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
    /// Anthropic API key for `anthropic` agents.
    #[arg(
        long = "anthropic-api-key",
        env = "ANTHROPIC_API_KEY",
        hide_env_values = true
    )]
    pub anthropic_api_key: Option<String>,
    /// Messages API base URL [default: https://api.anthropic.com].
    #[arg(long, env = "ANTHROPIC_BASE_URL")]
    pub anthropic_base_url: Option<String>,
    /// Days a failed attempt's worktree is kept for inspection [default: 7].
    #[arg(long, env = "HARNESS_WORKTREE_RETENTION_DAYS")]
    pub worktree_retention_days: Option<f64>,
    /// First wait after an API error without retry-after; doubles per retry [default: 2].
    #[arg(long, env = "HARNESS_API_BACKOFF_SECS")]
    pub api_backoff_secs: Option<f64>,
    #[command(flatten)]
    pub reliability: super::reliability::ReliabilityArgs,
}

/// Per-agent overrides from `harness.toml` (`[agents.build-2]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentOverride {
    pub runtime: Option<RuntimeKind>,
    /// The CLI agent's command line, for `runtime = "cli"`.
    pub command: Option<Vec<String>>,
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
    api_backoff_secs: Option<f64>,
    worktree_retention_days: Option<f64>,
    /// Category → role, added to the defaults.
    #[serde(default)]
    routing: BTreeMap<String, AgentRole>,
    #[serde(default)]
    agents: BTreeMap<String, AgentOverride>,
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
    pub api_backoff: Duration,
    pub worktree_retention: Duration,
    pub routing: BTreeMap<String, AgentRole>,
    pub agents: BTreeMap<String, AgentOverride>,
    pub reliability: super::reliability::ReliabilitySettings,
}

/// Categories each role takes unless `[routing]` says otherwise.
pub fn default_routing() -> BTreeMap<String, AgentRole> {
    use AgentRole::*;
    [
        ("feature", Build),
        ("bug", Build),
        ("refactor", Build),
        ("test", Build),
        ("chore", Build),
        ("docs", Spec),
        ("spec", Spec),
        ("research", Research),
        ("planning", Planning),
        ("epic", Planning),
        ("qa", Qa),
        ("review", Qa),
        ("question", Clarification),
    ]
    .into_iter()
    .map(|(c, r)| (c.to_owned(), r))
    .collect()
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

impl EngineSettings {
    /// Merges flags and environment with the file. `alias_workspace` is VIBE_WORKSPACE.
    pub fn load(
        args: EngineArgs,
        file: EngineFile,
        alias_workspace: Option<PathBuf>,
        database_dir: PathBuf,
    ) -> Result<Self, ConfigError> {
        let verify = match args.verify {
            Some(lines) => lines
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            None => file.verify.unwrap_or_default(),
        };
        let max_concurrent = args.max_concurrent.or(file.max_concurrent).unwrap_or(2);
        if !(1..=64).contains(&max_concurrent) {
            return Err(invalid(
                "HARNESS_MAX_CONCURRENT",
                "must be between 1 and 64",
            ));
        }
        let mut routing = default_routing();
        routing.extend(file.routing);
        let settings = Self {
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
                600.0,
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
            api_backoff: seconds(
                "HARNESS_API_BACKOFF_SECS",
                args.api_backoff_secs.or(file.api_backoff_secs),
                2.0,
                0.0,
            )?,
            worktree_retention: seconds(
                "HARNESS_WORKTREE_RETENTION_DAYS",
                args.worktree_retention_days
                    .or(file.worktree_retention_days)
                    .map(|d| d * 86_400.0),
                7.0 * 86_400.0,
                0.0,
            )?,
            routing,
            agents: file.agents,
            reliability: super::reliability::ReliabilitySettings::load(args.reliability)?,
        };
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
        }
        Ok(settings)
    }
}
