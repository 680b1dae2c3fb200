//! The helper roles around a remote attempt, run here in the orchestrator as for a
//! local attempt (only the build session runs on the worker). Before the worker
//! starts: the evaluator's estimate, whose `[sizes]` tier sets the assignment's model
//! and session timeout, and the architect's design note for a large task, which joins
//! the assignment's brief and is committed on the branch the worker clones. Before a
//! verified, pushed branch lands: validation's review of exactly that commit.
//!
//! The helpers read a local checkout of the attempt's branch under
//! `<worktrees>/.helpers/<display_id>`, removed once they are done.

use std::sync::Arc;

use harness_domain::role::Size;

use super::{
    attempt::{Attempt, Ending},
    design,
    error::AttemptError,
    evaluate,
    runtimes::workspace_repo,
    sink::StoreSink,
    validate,
};
use harness_engine::git::{BranchCleanup, Repo, Worktree};
use harness_worker::protocol::Assignment;

/// A local checkout of a remote attempt's branch for the helper sessions.
struct HelperCheckout {
    repo: Repo,
    worktree: Worktree,
}

impl HelperCheckout {
    /// Checks out the commit `rev` names, detached.
    async fn open(attempt: &Attempt, rev: &str, base: &str) -> Result<Self, AttemptError> {
        let settings = &attempt.engine().settings;
        let workspace = settings
            .workspace
            .clone()
            .ok_or(AttemptError::NoWorkspace)?;
        let path = settings
            .worktrees_dir
            .join(".helpers")
            .join(&attempt.task().display_id);
        let (rev, base) = (rev.to_owned(), base.to_owned());
        tokio::task::spawn_blocking(move || {
            let repo = workspace_repo(&workspace)?;
            let worktree = repo
                .checkout_detached(&path, &rev, &base)
                .map_err(AttemptError::PrepareWorktree)?;
            Ok(Self { repo, worktree })
        })
        .await?
    }

    async fn close(self) {
        let Self { repo, worktree } = self;
        let removed = tokio::task::spawn_blocking(move || {
            repo.remove_worktree(&worktree.path, true, BranchCleanup::Keep)
        })
        .await;
        if !matches!(removed, Ok(Ok(()))) {
            tracing::warn!("the helper sessions' checkout was not removed");
        }
    }
}

/// Runs the evaluator and (for a large task) the architect on the prepared branch,
/// and applies what they decide to `assignment` as a local attempt applies it: the
/// size tier's model and timeout, the design note in the brief.
pub(super) async fn before_remote(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    assignment: &mut Assignment,
) -> Result<(), AttemptError> {
    let (size, design) = if attempt.size() == Some(Size::Large)
        || evaluate::will_estimate(attempt).await
    {
        let checkout = HelperCheckout::open(attempt, &assignment.branch, &assignment.base).await?;
        let size = evaluate::estimate_size(attempt, sink, &checkout.worktree).await;
        let design = design::design_note(attempt, sink, &checkout.worktree, size).await;
        if design.is_some() {
            commit_design(attempt, sink, &checkout, &assignment.branch).await;
        }
        checkout.close().await;
        (size, design)
    } else {
        (attempt.size(), None)
    };
    assignment.session_timeout_secs = attempt.session_timeout(sink, size).as_secs_f64();
    assignment.model = attempt.model_for(size);
    if let Some(note) = design {
        assignment.brief.description.push_str(&note);
    }
    Ok(())
}

/// Commits the architect's note and moves the attempt's branch to it, so the
/// worker's clone has it and it lands with the work, as it does for a local attempt.
async fn commit_design(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    checkout: &HelperCheckout,
    branch: &str,
) {
    let message = format!("{}: design note", attempt.task().display_id);
    let (repo, worktree, author) = (
        checkout.repo.clone(),
        checkout.worktree.clone(),
        attempt.author(),
    );
    let (branch, from) = (branch.to_owned(), checkout.worktree.branch.clone());
    let committed = tokio::task::spawn_blocking(move || {
        // The architect could have rewritten the checkout's `.git`: commit on the
        // git data the harness recorded, and only from the commit it checked out.
        let Some(sha) = repo.commit_attempt(&worktree, &message, &author)? else {
            return Ok(None);
        };
        repo.advance_branch(&branch, &from, &sha)
            .map(|()| Some(sha))
    })
    .await;
    match committed {
        Ok(Ok(Some(sha))) => sink.system(format!(
            "the design note is committed on the branch as {sha}"
        )),
        Ok(Ok(None)) => {}
        Ok(Err(err)) => sink.system(format!("cannot commit the design note: {err}")),
        Err(err) => sink.system(format!("cannot commit the design note: {err}")),
    }
}

/// Validation's review of the pushed, verified `head` before it lands, with the
/// same rejection handling as a local attempt's landing. `None` lets it land.
pub(super) async fn validate_pushed(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    assignment: &Assignment,
    head: &str,
    last: &str,
) -> Option<Ending> {
    if !validate::will_validate(attempt).await {
        return None;
    }
    let checkout = match HelperCheckout::open(attempt, head, &assignment.base).await {
        Ok(checkout) => checkout,
        Err(err) => return Some(Ending::after(err, last)),
    };
    // Nothing to merge, nothing to review (landing says so).
    if checkout.worktree.base_commit == head {
        checkout.close().await;
        return None;
    }
    let review = validate::validate(attempt, sink, &checkout.repo, &checkout.worktree).await;
    checkout.close().await;
    review.stops(attempt.engine().settings.retry_base, last)
}
