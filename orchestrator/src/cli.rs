//! Command-line interface: parses arguments and hands each subcommand to the library.

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};

use harness_config::{ConfigArgs, Settings};

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
    #[command(after_help = harness_config::SECRETS_HELP)]
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
    Dashboard(harness_gateway::cli::DashboardArgs),
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
        let addr = harness_config::listen_address(self.config.as_deref(), self.port, self.bind)?;
        Ok(format!(
            "http://{}/health",
            harness_gateway::cli::health_address(addr.ip(), addr.port())
        ))
    }

    fn run(&self) -> ExitCode {
        match self.url() {
            Ok(url) => harness_gateway::cli::healthcheck(&url, self.timeout_ms),
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
            Command::Dashboard(args) => args.run(),
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

fn load(args: ConfigArgs) -> anyhow::Result<Settings> {
    Ok(Settings::load(args.with_env_secrets()?)?)
}
