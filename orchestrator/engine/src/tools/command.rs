//! `run_command`: a shell command in the worktree root, started through
//! [`crate::process`] (which owns how a child is spawned and confined), with the
//! result told to the model as an exit status and the tail of its output; or, with
//! `background: true`, left running until the session ends (`services.rs`).

use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{ToolOutcome, args, workspace::Workspace};
use crate::process::{self, CommandSpec};

/// Runs `run_command` for `workspace`. Every problem becomes an error result.
/// `on_output` is called for each line the command prints while it runs.
pub async fn run_command(
    workspace: &Workspace,
    input: &Value,
    on_output: &(dyn Fn() + Sync),
) -> ToolOutcome {
    let args: args::RunCommand = match args::parse("run_command", input) {
        Ok(a) => a,
        Err(e) => return ToolOutcome::error(e.to_string()),
    };
    let limits = workspace.limits();
    let mut spec = CommandSpec::shell(&args.command, workspace.root().path());
    spec.kill_grace = Duration::from_secs(2);
    spec.tail_bytes = limits.command_output_bytes;
    spec.max_line_bytes = 4096;
    spec.sandbox = limits.sandbox.clone();
    if args.background {
        return workspace
            .services()
            .start(spec, limits.command_output_bytes)
            .await;
    }
    let timeout = args
        .timeout_secs
        .map(Duration::from_secs)
        .unwrap_or(limits.default_command_timeout)
        .min(limits.max_command_timeout);
    spec.timeout = Some(timeout);
    let finished = match process::run(&spec, &CancellationToken::new(), |_| on_output()).await {
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
        png: None,
    }
}
