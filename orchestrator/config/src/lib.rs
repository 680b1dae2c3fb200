//! Settings: the one place that reads the environment and `harness.toml`.
//!
//! Precedence, highest first: command-line flag, environment variable, `harness.toml`,
//! built-in default. Bad values fail at startup with the variable's name.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::Args;
use serde::Deserialize;

pub use engine::{AgentOverride, EngineArgs, EngineSettings, OPENAI_BASE_URL};
pub use forge::{ForgeArgs, PullRequestSettings};
pub use harness_forge::{ForgeKind, ForgeSettings, RepoPath as ForgeRepo};
use harness_gateway::web;
pub use harness_gateway::web::{PublicUrl, WebArgs, WebError, WebSettings};
pub use reliability::{Overrun, ReliabilityArgs, ReliabilitySettings};
pub use roles::{RoleSettings, RolesFile, SizeFile, SizeTier};
pub use summary::SettingsSummary;
pub use telegram::{NotifyKind, TelegramArgs, TelegramMode, TelegramSettings};

use harness_base::telemetry::LogFormat;
use harness_board::budget::BudgetLimits;
use harness_store::WriterLimits;

mod engine;
pub mod executors;
pub mod paths;
mod summary;
mod telegram;

/// Secrets are read from the environment or a file only, never from flags (a flag
/// shows in `ps`). Shown under `serve --help`, as clap cannot list a flagless value.
pub const SECRETS_HELP: &str = "Secrets (environment only, or a file named by the _FILE variable):
  HARNESS_API_TOKEN      Bearer token required on /api and /ws (16+ characters).
                         Unset: no authentication, allowed on a loopback address only.
  ANTHROPIC_API_KEY      Anthropic API key for `anthropic` agents.
  OPENAI_API_KEY         Key of the OpenAI-compatible API for `openai` agents (none for
                         a local model server such as Ollama).
  TELEGRAM_BOT_TOKEN     Bot token from @BotFather (123456789:AA...). Unset: Telegram is off.
  TELEGRAM_WEBHOOK_SECRET  Secret Telegram sends back in webhook mode.
  HARNESS_FORGE_TOKEN    Token of the forge pull requests are opened on (docs/REVIEW.md).
  HARNESS_FORGE_WEBHOOK_SECRET  Secret the forge's webhook deliveries are checked with.
  HARNESS_API_TOKEN_FILE, ANTHROPIC_API_KEY_FILE and OPENAI_API_KEY_FILE read them from a
  file, such as a Docker secret under /run/secrets.";
mod forge;
mod reliability;
mod roles;

