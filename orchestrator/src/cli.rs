//! Command-line interface: parses arguments and hands each subcommand to the library.

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigArgs, Settings};

/// Parent Harness orchestrator: a task board that runs AI coding agents.
#[derive(Debug, Parser)]
#[command(name = "harness", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending migrations, then serve the API, WebSocket and dashboard.
    #[command(after_help = crate::config::SECRETS_HELP)]
    Serve(ConfigArgs),
    /// Apply pending database migrations, print what was applied, and exit.
    Migrate(DataArgs),
    /// GET /health; exit 0 on 200, otherwise 1. For container health checks.
    Healthcheck(HealthcheckArgs),
    /// Write a consistent copy of the live database to DEST (SQLite backup API).
    Backup(BackupArgs),
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
    /// Serve the built dashboard and proxy /api, /ws and /health to an orchestrator.
    Dashboard(DashboardArgs),
    /// Start one confined process as agents are started and report what it could reach;
    /// exit 1 when anything got through or the sandbox cannot run.
    CheckSandbox(ConfigArgs),
    /// Run one remote attempt (inside an executor's container or pod). Reads
    /// HARNESS_WORKER_URL, HARNESS_WORKER_TOKEN and HARNESS_WORKER_DIR; exit 0 once the
    /// result is delivered.
    Worker,
}

#[derive(Debug, Args)]
struct HealthcheckArgs {
    /// URL to check [default: /health where `serve` listens: PORT and HARNESS_BIND, or
    /// harness.toml; loopback when it binds every address].
    #[arg(long, env = "HARNESS_HEALTHCHECK_URL")]
    url: Option<String>,
    /// Port `serve` listens on [default: 3333].
    #[arg(long, env = "PORT")]
    port: Option<u16>,
    /// Address `serve` binds [default: 127.0.0.1].
    #[arg(long, env = "HARNESS_BIND")]
    bind: Option<std::net::IpAddr>,
    /// The TOML file `serve` reads its port and bind from.
    #[arg(long, env = "HARNESS_CONFIG")]
    config: Option<PathBuf>,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
}

impl HealthcheckArgs {
    fn url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.url {
            return Ok(url.clone());
        }
        let addr = crate::config::listen_address(self.config.as_deref(), self.port, self.bind)?;
        // A server bound to every address answers on loopback.
        let ip = match addr.ip() {
            std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
            ip => ip,
        };
        Ok(format!(
            "http://{}/health",
            std::net::SocketAddr::new(ip, addr.port())
        ))
    }

    fn run(&self) -> ExitCode {
        match self.url() {
            Ok(url) => crate::commands::healthcheck(&url, self.timeout_ms),
            Err(err) => {
                eprintln!("harness healthcheck: {err:#}");
                ExitCode::FAILURE
            }
        }
    }
}

/// Where the database is: all `migrate` and `backup` need.
#[derive(Debug, Args)]
struct DataArgs {
    /// The TOML file `serve` reads (its database_path).
    #[arg(long, env = "HARNESS_CONFIG")]
    config: Option<PathBuf>,
    /// SQLite database file [default: as `serve`: $XDG_DATA_HOME/parent-harness/harness.db].
    #[arg(long, env = "DATABASE_PATH")]
    database_path: Option<PathBuf>,
}

impl DataArgs {
    fn settings(self) -> anyhow::Result<Settings> {
        Ok(Settings::load(ConfigArgs {
            config: self.config,
            database_path: self.database_path,
            ..ConfigArgs::default()
        })?)
    }
}

#[derive(Debug, Args)]
struct BackupArgs {
    /// Where to write the copy. Must not exist yet.
    dest: PathBuf,
    #[command(flatten)]
    data: DataArgs,
}

/// Arguments of the dashboard gateway (`harness dashboard`).
#[derive(Debug, Args)]
struct DashboardArgs {
    /// Base URL of the orchestrator to proxy /api, /ws and /health to.
    #[arg(
        long,
        env = "HARNESS_UPSTREAM",
        default_value = "http://127.0.0.1:3333"
    )]
    pub upstream: String,
    /// Directory of the built dashboard.
    #[arg(long, env = "HARNESS_DASHBOARD_DIR", default_value = "dashboard/dist")]
    pub dir: PathBuf,
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 3333)]
    pub port: u16,
    /// Address to bind. Another than loopback needs an orchestrator that requires a
    /// token, or HARNESS_ALLOW_OPEN=1.
    #[arg(long, env = "HARNESS_BIND", default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Log format: `text` or `json`.
    #[arg(long, env = "HARNESS_LOG_FORMAT", default_value = "text")]
    pub log_format: crate::telemetry::LogFormat,
    #[command(flatten)]
    pub web: crate::config::WebArgs,
}

/// The dashboard gateway on its own (`harness-gateway`): what the dashboard image runs.
/// A binary of its own so that the image carries only the gateway's code (fat LTO drops
/// the executors, the browser and the store), not the whole orchestrator.
#[derive(Debug, Parser)]
#[command(name = "harness-gateway", version, about)]
pub struct GatewayCli {
    #[command(subcommand)]
    command: GatewayCommand,
}

#[derive(Debug, Subcommand)]
enum GatewayCommand {
    /// Serve the built dashboard and proxy /api, /ws and /health to an orchestrator.
    Serve(DashboardArgs),
    /// GET a URL; exit 0 on 200, otherwise 1. For container health checks.
    Healthcheck(HealthcheckArgs),
}

impl GatewayCli {
    /// Runs the chosen subcommand, like [`Cli::run`].
    pub fn run(self) -> ExitCode {
        match self.command {
            GatewayCommand::Serve(args) => exit_code(dashboard(args)),
            GatewayCommand::Healthcheck(args) => args.run(),
        }
    }
}

impl Cli {
    /// Runs the chosen subcommand. Errors become one line on stderr and exit code 1.
    pub fn run(self) -> ExitCode {
        let result = match self.command {
            Command::Serve(args) => load(args).and_then(crate::server::run_blocking),
            Command::Migrate(args) => args.settings().and_then(|s| crate::commands::migrate(&s)),
            Command::Healthcheck(args) => return args.run(),
            Command::Backup(args) => {
                let dest = args.dest;
                args.data
                    .settings()
                    .and_then(|s| crate::commands::backup(&s, &dest))
            }
            Command::Dashboard(args) => dashboard(args),
            Command::Openapi => crate::commands::openapi(),
            Command::CheckSandbox(args) => {
                load(args).and_then(|s| crate::commands::check_sandbox(&s))
            }
            Command::Worker => crate::commands::worker(),
        };
        exit_code(result)
    }
}

fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("harness: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dashboard(args: DashboardArgs) -> anyhow::Result<()> {
    let web = crate::config::WebSettings::load(args.web)?;
    crate::commands::dashboard(
        crate::gateway::GatewayConfig {
            upstream: args.upstream,
            dir: args.dir,
            web,
        },
        std::net::SocketAddr::new(args.bind, args.port),
        args.log_format,
    )
}

fn load(args: ConfigArgs) -> anyhow::Result<Settings> {
    Ok(Settings::load(args.with_env_secrets()?)?)
}
