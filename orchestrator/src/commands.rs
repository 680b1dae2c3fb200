//! The one-shot subcommands: `migrate`, `backup`, `openapi`, `check-sandbox`, `worker`.

use std::path::Path;

use anyhow::Context;

use harness_base::telemetry::LogFormat;
use harness_config::Settings;
use harness_store::Store;

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
    harness_store::backup(&settings.database_path, dest)?;
    print_out(&format!(
        "backed up {} to {}\n",
        settings.database_path.display(),
        dest.display()
    ))
}

/// `harness openapi`: prints the API's OpenAPI document.
pub fn openapi() -> anyhow::Result<()> {
    print_out(&format!("{}\n", harness_api::openapi::document()))
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
    let report = runtime.block_on(harness_engine::sandbox::check::check(
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
    harness_base::telemetry::init(LogFormat::Text);
    // Like the server: the worker holds its token (and the API key) in its environment,
    // so it is made non-dumpable before it starts any agent process.
    if let Err(e) = harness_engine::sandbox::harden_server() {
        tracing::warn!(error = %e, "cannot mark the worker non-dumpable; its agent may read its memory and environment through /proc");
    }
    let endpoint = harness_worker::client::Endpoint::from_env()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    runtime.block_on(harness_worker::client::run(endpoint))?;
    Ok(())
}