/// Flags and environment variables shared by `serve`, `migrate` and `backup`.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// Optional TOML file with the same settings (snake_case keys, no secrets).
    #[arg(long, env = "HARNESS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Port for the API, WebSocket and dashboard [default: 3333].
    #[arg(long, env = "PORT")]
    pub port: Option<u16>,
    /// Address to bind [default: 127.0.0.1]. Another address needs HARNESS_API_TOKEN.
    #[arg(long, env = "HARNESS_BIND")]
    pub bind: Option<IpAddr>,
    /// SQLite database file; its directory is created
    /// [default: $XDG_DATA_HOME/parent-harness/harness.db, else ~/.local/share/parent-harness/harness.db].
    #[arg(long, env = "DATABASE_PATH")]
    pub database_path: Option<PathBuf>,
    /// A built dashboard to serve instead of the one inside the binary [default: none].
    #[arg(long, env = "HARNESS_DASHBOARD_DIR")]
    pub dashboard_dir: Option<PathBuf>,
    /// Days of operations events to keep [default: 30].
    #[arg(long, env = "HARNESS_EVENT_RETENTION_DAYS")]
    pub event_retention_days: Option<u32>,
    /// Live messages kept for WebSocket replay after a reconnect [default: 4096].
    #[arg(long, env = "HARNESS_WS_REPLAY")]
    pub ws_replay: Option<usize>,
    /// Largest accepted request body in bytes [default: 1048576].
    #[arg(long, env = "HARNESS_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Log format: `text` or `json` [default: text]. Level comes from HARNESS_LOG or RUST_LOG.
    #[arg(long, env = "HARNESS_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Daily spend limit in USD; no new session starts once reached [default: none].
    #[arg(long, env = "HARNESS_BUDGET_DAILY_USD")]
    pub budget_daily_usd: Option<f64>,
    /// Monthly spend limit in USD [default: none].
    #[arg(long, env = "HARNESS_BUDGET_MONTHLY_USD")]
    pub budget_monthly_usd: Option<f64>,
    /// Daily limit of input + output tokens [default: none].
    #[arg(long, env = "HARNESS_BUDGET_DAILY_TOKENS")]
    pub budget_daily_tokens: Option<u64>,
    /// Monthly limit of input + output tokens [default: none].
    #[arg(long, env = "HARNESS_BUDGET_MONTHLY_TOKENS")]
    pub budget_monthly_tokens: Option<u64>,
    /// File holding the API token (a Docker secret, say), instead of HARNESS_API_TOKEN.
    #[arg(long, env = "HARNESS_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,
    /// File holding the Anthropic API key, instead of ANTHROPIC_API_KEY.
    #[arg(long, env = "ANTHROPIC_API_KEY_FILE")]
    pub anthropic_api_key_file: Option<PathBuf>,
    /// File holding the OpenAI-compatible API's key, instead of OPENAI_API_KEY.
    #[arg(long, env = "OPENAI_API_KEY_FILE")]
    pub openai_api_key_file: Option<PathBuf>,
    /// Hours a dashboard login lasts before the token must be entered again [default: 168].
    #[arg(long, env = "HARNESS_LOGIN_EXPIRY_HOURS")]
    pub login_expiry_hours: Option<f64>,
    /// Take the client address for the login rate limit from the last X-Forwarded-For
    /// entry. Only behind a proxy that sets it, such as the dashboard gateway [default: false].
    #[arg(long, env = "HARNESS_TRUST_PROXY", value_parser = clap::builder::BoolishValueParser::new())]
    pub trust_proxy: Option<bool>,
    /// HARNESS_API_TOKEN: from the environment only (see [`ConfigArgs::with_env_secrets`]).
    #[arg(skip)]
    pub api_token: Option<String>,
    /// Most writes committed together in one transaction [default: 256].
    #[arg(long, env = "HARNESS_WRITE_BATCH")]
    pub write_batch: Option<usize>,
    /// Oldest, in milliseconds, a write batch grows before it is committed [default: 10].
    #[arg(long, env = "HARNESS_WRITE_BATCH_MS")]
    pub write_batch_ms: Option<u64>,
    /// Most writes waiting for the database; past it the API answers 503 [default: 512].
    #[arg(long, env = "HARNESS_WRITE_QUEUE")]
    pub write_queue: Option<usize>,
    #[command(flatten)]
    pub web: WebArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub telegram: TelegramArgs,
}

impl ConfigArgs {
    /// Adds the secrets held in the environment. The CLI calls this; tests and embedders
    /// pass secrets in the struct, so a developer's own key never leaks into them.
    /// Telegram's secrets come from `TELEGRAM_BOT_TOKEN_FILE` and
    /// `TELEGRAM_WEBHOOK_SECRET_FILE` too (the container entrypoint passes every secret
    /// as a file, so none is in PID 1's environment).
    pub fn with_env_secrets(mut self) -> Result<Self, ConfigError> {
        self.api_token = std::env::var("HARNESS_API_TOKEN").ok();
        self.engine.anthropic_api_key = std::env::var("ANTHROPIC_API_KEY").ok();
        self.engine.openai_api_key = std::env::var("OPENAI_API_KEY").ok();
        self.telegram.telegram_bot_token = secret(
            (
                "TELEGRAM_BOT_TOKEN",
                std::env::var("TELEGRAM_BOT_TOKEN").ok(),
            ),
            (
                "TELEGRAM_BOT_TOKEN_FILE",
                std::env::var_os("TELEGRAM_BOT_TOKEN_FILE").map(PathBuf::from),
            ),
        )?;
        let forge = &mut self.engine.forge;
        forge.forge_token = secret(
            (
                "HARNESS_FORGE_TOKEN",
                std::env::var("HARNESS_FORGE_TOKEN").ok(),
            ),
            ("HARNESS_FORGE_TOKEN_FILE", forge.forge_token_file.clone()),
        )?;
        forge.forge_webhook_secret = secret(
            (
                "HARNESS_FORGE_WEBHOOK_SECRET",
                std::env::var("HARNESS_FORGE_WEBHOOK_SECRET").ok(),
            ),
            (
                "HARNESS_FORGE_WEBHOOK_SECRET_FILE",
                forge.forge_webhook_secret_file.clone(),
            ),
        )?;
        self.telegram.telegram_webhook_secret = secret(
            (
                "TELEGRAM_WEBHOOK_SECRET",
                std::env::var("TELEGRAM_WEBHOOK_SECRET").ok(),
            ),
            (
                "TELEGRAM_WEBHOOK_SECRET_FILE",
                std::env::var_os("TELEGRAM_WEBHOOK_SECRET_FILE").map(PathBuf::from),
            ),
        )?;
        Ok(self)
    }
}

