//! What can go wrong in an attempt, by step, with its cause; and the one place an
//! error becomes the task's failure reason and summary.

use harness_engine::{
    anthropic::AnthropicError, git::GitError, landing::LandingError, runtime::NotReady,
    safe_git::SafeGitError,
};
use harness_store::StoreError;

/// `HARNESS_WORKSPACE` cannot be opened as a git repository.
#[derive(Debug, thiserror::Error)]
#[error("HARNESS_WORKSPACE: {0}")]
pub struct WorkspaceError(#[from] pub GitError);

/// Why an agent cannot run. The text becomes the agent's `status_reason`, so each
/// says what to set or install.
#[derive(Debug, thiserror::Error)]
pub enum Unready {
    #[error("set HARNESS_WORKSPACE to the git repository agents work on")]
    NoWorkspace,
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    /// The sandbox is required and this kernel or container refuses it.
    #[error("{0}")]
    Sandbox(String),
    #[error("set ANTHROPIC_API_KEY to use the anthropic runtime")]
    NoApiKey,
    #[error(
        "set OPENAI_API_KEY to use the openai runtime on api.openai.com, or OPENAI_BASE_URL to a local model server that needs no key"
    )]
    NoOpenAiKey,
    #[error(
        "the agent command `{program}` was not found; install it or set [agents.{agent}] command in harness.toml"
    )]
    NoCommand { program: String, agent: String },
    #[error(transparent)]
    Runtime(#[from] NotReady),
    #[error(transparent)]
    Client(#[from] AnthropicError),
    #[error("no role named '{0}'; add [roles.{0}] to harness.toml or give the agent another role")]
    UnknownRole(String),
    /// The role needs something this machine lacks (Chromium for the browser tool).
    #[error("{0}")]
    RoleNeeds(String),
    /// The agent has the `browser` group but its attempts run on a remote executor,
    /// where no Chromium is offered: said plainly rather than run without it.
    #[error(
        "the browser tool group runs only on the local executor, and agent {agent} runs on the {executor} executor; set [agents.{agent}] executor = \"local\" or take browser out of its tools"
    )]
    BrowserNotRemote { agent: String, executor: String },
    /// The check itself (run on the blocking pool) did not finish.
    #[error("the readiness check stopped: {0}")]
    Check(#[from] tokio::task::JoinError),
}

