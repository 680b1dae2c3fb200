//! The one-shot subcommands: `migrate`, `healthcheck`, `backup`, `dashboard`.

use std::{path::Path, process::ExitCode, time::Duration};

use anyhow::Context;

use crate::{config::Settings, gateway::GatewayConfig, store::Store, telemetry::LogFormat};

/// `harness migrate`: applies pending migrations and prints each one.
pub fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let (_, applied) = Store::open(&settings.database_path)?;
    let mut text = String::new();
    if applied.is_empty() {
        text = format!("{}: up to date\n", settings.database_path.display());
    }
    for m in applied {
        text.push_str(&format!("applied {:04}_{}\n", m.version, m.name));
    }
    print_out(&text)
}

/// `harness backup DEST`: a consistent online copy, safe while `serve` runs.
pub fn backup(settings: &Settings, dest: &Path) -> anyhow::Result<()> {
    crate::store::backup(&settings.database_path, dest)?;
    print_out(&format!(
        "backed up {} to {}\n",
        settings.database_path.display(),
        dest.display()
    ))
}

/// `harness openapi`: prints the API's OpenAPI document.
pub fn openapi() -> anyhow::Result<()> {
    print_out(&format!("{}\n", crate::api::openapi::document()))
}

/// Writes a command's output to stdout. A reader that went away (`harness openapi |
/// head`) is not an error: the output was wanted only that far. `println!` would panic.
fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to stdout"))
        }
        _ => Ok(()),
    }
}

/// `harness healthcheck`: exit 0 when `url` answers 200, otherwise 1 with a reason.
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
    let client = crate::http_client::client(crate::http_client::Timeouts {
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

/// `harness dashboard`: the gateway that serves the SPA and proxies to the orchestrator.
pub fn dashboard(
    config: GatewayConfig,
    addr: std::net::SocketAddr,
    log_format: LogFormat,
) -> anyhow::Result<()> {
    crate::telemetry::init(log_format);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    runtime.block_on(async move {
        if config.web.exposed(addr.ip()) && !config.web.allow_open {
            crate::gateway::ensure_upstream_requires_token(&config.upstream).await?;
        }
        let shutdown = crate::server::shutdown_signal();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        tracing::info!(address = %listener.local_addr()?, upstream = %config.upstream, "dashboard gateway listening");
        crate::gateway::serve(listener, config, shutdown).await
    })
}

/// `harness check-sandbox`: the sandbox's own probes, printed; an error when one got
/// through, so scripts and the container test can rely on the exit code.
pub fn check_sandbox(settings: &Settings) -> anyhow::Result<()> {
    let data_dir = settings
        .database_path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(crate::engine::sandbox::check::check(
        &settings.engine.sandbox,
        &data_dir,
    ))?;
    print_out(&report.text)?;
    anyhow::ensure!(
        report.passed,
        "the agent sandbox let something through (see above)"
    );
    Ok(())
}

/// `harness worker`: one remote attempt, start to result.
pub fn worker() -> anyhow::Result<()> {
    crate::telemetry::init(LogFormat::Text);
    // Like the server: the worker holds its token (and the API key) in its environment,
    // so it is made non-dumpable before it starts any agent process.
    if let Err(e) = crate::engine::sandbox::harden_server() {
        tracing::warn!(error = %e, "cannot mark the worker non-dumpable; its agent may read its memory and environment through /proc");
    }
    let endpoint = crate::worker::client::Endpoint::from_env()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    runtime.block_on(crate::worker::client::run(endpoint))?;
    Ok(())
}