/// The same settings as read from `harness.toml`. Secrets are not accepted here.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    port: Option<u16>,
    bind: Option<IpAddr>,
    database_path: Option<PathBuf>,
    dashboard_dir: Option<PathBuf>,
    event_retention_days: Option<u32>,
    ws_replay: Option<usize>,
    max_body_bytes: Option<usize>,
    log_format: Option<LogFormat>,
    budget_daily_usd: Option<f64>,
    budget_monthly_usd: Option<f64>,
    budget_daily_tokens: Option<u64>,
    budget_monthly_tokens: Option<u64>,
    login_expiry_hours: Option<f64>,
    trust_proxy: Option<bool>,
    public_url: Option<String>,
    allowed_hosts: Option<Vec<String>>,
    published_bind: Option<IpAddr>,
    allow_open: Option<bool>,
    write_batch: Option<usize>,
    write_batch_ms: Option<u64>,
    write_queue: Option<usize>,
    #[serde(flatten)]
    engine: engine::EngineFile,
    telegram: Option<telegram::TelegramFile>,
}

/// Validated settings for one run of the orchestrator.
#[derive(Debug, Clone)]
pub struct Settings {
    pub port: u16,
    pub bind: IpAddr,
    /// Absolute, like every path setting (`paths.rs`).
    pub database_path: PathBuf,
    /// A built dashboard on disk that replaces the embedded one.
    pub dashboard_dir: Option<PathBuf>,
    pub event_retention: Duration,
    pub ws_replay: usize,
    pub max_body_bytes: usize,
    pub log_format: LogFormat,
    pub budget: BudgetLimits,
    pub api_token: Option<Secret>,
    /// How long a dashboard login lasts.
    pub login_expiry: Duration,
    /// Trust the last X-Forwarded-For entry as the client address.
    pub trust_proxy: bool,
    pub web: WebSettings,
    /// The group commit's bounds.
    pub writer: WriterLimits,
    pub engine: EngineSettings,
    /// `None` when TELEGRAM_BOT_TOKEN is not set.
    pub telegram: Option<TelegramSettings>,
}

