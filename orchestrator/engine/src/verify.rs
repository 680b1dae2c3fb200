//! Verification: the workspace's own checks (`cargo test`, `npm test`…) run in the
//! worktree. Their real exit codes decide; nothing masks a failure.

use std::{path::Path, time::Duration};

use tokio_util::sync::CancellationToken;

use super::{
    process::{self, CommandSpec, OutputLine, Termination},
    sandbox::SandboxConfig,
    session::tail,
};

/// The checks configured for a workspace.
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// Shell commands, run in order with `sh -c`; the first failure stops the rest.
    pub commands: Vec<String>,
    /// Limit for each command.
    pub timeout: Duration,
    /// Bytes of output kept per command and in the report's tail.
    pub tail_bytes: usize,
    pub kill_grace: Duration,
    /// Extra environment for the checks (e.g. `CI=1`), on top of the sandbox's policy.
    pub env: Vec<(String, String)>,
    /// The checks run code the agent wrote, so they run confined like the agent.
    pub sandbox: SandboxConfig,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            commands: Vec::new(),
            timeout: Duration::from_secs(15 * 60),
            tail_bytes: 8 * 1024,
            kill_grace: Duration::from_secs(5),
            env: vec![("CI".into(), "1".into())],
            sandbox: SandboxConfig::default(),
        }
    }
}

/// One command's result.
#[derive(Debug, Clone)]
pub struct CommandReport {
    pub command: String,
    pub termination: Termination,
    pub duration: Duration,
    pub tail: String,
}

/// The outcome of a verification run.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub commands: Vec<CommandReport>,
}

impl VerifyReport {
    /// True when every command exited 0. No commands configured also passes; the caller
    /// can tell from [`VerifyReport::ran_nothing`] and say so.
    pub fn passed(&self) -> bool {
        self.commands.iter().all(|c| c.termination.success())
    }

    pub(crate) fn ran_nothing(&self) -> bool {
        self.commands.is_empty()
    }

    /// The failing command, if any.
    pub fn failure(&self) -> Option<&CommandReport> {
        self.commands.iter().find(|c| !c.termination.success())
    }

    /// For the session record and the next attempt's prompt: which command failed, how,
    /// and the tail of its output.
    pub fn summary(&self, max_bytes: usize) -> String {
        match self.failure() {
            Some(f) => {
                let head = format!(
                    "verification failed: `{}` ended with {}\n--- last output ---\n",
                    f.command,
                    f.termination.describe()
                );
                let room = max_bytes.saturating_sub(head.len());
                format!("{head}{}", tail(&f.tail, room))
            }
            None if self.ran_nothing() => "no verification commands configured".into(),
            None => format!("verification passed ({} commands)", self.commands.len()),
        }
    }
}

/// Runs the configured commands in `worktree`, passing each output line to `on_line`.
/// Stops at the first failure, a timeout, or `cancel`.
pub async fn verify(
    worktree: &Path,
    config: &VerifyConfig,
    cancel: &CancellationToken,
    mut on_line: impl FnMut(&str, &OutputLine) + Send,
) -> std::io::Result<VerifyReport> {
    let mut commands = Vec::new();
    for command in &config.commands {
        let mut spec = CommandSpec::shell(command, worktree);
        spec.timeout = Some(config.timeout);
        spec.kill_grace = config.kill_grace;
        spec.tail_bytes = config.tail_bytes;
        spec.env = config.env.clone();
        spec.sandbox = config.sandbox.clone();
        let finished = process::run(&spec, cancel, |line| on_line(command, line)).await?;
        let failed = !finished.termination.success();
        commands.push(CommandReport {
            command: command.clone(),
            termination: finished.termination,
            duration: finished.duration,
            tail: finished.tail,
        });
        if failed {
            break;
        }
    }
    Ok(VerifyReport { commands })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(commands: &[&str]) -> VerifyConfig {
        VerifyConfig {
            commands: commands.iter().map(|c| (*c).to_owned()).collect(),
            timeout: Duration::from_secs(10),
            ..VerifyConfig::default()
        }
    }

    #[tokio::test]
    async fn all_commands_exiting_zero_pass() {
        let dir = tempfile::tempdir().unwrap();
        let report = verify(
            dir.path(),
            &config(&["true", "echo ok"]),
            &CancellationToken::new(),
            |_, _| {},
        )
        .await
        .unwrap();
        assert!(report.passed());
        assert_eq!(report.commands.len(), 2);
    }

    #[tokio::test]
    async fn a_failing_command_fails_and_stops_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let report = verify(
            dir.path(),
            &config(&["echo boom; exit 2", "touch ran"]),
            &CancellationToken::new(),
            |_, _| {},
        )
        .await
        .unwrap();
        assert!(!report.passed());
        assert_eq!(report.commands.len(), 1);
        assert!(!dir.path().join("ran").exists());
        let summary = report.summary(1000);
        assert!(summary.contains("exit code 2"), "{summary}");
        assert!(summary.contains("boom"));
    }

    #[tokio::test]
    async fn a_pipeline_failure_is_not_masked_by_the_harness() {
        // The command's own exit code is what counts: `false; true` passes (sh semantics),
        // while `false` alone fails. The harness adds no `|| true` of its own.
        let dir = tempfile::tempdir().unwrap();
        let report = verify(
            dir.path(),
            &config(&["false"]),
            &CancellationToken::new(),
            |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!(report.commands[0].termination, Termination::Exited(1));
    }

    #[tokio::test]
    async fn a_command_over_its_timeout_fails() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(&["sleep 20"]);
        cfg.timeout = Duration::from_millis(200);
        cfg.kill_grace = Duration::from_millis(100);
        let report = verify(dir.path(), &cfg, &CancellationToken::new(), |_, _| {})
            .await
            .unwrap();
        assert!(!report.passed());
        assert_eq!(report.commands[0].termination, Termination::TimedOut);
    }
}
