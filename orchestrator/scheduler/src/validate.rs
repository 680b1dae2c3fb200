//! The validation agent's job: after verification passes and before the merge, review
//! the diff against the pass criteria with read-only tools. A rejection fails the
//! attempt with its reasons as the next attempt's feedback; a second rejection of the
//! same task asks SIA to arbitrate (its advice joins the feedback, its proposed tasks
//! wait for a person). Only for the categories in `validate_categories`, and only when
//! a validation agent is configured.

use std::{sync::Arc, time::Duration};

use harness_domain::{role::Job, time::Timestamp};

use super::{
    attempt::{Attempt, Ending},
    consult::{Consult, Verdict, staffed},
    error::AttemptError,
    sink::StoreSink,
    subtasks::ProposalCreator,
};
use harness_engine::{
    git::{Repo, Worktree},
    prompt::TaskBrief,
};

const DIFF_BYTES: usize = 48 * 1024;

/// What validation decided.
pub(super) enum Review {
    /// Approved, or not reviewed (category not validated, nobody staffed).
    Pass,
    Rejected(AttemptError),
    /// Validation could not run (not the task's fault): the attempt is requeued.
    Unavailable(String),
}

impl Review {
    /// The attempt's end when validation stops it; `None` lets it land. Local and
    /// remote attempts alike.
    pub(super) fn stops(self, retry_base: Duration, last_message: &str) -> Option<Ending> {
        match self {
            Self::Pass => None,
            Self::Rejected(err) => Some(Ending::after(err, last_message)),
            // Not the task's fault, but not retried at once either: a validator that
            // keeps failing would otherwise spin.
            Self::Unavailable(reason) => {
                let wait = chrono::TimeDelta::from_std(retry_base).unwrap_or_default();
                Some(Ending::Requeued {
                    reason,
                    retry_at: Some(Timestamp::now().plus(wait)),
                })
            }
        }
    }
}

/// Whether [`Attempt::validate`] reviews this task: its category is validated and
/// a validation agent is staffed.
pub(super) async fn will_validate(attempt: &Attempt) -> bool {
    let roles = &attempt.engine().settings.roles;
    roles.validate_categories.contains(&attempt.task().category)
        && staffed(attempt.engine(), Job::Validate).await
}

pub(super) async fn validate(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    repo: &Repo,
    worktree: &Worktree,
) -> Review {
    if !will_validate(attempt).await {
        return Review::Pass;
    }
    let diff = branch_diff(repo, worktree).await;
    let brief = TaskBrief {
        description: format!(
            "{}\n\nThe change (diff against {}):\n```diff\n{diff}\n```",
            attempt.task().description,
            worktree.base
        ),
        ..TaskBrief::for_helper(
            attempt.task(),
            format!("Review the change for: {}", attempt.task().title),
        )
    };
    sink.system("validation reviews the change against the pass criteria");
    let verdict = Consult {
        engine: attempt.engine(),
        task: attempt.task(),
        job: Job::Validate,
        purpose: "validation",
        brief,
        worktree: &worktree.path,
        creator: None,
        cancel: attempt.cancel(),
    }
    .run()
    .await;
    let reasons = match verdict {
        Ok(Verdict::Completed(summary)) => {
            sink.system(format!("validation approved: {summary}"));
            return Review::Pass;
        }
        Ok(Verdict::Failed(reasons)) => reasons,
        Err(err) => return Review::Unavailable(format!("validation could not run: {err}")),
    };
    sink.system(format!("validation rejected the change: {reasons}"));
    let count = attempt
        .engine()
        .board
        .record_rejection(attempt.task(), Some(attempt.session().id), reasons.clone())
        .await
        .unwrap_or_else(|err| {
            tracing::warn!(%err, "cannot record the rejection");
            1
        });
    let arbitration = if count >= 2 {
        arbitrate(attempt, sink, worktree, &reasons, &diff, count).await
    } else {
        None
    };
    Review::Rejected(AttemptError::Rejected {
        reasons,
        arbitration,
    })
}

async fn branch_diff(repo: &Repo, worktree: &Worktree) -> String {
    let (repo, base, branch) = (repo.clone(), worktree.base.clone(), worktree.branch.clone());
    tokio::task::spawn_blocking(move || repo.diff(&base, &branch, DIFF_BYTES))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// SIA on a task validation rejected again: advice for the next attempt, and
/// proposals (a split, a changed criterion) that wait for a person.
async fn arbitrate(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    worktree: &Worktree,
    reasons: &str,
    diff: &str,
    count: u32,
) -> Option<String> {
    if !staffed(attempt.engine(), Job::Ideate).await {
        sink.system("validation rejected this task again; no SIA agent is configured to arbitrate");
        return None;
    }
    sink.system(format!(
        "validation rejected this task {count} times: SIA arbitrates"
    ));
    let title = format!(
        "Arbitrate: validation rejected {} {count} times",
        attempt.task().display_id
    );
    let brief = TaskBrief {
        description: format!(
            "Task: {}\n{}\n\nThe latest rejection:\n{reasons}\n\nThe change:\n```diff\n{diff}\n```\n\n\
             Decide whether the rejection is right. Call complete_task with advice for the \
             next attempt (or for a person to relax a criterion); propose tasks with \
             create_task when the work should be split or changed.",
            attempt.task().title,
            attempt.task().description
        ),
        ..TaskBrief::for_helper(attempt.task(), title)
    };
    let creator = Arc::new(ProposalCreator {
        board: attempt.engine().board.clone(),
        source: format!("arbitration of {}", attempt.task().display_id),
    });
    let verdict = Consult {
        engine: attempt.engine(),
        task: attempt.task(),
        job: Job::Ideate,
        purpose: "review",
        brief,
        worktree: &worktree.path,
        creator: Some(creator),
        cancel: attempt.cancel(),
    }
    .run()
    .await;
    match verdict {
        Ok(Verdict::Completed(text) | Verdict::Failed(text)) => Some(text),
        Err(err) => {
            sink.system(format!("SIA could not arbitrate: {err}"));
            None
        }
    }
}