/// A bad setting, named by the variable that holds it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("{name} is not valid: {message}")]
    Invalid { name: &'static str, message: String },
    #[error("harness.toml [roles]: {0}")]
    Role(#[from] harness_domain::role::RoleError),
    #[error("{name}: cannot read {path}: {source}")]
    ReadSecret {
        name: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

const DEFAULT_CONFIG_FILE: &str = "harness.toml";

impl Settings {
    /// Merges flags and environment (already in `args`) with the optional config file.
    pub fn load(mut args: ConfigArgs) -> Result<Self, ConfigError> {
        let cwd = paths::working_dir()?;
        let (mut file, file_dir) = read_file_settings(args.config.as_deref(), &cwd)?;
        args.resolve_paths(&cwd);
        file.resolve_paths(&file_dir);
        let writer = writer_limits(&args, &file);
        let api_token = secret(
            ("HARNESS_API_TOKEN", args.api_token.take()),
            ("HARNESS_API_TOKEN_FILE", args.api_token_file.take()),
        )?;
        args.engine.anthropic_api_key = secret(
            ("ANTHROPIC_API_KEY", args.engine.anthropic_api_key.take()),
            ("ANTHROPIC_API_KEY_FILE", args.anthropic_api_key_file.take()),
        )?
        .map(Secret::into_exposed);
        args.engine.openai_api_key = secret(
            ("OPENAI_API_KEY", args.engine.openai_api_key.take()),
            ("OPENAI_API_KEY_FILE", args.openai_api_key_file.take()),
        )?
        .map(Secret::into_exposed);
        let database_path = args
            .database_path
            .clone()
            .or(file.database_path.take())
            .unwrap_or_else(|| paths::default_database(&cwd));
        let database_dir = database_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let engine = EngineSettings::load(
            args.engine,
            std::mem::take(&mut file.engine),
            std::env::var_os("VIBE_WORKSPACE")
                .filter(|p| !p.is_empty())
                .map(|p| paths::absolute(&cwd, Path::new(&p))),
            database_dir,
        )?;
        let web = WebSettings::load(args.web.or_file(web::WebFile {
            public_url: file.public_url.take(),
            allowed_hosts: file.allowed_hosts.take(),
            published_bind: file.published_bind,
            allow_open: file.allow_open,
        }))?;
        let telegram = TelegramSettings::load(
            args.telegram,
            file.telegram.take(),
            web.public_url.as_ref().map(|u| u.origin()),
        )?;
        let settings = Settings {
            port: args.port.or(file.port).unwrap_or(3333),
            bind: args.bind.or(file.bind).unwrap_or([127, 0, 0, 1].into()),
            database_path,
            dashboard_dir: args
                .dashboard_dir
                .or(file.dashboard_dir)
                .filter(|d| !d.as_os_str().is_empty()),
            event_retention: days(
                args.event_retention_days
                    .or(file.event_retention_days)
                    .unwrap_or(30),
            ),
            ws_replay: args.ws_replay.or(file.ws_replay).unwrap_or(4096),
            max_body_bytes: args
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(1024 * 1024),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            budget: BudgetLimits {
                daily_usd: args.budget_daily_usd.or(file.budget_daily_usd),
                monthly_usd: args.budget_monthly_usd.or(file.budget_monthly_usd),
                daily_tokens: args.budget_daily_tokens.or(file.budget_daily_tokens),
                monthly_tokens: args.budget_monthly_tokens.or(file.budget_monthly_tokens),
            },
            api_token,
            login_expiry: login_expiry(args.login_expiry_hours.or(file.login_expiry_hours))?,
            trust_proxy: args.trust_proxy.or(file.trust_proxy).unwrap_or(false),
            web,
            writer,
            engine,
            telegram,
        };
        settings.validate()
    }

    /// Settings for tests and embedding: defaults, with the database at `database_path`
    /// and the worktrees beside it, as when `DATABASE_PATH` names it.
    pub fn for_database(database_path: impl Into<PathBuf>) -> Self {
        let mut settings = Self::load(ConfigArgs {
            config: Some(PathBuf::new()),
            ..ConfigArgs::default()
        })
        .expect("default settings are valid");
        settings.database_path = database_path.into();
        if let Some(dir) = settings.database_path.parent() {
            settings.engine.worktrees_dir = dir.join("worktrees");
        }
        settings.bind = [127, 0, 0, 1].into();
        settings.port = 0;
        settings
    }

    fn validate(self) -> Result<Self, ConfigError> {
        if self.database_path.as_os_str().is_empty() {
            return Err(invalid("DATABASE_PATH", "must not be empty"));
        }
        if !(16..=1_000_000).contains(&self.ws_replay) {
            return Err(invalid(
                "HARNESS_WS_REPLAY",
                "must be between 16 and 1000000",
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_body_bytes) {
            return Err(invalid(
                "HARNESS_MAX_BODY_BYTES",
                "must be between 1024 and 67108864",
            ));
        }
        for (name, value) in [
            ("HARNESS_BUDGET_DAILY_USD", self.budget.daily_usd),
            ("HARNESS_BUDGET_MONTHLY_USD", self.budget.monthly_usd),
        ] {
            if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return Err(invalid(name, "must be a number of dollars, 0 or more"));
            }
        }
        if !(1..=10_000).contains(&self.writer.max_batch) {
            return Err(invalid(
                "HARNESS_WRITE_BATCH",
                "must be between 1 and 10000",
            ));
        }
        if self.writer.max_batch_age > Duration::from_secs(1) {
            return Err(invalid(
                "HARNESS_WRITE_BATCH_MS",
                "must be between 0 and 1000",
            ));
        }
        if !(1..=100_000).contains(&self.writer.max_queue) {
            return Err(invalid(
                "HARNESS_WRITE_QUEUE",
                "must be between 1 and 100000",
            ));
        }
        if let Some(token) = &self.api_token
            && token.expose().len() < 16
        {
            return Err(invalid(
                "HARNESS_API_TOKEN",
                "must be at least 16 characters (try: openssl rand -hex 32)",
            ));
        }
        Ok(self)
    }
}

/// Where `serve` listens with these flags (or variables) and the config file: what
/// `harness healthcheck` checks when it is given no URL.
pub fn listen_address(
    config: Option<&Path>,
    port: Option<u16>,
    bind: Option<IpAddr>,
) -> Result<std::net::SocketAddr, ConfigError> {
    let cwd = paths::working_dir()?;
    let (file, _) = read_file_settings(config, &cwd)?;
    Ok(std::net::SocketAddr::new(
        bind.or(file.bind).unwrap_or([127, 0, 0, 1].into()),
        port.or(file.port).unwrap_or(3333),
    ))
}

/// A secret from its variable or from the file its `_FILE` variable names (trimmed, so
/// a trailing newline does not count). Both set is an error: which one would win?
fn secret(
    (name, value): (&'static str, Option<String>),
    (file_name, file): (&'static str, Option<PathBuf>),
) -> Result<Option<Secret>, ConfigError> {
    let value = value.filter(|v| !v.trim().is_empty());
    let file = file.filter(|f| !f.as_os_str().is_empty());
    let raw = match (value, file) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                file_name,
                &format!("set {name} or {file_name}, not both"),
            ));
        }
        (Some(v), None) => v,
        (None, Some(path)) => {
            std::fs::read_to_string(&path).map_err(|source| ConfigError::ReadSecret {
                name: file_name,
                path,
                source,
            })?
        }
        (None, None) => return Ok(None),
    };
    let trimmed = raw.trim();
    Ok((!trimmed.is_empty()).then(|| Secret::new(trimmed)))
}

fn login_expiry(hours: Option<f64>) -> Result<Duration, ConfigError> {
    let hours = hours.unwrap_or(168.0);
    if !hours.is_finite() || !(0.01..=24.0 * 365.0).contains(&hours) {
        return Err(invalid(
            "HARNESS_LOGIN_EXPIRY_HOURS",
            "must be a number of hours from 0.01 to 8760",
        ));
    }
    Ok(Duration::from_secs_f64(hours * 3600.0))
}

fn writer_limits(args: &ConfigArgs, file: &FileSettings) -> WriterLimits {
    let default = WriterLimits::default();
    WriterLimits {
        max_batch: args
            .write_batch
            .or(file.write_batch)
            .unwrap_or(default.max_batch),
        max_batch_age: args
            .write_batch_ms
            .or(file.write_batch_ms)
            .map_or(default.max_batch_age, Duration::from_millis),
        max_queue: args
            .write_queue
            .or(file.write_queue)
            .unwrap_or(default.max_queue),
    }
}

fn days(n: u32) -> Duration {
    Duration::from_secs(u64::from(n) * 24 * 60 * 60)
}

impl From<WebError> for ConfigError {
    fn from(e: WebError) -> Self {
        Self::Invalid {
            name: e.name,
            message: e.message,
        }
    }
}

pub fn invalid(name: &'static str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        name,
        message: message.to_owned(),
    }
}

/// Reads `path`, or `./harness.toml` when it exists. An empty path means "no file".
/// Also returns the directory the file's relative paths are relative to: its own
/// (`cwd` when there is no file).
fn read_file_settings(
    path: Option<&Path>,
    cwd: &Path,
) -> Result<(FileSettings, PathBuf), ConfigError> {
    let path = match path {
        Some(p) if p.as_os_str().is_empty() => return Ok((FileSettings::default(), cwd.into())),
        Some(p) => paths::absolute(cwd, p),
        None if cwd.join(DEFAULT_CONFIG_FILE).is_file() => cwd.join(DEFAULT_CONFIG_FILE),
        None => return Ok((FileSettings::default(), cwd.into())),
    };
    let dir = path
        .parent()
        .map_or_else(|| cwd.to_path_buf(), Path::to_path_buf);
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::ReadFile {
        path: path.clone(),
        source,
    })?;
    let settings = toml::from_str(&text).map_err(|e| ConfigError::ParseFile {
        path,
        message: e.message().to_owned(),
    })?;
    Ok((settings, dir))
}

