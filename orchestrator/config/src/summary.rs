//! The active setup as a person reads it: what `GET /api/settings` serves, the settings
//! page shows and the startup log prints. Secrets appear only as set or not set.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Settings, TelegramMode};
use harness_engine::sandbox::Network;

/// The settings this server runs with. Every path is absolute.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettingsSummary {
    /// The git repository agents work on; `null` until HARNESS_WORKSPACE is set.
    pub workspace: Option<String>,
    /// The branch verified work lands on; `null` means the workspace's current branch.
    pub base_branch: Option<String>,
    /// Verification commands, all of which must exit 0 (HARNESS_VERIFY).
    pub verify: Vec<String>,
    pub verify_timeout_secs: u64,
    pub database_path: String,
    pub worktrees_dir: String,
    /// `embedded`, `embedded (missing)` or the directory a build is served from.
    pub dashboard: String,
    /// The address and port the API listens on.
    pub listen: String,
    pub api_token_set: bool,
    pub anthropic_api_key_set: bool,
    pub anthropic_base_url: String,
    pub openai_api_key_set: bool,
    /// Where `openai` agents' model API is (OPENAI_BASE_URL).
    pub openai_base_url: String,
    /// Sessions at once on the local executor.
    pub max_concurrent: u32,
    pub session_timeout_secs: u64,
    pub stuck_after_secs: u64,
    /// Executors attempts may run on (`local` always).
    pub executors: Vec<String>,
    /// Roles and the runtime and model each sets (`null`: each agent's own).
    pub roles: Vec<RoleSummary>,
    pub sandbox: SandboxSummary,
    pub telegram: TelegramSummary,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleSummary {
    pub name: String,
    pub runtime: Option<String>,
    pub model: Option<String>,
    pub categories: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SandboxSummary {
    /// `require`, `warn` or `off` (HARNESS_SANDBOX).
    pub mode: String,
    /// Outbound TCP for agents: `open`, `none` or a port list (HARNESS_AGENT_NETWORK).
    pub network: String,
    pub read_paths: Vec<String>,
    pub write_paths: Vec<String>,
    /// Names of extra environment variables passed to agents (HARNESS_AGENT_ENV).
    pub env: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TelegramSummary {
    pub enabled: bool,
    /// `polling` or `webhook`; `null` when off.
    pub mode: Option<String>,
    pub chat_ids: Vec<i64>,
}

impl SettingsSummary {
    /// The summary of `settings`; `dashboard_embedded` says whether the binary holds one.
    pub fn of(settings: &Settings, dashboard_embedded: bool) -> Self {
        let engine = &settings.engine;
        let path = |p: &std::path::Path| p.display().to_string();
        let dashboard = match &settings.dashboard_dir {
            Some(dir) => path(dir),
            None if dashboard_embedded => "embedded".into(),
            None => "embedded (missing: built before dashboard/dist)".into(),
        };
        let mut executors = vec!["local".to_owned()];
        executors.extend(
            [
                ("docker", engine.executors.docker.is_some()),
                ("process", engine.executors.process.is_some()),
                ("kubernetes", engine.executors.kubernetes().is_some()),
            ]
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(name, _)| name.to_owned()),
        );
        Self {
            workspace: engine.workspace.as_deref().map(path),
            base_branch: engine.base_branch.clone(),
            verify: engine.verify.clone(),
            verify_timeout_secs: engine.verify_timeout.as_secs(),
            database_path: path(&settings.database_path),
            worktrees_dir: path(&engine.worktrees_dir),
            dashboard,
            listen: format!("{}:{}", settings.bind, settings.port),
            api_token_set: settings.api_token.is_some(),
            anthropic_api_key_set: engine.anthropic_api_key.is_some(),
            anthropic_base_url: engine.anthropic_base_url.clone(),
            openai_api_key_set: engine.openai_api_key.is_some(),
            openai_base_url: engine.openai_base_url.clone(),
            max_concurrent: engine.max_concurrent,
            session_timeout_secs: engine.session_timeout.as_secs(),
            stuck_after_secs: engine.stuck_after.as_secs(),
            executors,
            roles: engine
                .roles
                .registry
                .iter()
                .map(|r| RoleSummary {
                    name: r.name.as_str().to_owned(),
                    runtime: r.runtime.map(|k| k.as_str().to_owned()),
                    model: r.model.as_ref().map(|m| m.as_str().to_owned()),
                    categories: r.categories.iter().cloned().collect(),
                })
                .collect(),
            sandbox: SandboxSummary {
                mode: engine.sandbox.mode.as_str().into(),
                network: match &engine.sandbox.network {
                    Network::Open => "open".into(),
                    Network::None => "none".into(),
                    Network::Ports(ports) => ports
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                },
                read_paths: engine.sandbox.read_paths.iter().map(|p| path(p)).collect(),
                write_paths: engine.sandbox.write_paths.iter().map(|p| path(p)).collect(),
                env: engine.sandbox.env.pass.clone(),
            },
            telegram: TelegramSummary {
                enabled: settings.telegram.is_some(),
                mode: settings.telegram.as_ref().map(|t| {
                    match t.mode {
                        TelegramMode::Polling => "polling",
                        TelegramMode::Webhook { .. } => "webhook",
                    }
                    .to_owned()
                }),
                chat_ids: settings
                    .telegram
                    .as_ref()
                    .map(|t| t.chat_ids.clone())
                    .unwrap_or_default(),
            },
        }
    }

    /// The startup log's lines: one per topic, so a person reading the log sees where
    /// the data is and what agents will do before the first task runs.
    pub fn log(&self) {
        let or_unset = |v: &Option<String>, unset: &str| v.clone().unwrap_or_else(|| unset.into());
        tracing::info!(
            workspace = %or_unset(&self.workspace, "not set (HARNESS_WORKSPACE)"),
            base_branch = %or_unset(&self.base_branch, "the workspace's current branch"),
            verify = %if self.verify.is_empty() { "none (HARNESS_VERIFY)".to_owned() } else { self.verify.join(" && ") },
            "workspace"
        );
        tracing::info!(
            database = %self.database_path,
            worktrees = %self.worktrees_dir,
            "data"
        );
        tracing::info!(
            dashboard = %self.dashboard,
            listen = %self.listen,
            api_token = if self.api_token_set { "set" } else { "not set" },
            "web"
        );
        tracing::info!(
            anthropic_api_key = if self.anthropic_api_key_set { "set" } else { "not set" },
            openai_api_key = if self.openai_api_key_set { "set" } else { "not set" },
            max_concurrent = self.max_concurrent,
            executors = %self.executors.join(","),
            sandbox = %self.sandbox.mode,
            agent_network = %self.sandbox.network,
            telegram = self.telegram.mode.as_deref().unwrap_or("off"),
            "agents"
        );
    }
}
