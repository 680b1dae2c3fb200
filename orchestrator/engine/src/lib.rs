//! The agent engine's building blocks: confinement, the agent sandbox, workspace tools,
//! child processes, the Anthropic runtime, the CLI runtime, git worktrees and verification.
//!
//! Each module does one job and knows nothing about the store; the scheduler wires them:
//!
//! 1. [`git::Repo::create_worktree`] on `harness/<display_id>` from the base branch.
//! 2. [`runtime::AgentRuntime::run`] (anthropic or cli) with a [`SessionSink`] that
//!    stores log lines and usage; [`runtime::SessionOutcome::uses_attempt`] says whether
//!    the attempt counts.
//! 3. On `Completed`: [`git::Repo::commit_all`], then per landing round
//!    [`landing::LandingGit::bring_up_to_date`], [`verify::verify`] on that tree and
//!    [`landing::LandingGit::fast_forward`] (a conflict or a moved base leaves the base
//!    untouched), then [`git::Repo::remove_worktree`].
//! 4. On failure: [`verify::VerifyReport::summary`] and the report's `last_message`
//!    become [`prompt::TaskBrief::previous_failure`] of the next attempt.

pub mod acp;
pub mod anthropic;
pub mod browser;
pub mod cli_runtime;
pub mod confine;
pub mod egress;
pub mod git;
pub mod landing;
pub mod orphans;
pub mod process;
pub mod prompt;
pub mod review_git;
pub mod runtime;
pub mod safe_git;
pub mod sandbox;
pub mod session;
pub mod stream_usage;
pub mod tools;
pub mod verify;
pub mod worktree_git;

pub use session::{LogKind, SessionSink, Usage};

/// What the unit tests of several modules share.
#[cfg(test)]
mod test_support {
    use std::path::Path;

    /// `git -C dir args…` as a person's own git runs it (no system or user config, a
    /// fixed identity), for building the repositories the tests work on; fails the test
    /// on a non-zero exit. Trimmed stdout.
    pub(crate) fn plain_git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}