impl ConfigArgs {
    /// Flags and variables are relative to the directory the harness was started in.
    fn resolve_paths(&mut self, cwd: &Path) {
        for path in [
            &mut self.database_path,
            &mut self.dashboard_dir,
            &mut self.api_token_file,
            &mut self.anthropic_api_key_file,
        ] {
            paths::resolve(cwd, path);
        }
        self.engine.resolve_paths(cwd);
    }
}

impl FileSettings {
    /// `harness.toml`'s paths are relative to the file's own directory.
    fn resolve_paths(&mut self, dir: &Path) {
        paths::resolve(dir, &mut self.database_path);
        paths::resolve(dir, &mut self.dashboard_dir);
        self.engine.resolve_paths(dir);
    }
}

pub use harness_base::Secret;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_hidden_from_debug_output() {
        let s = Secret::new("super-secret-token-value");
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }

    #[test]
    fn a_short_api_token_is_rejected_by_name() {
        let err = Settings::load(ConfigArgs {
            config: Some(PathBuf::new()),
            api_token: Some("short".into()),
            ..ConfigArgs::default()
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("HARNESS_API_TOKEN"), "{err}");
    }

    #[test]
    fn secrets_are_read_from_their_files_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let (token, key) = (dir.path().join("token"), dir.path().join("key"));
        std::fs::write(&token, "a-long-test-token-0123456789\n").unwrap();
        std::fs::write(&key, "sk-ant-test\n").unwrap();
        let s = Settings::load(ConfigArgs {
            config: Some(PathBuf::new()),
            api_token_file: Some(token),
            anthropic_api_key_file: Some(key),
            ..ConfigArgs::default()
        })
        .unwrap();
        assert_eq!(
            s.api_token.as_ref().map(Secret::expose),
            Some("a-long-test-token-0123456789")
        );
        assert_eq!(
            s.engine.anthropic_api_key.as_ref().map(Secret::expose),
            Some("sk-ant-test")
        );
    }

    #[test]
    fn the_default_bind_is_loopback() {
        let s = Settings::load(ConfigArgs {
            config: Some(PathBuf::new()),
            ..ConfigArgs::default()
        })
        .unwrap();
        assert!(s.bind.is_loopback());
    }

    #[test]
    fn an_unknown_key_in_the_config_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("harness.toml");
        std::fs::write(&path, "prot = 1\n").unwrap();
        let err = Settings::load(ConfigArgs {
            config: Some(path),
            ..ConfigArgs::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn roles_come_from_the_config_file_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("harness.toml");
        std::fs::write(
            &path,
            "port = 4000\n[roles.designer]\nprompt = \"You design.\"\ncategories = [\"design\"]\n\
             [agents.designer-1]\nrole = \"designer\"\n[sizes.large]\ntimeout_secs = 60\n",
        )
        .unwrap();
        let s = Settings::load(ConfigArgs {
            config: Some(path.clone()),
            ..ConfigArgs::default()
        })
        .unwrap();
        assert_eq!(s.engine.roles.registry.route("design").as_str(), "designer");
        std::fs::write(
            &path,
            "[roles.designer]\nprompt = \"x\"\ntools = [\"hammer\"]\n",
        )
        .unwrap();
        let err = Settings::load(ConfigArgs {
            config: Some(path.clone()),
            ..ConfigArgs::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("'designer'") && err.contains("tools"), "{err}");
        std::fs::write(&path, "[roles.designer]\nprompt = \"x\"\ncolour = 1\n").unwrap();
        let err = Settings::load(ConfigArgs {
            config: Some(path),
            ..ConfigArgs::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn the_web_settings_can_come_from_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("harness.toml");
        std::fs::write(
            &path,
            "allowed_hosts = [\"box.lan\"]\npublic_url = \"https://h.example\"\nlogin_expiry_hours = 2\n",
        )
        .unwrap();
        let s = Settings::load(ConfigArgs {
            config: Some(path),
            ..ConfigArgs::default()
        })
        .unwrap();
        assert_eq!(s.web.allowed_hosts, ["box.lan"]);
        assert!(s.web.public_url.is_some_and(|u| u.https));
        assert_eq!(s.login_expiry, Duration::from_secs(7200));
    }

    #[test]
    fn the_telegram_table_is_read_and_refuses_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("harness.toml");
        std::fs::write(
            &path,
            "public_url = \"https://h.example/\"\n[telegram]\nchat_id = [42, -100123]\n\
             api_url = \"http://127.0.0.1:9/\"\nnotify = [\"completed\", \"question\"]\n\
             poll_timeout_secs = 5\n",
        )
        .unwrap();
        let with_token = |path: &PathBuf| ConfigArgs {
            config: Some(path.clone()),
            telegram: TelegramArgs {
                telegram_bot_token: Some(Secret::new("123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345")),
                ..TelegramArgs::default()
            },
            ..ConfigArgs::default()
        };
        let t = Settings::load(with_token(&path)).unwrap().telegram.unwrap();
        assert_eq!(t.chat_ids, [42, -100123]);
        assert_eq!(t.api_url, "http://127.0.0.1:9");
        assert_eq!(t.mode, TelegramMode::Polling);
        assert_eq!(
            t.notify,
            [NotifyKind::Completed, NotifyKind::Question]
                .into_iter()
                .collect()
        );
        assert_eq!(t.poll_timeout, Duration::from_secs(5));
        assert_eq!(t.public_url.as_deref(), Some("https://h.example"));
        std::fs::write(&path, "[telegram]\nchat_id = 42\nbot_token = \"1:x\"\n").unwrap();
        let err = Settings::load(with_token(&path)).unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
        std::fs::write(&path, "[telegram]\nchat_id = \"forty-two\"\n").unwrap();
        let err = Settings::load(with_token(&path)).unwrap_err().to_string();
        assert!(err.starts_with("TELEGRAM_CHAT_ID"), "{err}");
    }

    #[test]
    fn paths_in_the_config_file_are_relative_to_the_file_and_flags_to_the_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        std::fs::create_dir(&conf).unwrap();
        let path = conf.join("harness.toml");
        std::fs::write(
            &path,
            "database_path = \"state/harness.db\"\nworkspace = \"../repo\"\n",
        )
        .unwrap();
        let s = Settings::load(ConfigArgs {
            config: Some(path.clone()),
            ..ConfigArgs::default()
        })
        .unwrap();
        assert_eq!(s.database_path, conf.join("state/harness.db"));
        assert_eq!(
            s.engine.workspace.as_deref(),
            Some(dir.path().join("repo").as_path())
        );
        assert_eq!(s.engine.worktrees_dir, conf.join("state/worktrees"));
        let cwd = std::env::current_dir().unwrap();
        let s = Settings::load(ConfigArgs {
            config: Some(path),
            database_path: Some("./rel/h.db".into()),
            ..ConfigArgs::default()
        })
        .unwrap();
        assert_eq!(s.database_path, cwd.join("rel/h.db"));
        assert!(s.engine.worktrees_dir.is_absolute());
    }

    #[test]
    fn the_harness_data_may_not_lie_inside_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        let load = |db: PathBuf, worktrees: Option<PathBuf>| {
            Settings::load(ConfigArgs {
                config: Some(PathBuf::new()),
                database_path: Some(db),
                engine: EngineArgs {
                    workspace: Some(repo.clone()),
                    worktrees_dir: worktrees,
                    ..EngineArgs::default()
                },
                ..ConfigArgs::default()
            })
        };
        let err = load(repo.join("data/harness.db"), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("HARNESS_WORKTREES_DIR") && err.contains("inside HARNESS_WORKSPACE"),
            "{err}"
        );
        let err = load(
            repo.join("data/harness.db"),
            Some(dir.path().join("worktrees")),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("DATABASE_PATH"), "{err}");
        let err = load(
            dir.path().join("data/harness.db"),
            Some(repo.join("x/../wt")),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("HARNESS_WORKTREES_DIR"), "{err}");
        assert!(load(dir.path().join("data/harness.db"), None).is_ok());
    }

    #[test]
    fn flags_win_over_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("harness.toml");
        std::fs::write(&path, "port = 4000\nws_replay = 100\n").unwrap();
        let s = Settings::load(ConfigArgs {
            config: Some(path),
            port: Some(5000),
            ..ConfigArgs::default()
        })
        .unwrap();
        assert_eq!((s.port, s.ws_replay), (5000, 100));
    }
}