/// A step of an attempt that failed, and why.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    // Preparing: none of these is the task's fault, so the task is requeued (up to
    // `HARNESS_MAX_REQUEUES` in a window; see `RequeuedTooOften`).
    #[error("HARNESS_WORKSPACE is not set")]
    NoWorkspace,
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error("cannot read the base branch: {0}")]
    BaseBranch(#[source] GitError),
    #[error("cannot read the human's answer: {0}")]
    ReadAnswer(#[source] StoreError),
    /// Git could not make the attempt's worktree even after the harness reclaimed its
    /// own leftovers: counted as a failed attempt, so it backs off and ends blocked.
    #[error("cannot prepare the worktree: {0}")]
    PrepareWorktree(#[source] GitError),
    #[error("cannot enter verification: {0}")]
    EnterVerifying(#[source] StoreError),
    #[error("cannot store the question: {0}")]
    StoreQuestion(#[source] StoreError),
    #[error("a git worker stopped: {0}")]
    Worker(#[from] tokio::task::JoinError),
    /// The executor could not start or follow the attempt's worker (executor/).
    #[error(transparent)]
    Executor(#[from] harness_executor::ExecutorError),
    /// The remote worker died or went silent: treated like a crashed local attempt.
    #[error("the worker was lost: {0}")]
    WorkerLost(String),
    /// The executor could not start the worker (no node, no image): requeued.
    #[error("the worker did not start: {0}")]
    WorkerNotStarted(String),
    /// A remote attempt is configured but its executor is not available.
    #[error("executor {0} is not available on this orchestrator")]
    NoExecutor(harness_executor::ExecutorKind),
    /// Git refused to prepare the branch; holds what it said.
    #[error("cannot prepare the attempt's branch: {0}")]
    PrepareBranch(String),
    /// Git could not be run (or timed out) while preparing the branch.
    #[error("cannot run git to prepare the attempt's branch: {0}")]
    RunGitForBranch(#[source] SafeGitError),

    // Running the agent and checking its work: these use up an attempt.
    /// Sessions of the task kept ending without an attempt counted (interruptions, a
    /// runtime that cannot start): the bound on that loop, `HARNESS_MAX_REQUEUES`.
    #[error(
        "{count} sessions ended without finishing within {minutes} minutes; counted as a failed attempt (last: {last})"
    )]
    RequeuedTooOften {
        count: u32,
        minutes: u64,
        last: String,
    },
    /// The agent (or its runtime) said why it failed.
    #[error("{0}")]
    RunAgent(String),
    /// A role that must change the repository (`requires_changes`, the build role)
    /// finished with nothing changed.
    #[error(
        "the agent finished without changing anything; a {role} task must change the repository"
    )]
    NoChanges { role: String },
    #[error("the session timed out")]
    TimedOut,
    #[error("the session was stuck: no output for too long")]
    Stuck,
    #[error("cannot commit the agent's work: {0}")]
    Commit(#[source] GitError),
    #[error("cannot run verification: {0}")]
    RunVerify(#[source] std::io::Error),
    /// The checks ran and at least one failed; holds the output's tail.
    #[error("verification failed")]
    VerificationFailed { tail: String },
    /// Validation reviewed the verified diff and rejected it; holds its reasons and,
    /// after a repeated rejection, SIA's arbitration.
    #[error("validation rejected the change")]
    Rejected {
        reasons: String,
        arbitration: Option<String>,
    },
    /// A spend limit stopped the session (spend.rs). The session's or the task's own cap
    /// uses an attempt; a budget crossing is not the task's fault.
    #[error("{reason}")]
    SpendStopped { reason: String, uses_attempt: bool },

    // Landing (landing.rs): these use up an attempt.
    #[error("cannot read {base}: {source}")]
    ReadBase {
        base: String,
        #[source]
        source: LandingError,
    },
    #[error("cannot read the branch: {0}")]
    ReadBranch(#[source] LandingError),
    /// Bringing the branch up to the base conflicts in `files`.
    #[error("conflicts with {base} in: {}", files.join(", "))]
    Conflict {
        base: String,
        base_commit: String,
        files: Vec<String>,
    },
    #[error("cannot bring the branch up to {base}: {source}")]
    BringUp {
        base: String,
        #[source]
        source: LandingError,
    },
    #[error("cannot land: {0}")]
    Land(#[source] LandingError),
    /// Verified work the base kept refusing for `HARNESS_LAND_WAIT_SECS`.
    #[error("verified, but the base refused it for {minutes} minutes: {reason}")]
    NotLanded { reason: String, minutes: u64 },
    #[error(
        "{base} kept moving: nothing landed after {rounds} rounds of bringing the branch up to it and verifying"
    )]
    BaseKeptMoving { base: String, rounds: u32 },
}

/// Why a blocked task got no diagnosis. Logged; the task is blocked either way.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InvestigationError {
    #[error("cannot list agents: {0}")]
    ListAgents(#[source] StoreError),
    #[error("no enabled investigator agent")]
    NoInvestigator,
    #[error("the investigator cannot run: {0}")]
    Runtime(#[source] Unready),
    #[error("cannot start the investigation: {0}")]
    Start(#[source] StoreError),
    #[error("the investigator did not finish: {0}")]
    Unfinished(String),
    #[error("the orchestrator is stopping")]
    Stopping,
    #[error("the task is no longer blocked")]
    NotBlocked,
    #[error("cannot read the task: {0}")]
    ReadTask(#[source] StoreError),
    #[error("HARNESS_WORKSPACE is not set")]
    NoWorkspace,
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error("cannot read the base branch: {0}")]
    BaseBranch(#[source] GitError),
    #[error("cannot open the investigation worktree: {0}")]
    OpenWorktree(#[source] LandingError),
    #[error("cannot create the investigation worktree's directory: {0}")]
    WorktreeDir(#[source] std::io::Error),
    #[error("a git worker stopped: {0}")]
    Worker(#[from] tokio::task::JoinError),
    /// The spend guard stopped it; holds the guard's reason.
    #[error("{0}")]
    SpendStopped(String),
    #[error("the investigator was stuck")]
    Stuck,
    #[error("the task was unblocked; its next attempt goes ahead")]
    Unblocked,
    #[error("the investigation was cancelled")]
    Cancelled,
}

/// Why a helper role's session (consult.rs) gave no verdict.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConsultError {
    #[error("cannot list agents: {0}")]
    ListAgents(#[source] StoreError),
    #[error("no available agent does {0:?}")]
    NoAgent(harness_domain::role::Job),
    #[error("every {role} agent stayed busy for {waited:?}")]
    NoSlot {
        role: String,
        waited: std::time::Duration,
    },
    #[error("the {role} agent cannot run: {source}")]
    Runtime {
        role: String,
        #[source]
        source: Unready,
    },
    #[error("cannot start the session: {0}")]
    Start(#[source] StoreError),
    #[error("the {role} session did not finish: {outcome}")]
    Unfinished { role: String, outcome: String },
    #[error("the {0} session was cancelled")]
    Cancelled(String),
    #[error("the {0} session was stuck")]
    Stuck(String),
    /// The spend guard stopped it; holds the guard's reason.
    #[error("{0}")]
    SpendStopped(String),
}

/// How an attempt's failure is recorded on the task.
pub(crate) struct FailureText {
    /// One line: history, the `task.failed` event, the session's exit reason.
    pub reason: String,
    /// What the next attempt's prompt and the dashboard show.
    pub summary: String,
}

impl AttemptError {
    /// Whether the task is to blame (the attempt counts) or the harness (requeued).
    pub fn uses_attempt(&self) -> bool {
        match self {
            Self::SpendStopped { uses_attempt, .. } => *uses_attempt,
            other => matches!(
                other,
                Self::RunAgent(_)
                    | Self::PrepareWorktree(_)
                    | Self::RequeuedTooOften { .. }
                    | Self::NoChanges { .. }
                    | Self::TimedOut
                    | Self::Stuck
                    | Self::Commit(_)
                    | Self::RunVerify(_)
                    | Self::VerificationFailed { .. }
                    | Self::Rejected { .. }
                    | Self::ReadBase { .. }
                    | Self::ReadBranch(_)
                    | Self::Conflict { .. }
                    | Self::BringUp { .. }
                    | Self::Land(_)
                    | Self::BaseKeptMoving { .. }
                    | Self::NotLanded { .. }
            ),
        }
    }

    /// The one place an attempt's error becomes the task's failure text.
    pub(crate) fn failure_text(&self, last_message: &str) -> FailureText {
        let reason = self.to_string();
        let detail = match self {
            Self::VerificationFailed { tail } => tail.clone(),
            Self::Conflict {
                base,
                base_commit,
                files,
            } => conflict_summary(base, base_commit, files),
            Self::Rejected {
                reasons,
                arbitration,
            } => {
                let mut text = format!(
                    "The change passed verification, but validation rejected it against the \
                     pass criteria:\n{reasons}"
                );
                if let Some(a) = arbitration {
                    text.push_str(&format!(
                        "\n\nSIA, asked to arbitrate a repeated rejection:\n{a}"
                    ));
                }
                text
            }
            Self::NoChanges { .. } => format!(
                "{reason}. The previous attempt committed nothing. If the pass criteria are \
                 already met, show it with a change that proves it (a test), or explain in the \
                 task's description why no change is needed."
            ),
            _ => reason.clone(),
        };
        let summary = if last_message.trim().is_empty() && !self.is_verification() {
            detail
        } else {
            format!("{detail}\n\nThe agent's last message:\n{last_message}")
        };
        FailureText { reason, summary }
    }

    fn is_verification(&self) -> bool {
        matches!(self, Self::VerificationFailed { .. })
    }
}

/// The next attempt's "previous failure" after a conflict: which files, and what to do.
fn conflict_summary(base: &str, base_commit: &str, files: &[String]) -> String {
    let list = files
        .iter()
        .map(|f| format!("- {f}"))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "Bringing the branch up to {base} ({base_commit}) conflicts in these files:\n{list}\n\n\
         They changed on {base} since this attempt began. Start from the current {base} and \
         redo the change so it fits."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_verification_keeps_its_tail_and_the_agents_last_message() {
        let err = AttemptError::VerificationFailed {
            tail: "1 test failed".into(),
        };
        let text = err.failure_text("done, I think");
        assert_eq!(text.reason, "verification failed");
        assert!(text.summary.starts_with("1 test failed"));
        assert!(text.summary.ends_with("done, I think"));
        assert!(err.uses_attempt());
    }

    #[test]
    fn a_landing_conflict_names_the_files_and_what_to_do() {
        let err = AttemptError::Conflict {
            base: "main".into(),
            base_commit: "abc123".into(),
            files: vec!["a.txt".into()],
        };
        let text = err.failure_text("");
        assert_eq!(text.reason, "conflicts with main in: a.txt");
        assert!(text.summary.contains("- a.txt"), "{}", text.summary);
        assert!(text.summary.contains("main (abc123)"), "{}", text.summary);
        assert!(err.uses_attempt());
    }

    #[test]
    fn a_budget_stop_is_requeued_and_a_session_cap_uses_an_attempt() {
        let budget = AttemptError::SpendStopped {
            reason: "budget".into(),
            uses_attempt: false,
        };
        let cap = AttemptError::SpendStopped {
            reason: "cap".into(),
            uses_attempt: true,
        };
        assert!(!budget.uses_attempt());
        assert!(cap.uses_attempt());
    }

    #[test]
    fn a_missing_workspace_does_not_use_an_attempt() {
        assert!(!AttemptError::NoWorkspace.uses_attempt());
    }
}
