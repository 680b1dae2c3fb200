//! `run_command`: a shell command in the worktree root, started through
//! [`crate::engine::process`] (which owns how a child is spawned and confined), with the
//! result told to the model as an exit status and the tail of its output.

use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{ToolOutcome, args, workspace::Workspace};
use crate::engine::process::{self, CommandSpec};

/// Environment variables removed before `run_command`: the model's shell must not see
/// the harness's own credentials.
const SECRET_VARS: [&str; 4] = [
    "ANTHROPIC_API_KEY",
    "HARNESS_API_TOKEN",
    "TELEGRAM_BOT_TOKEN",
    "ANTHROPIC_AUTH_TOKEN",
];

/// Runs `run_command` for `workspace`. Every problem becomes an error result.
pub async fn run_command(workspace: &Workspace, input: &Value) -> ToolOutcome {
    let args: args::RunCommand = match args::parse("run_command", input) {
        Ok(a) => a,
        Err(e) => return ToolOutcome::error(e.to_string()),
    };
    let limits = workspace.limits();
    let timeout = args
        .timeout_secs
        .map(Duration::from_secs)
        .unwrap_or(limits.default_command_timeout)
        .min(limits.max_command_timeout);
    let mut spec = CommandSpec::shell(&args.command, workspace.root().path());
    spec.timeout = Some(timeout);
    spec.kill_grace = Duration::from_secs(2);
    spec.tail_bytes = limits.command_output_bytes;
    spec.max_line_bytes = 4096;
    spec.env_remove = secret_vars();
    let finished = match process::run(&spec, &CancellationToken::new(), |_| {}).await {
        Ok(f) => f,
        Err(e) => return ToolOutcome::error(format!("cannot start the command: {e}")),
    };
    let content = format!(
        "{}\n--- output (last {} bytes at most) ---\n{}",
        match finished.termination {
            process::Termination::TimedOut =>
                format!("timed out after {}s and was killed", timeout.as_secs()),
            other => other.describe(),
        },
        limits.command_output_bytes,
        finished.tail
    );
    ToolOutcome {
        content,
        is_error: !finished.termination.success(),
    }
}

/// The names in [`SECRET_VARS`] plus any inherited variable that looks like a secret.
fn secret_vars() -> Vec<String> {
    let mut names: Vec<String> = SECRET_VARS.iter().map(|s| (*s).to_owned()).collect();
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        let upper = name.to_ascii_uppercase();
        if upper.ends_with("_API_KEY") || upper.ends_with("_TOKEN") || upper.ends_with("_SECRET") {
            names.push(name);
        }
    }
    names
}
