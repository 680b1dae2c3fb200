//! What can go wrong in an attempt, by step, with its cause; and the one place an
//! error becomes the task's failure reason and summary.

use crate::{engine::git::GitError, store::StoreError};

/// `HARNESS_WORKSPACE` cannot be opened as a git repository.
#[derive(Debug, thiserror::Error)]
#[error("HARNESS_WORKSPACE: {0}")]
pub struct WorkspaceError(#[from] pub GitError);

/// A step of an attempt that failed, and why.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    // Preparing: none of these is the task's fault, so the task is requeued.
    #[error("HARNESS_WORKSPACE is not set")]
    NoWorkspace,
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error("cannot read the base branch: {0}")]
    BaseBranch(#[source] GitError),
    #[error("cannot take the human's answer: {0}")]
    TakeAnswer(#[source] StoreError),
    #[error("cannot prepare the worktree: {0}")]
    PrepareWorktree(#[source] GitError),
    #[error("cannot enter verification: {0}")]
    EnterVerifying(#[source] StoreError),
    #[error("cannot store the question: {0}")]
    StoreQuestion(#[source] StoreError),
    #[error("a git worker stopped: {0}")]
    Worker(#[from] tokio::task::JoinError),

    // Running the agent and checking its work: these use up an attempt.
    /// The agent (or its runtime) said why it failed.
    #[error("{0}")]
    RunAgent(String),
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
    #[error("cannot merge: {0}")]
    Merge(#[source] GitError),
}

/// Why a blocked task got no diagnosis. Logged; the task is blocked either way.
#[derive(Debug, thiserror::Error)]
pub enum InvestigationError {
    #[error("cannot list agents: {0}")]
    ListAgents(#[source] StoreError),
    #[error("no enabled investigator agent")]
    NoInvestigator,
    #[error("the investigator cannot run: {0}")]
    Runtime(String),
    #[error("cannot find the last worktree: {0}")]
    Worktree(#[source] StoreError),
    #[error("no worktree to inspect")]
    NoWorktree,
    #[error("cannot start the investigation: {0}")]
    Start(#[source] StoreError),
    #[error("the investigator did not finish: {0}")]
    Unfinished(String),
}

/// How an attempt's failure is recorded on the task.
pub struct FailureText {
    /// One line: history, the `task.failed` event, the session's exit reason.
    pub reason: String,
    /// What the next attempt's prompt and the dashboard show.
    pub summary: String,
}

impl AttemptError {
    /// Whether the task is to blame (the attempt counts) or the harness (requeued).
    pub fn uses_attempt(&self) -> bool {
        matches!(
            self,
            Self::RunAgent(_)
                | Self::TimedOut
                | Self::Stuck
                | Self::Commit(_)
                | Self::RunVerify(_)
                | Self::VerificationFailed { .. }
                | Self::Merge(_)
        )
    }

    /// The one place an attempt's error becomes the task's failure text.
    pub fn failure_text(&self, last_message: &str) -> FailureText {
        let reason = self.to_string();
        let detail = match self {
            Self::VerificationFailed { tail } => tail.clone(),
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
    fn a_merge_conflict_says_the_step_and_the_cause() {
        let err = AttemptError::Merge(GitError::Conflict {
            branch: "harness/T-1".into(),
            base: "main".into(),
            files: vec!["a.txt".into()],
        });
        let text = err.failure_text("");
        assert!(text.reason.starts_with("cannot merge: "), "{}", text.reason);
        assert!(text.reason.contains("a.txt"));
        assert_eq!(text.summary, text.reason);
    }

    #[test]
    fn a_missing_workspace_does_not_use_an_attempt() {
        assert!(!AttemptError::NoWorkspace.uses_attempt());
    }
}
