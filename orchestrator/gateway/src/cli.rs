//! The gateway's command line: `harness-gateway serve | healthcheck`, and the arguments
//! `harness dashboard` shares with `harness-gateway serve`.

use std::{net::IpAddr, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use harness_base::telemetry::LogFormat;

use crate::{GatewayConfig, web::WebArgs, web::WebSettings};

/// Arguments of the dashboard gateway (`harness dashboard`, `harness-gateway serve`).
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Base URL of the orchestrator to proxy /api, /ws and /health to.
    #[arg(
        long,
        env = "HARNESS_UPSTREAM",
        default_value = "http://127.0.0.1:3333"
    )]
    upstream: String,
    /// Directory of the built dashboard.
    #[arg(long, env = "HARNESS_DASHBOARD_DIR", default_value = "dashboard/dist")]
    dir: PathBuf,
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 3333)]
    port: u16,
    /// Address to bind. Another than loopback needs an orchestrator that requires a
    /// token, or HARNESS_ALLOW_OPEN=1.
    #[arg(long, env = "HARNESS_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Log format: `text` or `json`.
    #[arg(long, env = "HARNESS_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(flatten)]
    web: WebArgs,
}

impl DashboardArgs {
    /// Serves the gateway until SIGTERM or SIGINT.
    pub fn run(self) -> anyhow::Result<()> {
        let web = WebSettings::load(self.web)?;
        let config = GatewayConfig {
            upstream: self.upstream,
            dir: self.dir,
            web,
        };
        let addr = std::net::SocketAddr::new(self.bind, self.port);
        harness_base::telemetry::init(self.log_format);
        let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
        runtime.block_on(async move {
            if config.web.exposed(addr.ip()) && !config.web.allow_open {
                crate::ensure_upstream_requires_token(&config.upstream).await?;
            }
            let shutdown = harness_base::listen::shutdown_signal();
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            tracing::info!(address = %listener.local_addr()?, upstream = %config.upstream, "dashboard gateway listening");
            crate::serve(listener, config, shutdown).await
        })
    }
}

/// The dashboard gateway on its own (`harness-gateway`): what the dashboard image runs.
/// A binary and a crate of its own so that the image carries only the gateway's code,
/// none of the store, the executors or the browser.
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

#[derive(Debug, Args)]
struct HealthcheckArgs {
    /// URL to check [default: /health on the port and address `serve` listens on].
    #[arg(long, env = "HARNESS_HEALTHCHECK_URL")]
    url: Option<String>,
    /// Port `serve` listens on.
    #[arg(long, env = "PORT", default_value_t = 3333)]
    port: u16,
    /// Address `serve` binds; loopback when it binds every address.
    #[arg(long, env = "HARNESS_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
}

impl GatewayCli {
    /// Runs the chosen subcommand. Errors become one line on stderr and exit code 1.
    pub fn run(self) -> ExitCode {
        match self.command {
            GatewayCommand::Serve(args) => match args.run() {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("harness-gateway: {err:#}");
                    ExitCode::FAILURE
                }
            },
            GatewayCommand::Healthcheck(args) => {
                let url = args.url.clone().unwrap_or_else(|| {
                    format!("http://{}/health", health_address(args.bind, args.port))
                });
                healthcheck(&url, args.timeout_ms)
            }
        }
    }
}

/// Where to reach a server that binds `bind`: one bound to every address answers on
/// loopback.
pub fn health_address(bind: IpAddr, port: u16) -> std::net::SocketAddr {
    let ip = match bind {
        IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    std::net::SocketAddr::new(ip, port)
}

/// `healthcheck`: exit 0 when `url` answers 200, otherwise 1 with a reason.
pub fn healthcheck(url: &str, timeout_ms: u64) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let outcome = runtime
        .context("cannot start the runtime")
        .and_then(|rt| rt.block_on(check(url, Duration::from_millis(timeout_ms))));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("harness healthcheck: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn check(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let client = harness_base::http_client::client(harness_base::http_client::Timeouts {
        connect: timeout,
        request: Some(timeout),
    })?;
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url} failed"))?;
    let status = response.status();
    anyhow::ensure!(
        status == reqwest::StatusCode::OK,
        "GET {url} answered {status}"
    );
    Ok(())
}
