//! The one decision at an attempt's end: its [`Ending`] becomes the task's next state
//! and the session's end, in one transaction.

use harness_board::Actor;
use harness_domain::{
    review::LandPolicy,
    session::SessionStatus,
    task::{Outcome, TaskStatus, retry_delay},
    time::Timestamp,
};
use harness_store::{Failure, SessionEnd};
use tracing::Instrument;

use super::{
    attempt::{Attempt, Ending, WAITING_FOR_ANSWER},
    error::{AttemptError, FailureText},
    investigate, review,
};

/// The one place an attempt's end is turned into the task's next state. The task's
/// change and the session's end are one transaction, so nobody sees a settled task
/// whose session still runs.
pub(super) async fn settle(attempt: &Attempt, ending: Ending) {
    let board = &attempt.engine().board;
    let id = attempt.task().id;
    // A user's cancel can land mid-verification; it wins over whatever that caused.
    let current = board.get_task(id).await.ok();
    let cancelled_by_user = current
        .as_ref()
        .is_some_and(|t| t.status == TaskStatus::Cancelled);
    let ending = match ending {
        _ if cancelled_by_user => Ending::Cancelled,
        Ending::Requeued { reason, retry_at } if current.is_some_and(|t| t.status.is_running()) => {
            match requeued_too_often(attempt, &reason).await {
                Some(error) => Ending::Failed {
                    error,
                    last_message: String::new(),
                },
                None => Ending::Requeued { reason, retry_at },
            }
        }
        other => other,
    };
    let end = |status, reason: String| SessionEnd {
        id: attempt.session().id,
        status,
        reason,
    };
    let settled = match ending {
        Ending::Merged { commit } => {
            // The merge commit goes into the reason: history, event and notification.
            let (outcome, reason) = match commit {
                Some(commit) => {
                    let reason = format!("verified and merged as {commit}");
                    (Outcome::Landed { commit }, reason)
                }
                None => (Outcome::NoChanges, "verified; no changes".to_owned()),
            };
            let done = end(SessionStatus::Succeeded, reason.clone());
            board
                .complete_attempt(id, outcome, reason, Some(done))
                .await
                .map(drop)
                .map_err(|err| format!("cannot complete: {err}"))
        }
        Ending::Review {
            commit,
            branch,
            conversation,
        } => {
            let done = end(
                SessionStatus::Succeeded,
                "verified; waiting for review".into(),
            );
            // Before the task shows in review, so whoever looks sees which
            // comments the new work answered.
            review::mark_outdated_comments(attempt, &commit).await;
            let entered = if review::land_policy(attempt) == LandPolicy::PullRequest {
                board
                    .enter_pull_request_review(id, commit.clone(), branch, Some(done))
                    .await
            } else {
                board
                    .enter_review(id, commit.clone(), branch, conversation, Some(done))
                    .await
            };
            entered
                .map(drop)
                .map_err(|err| format!("cannot enter review: {err}"))
        }
        Ending::Failed {
            error,
            last_message,
        } => {
            let text = error.failure_text(&last_message);
            // The reason is on the task too; the log says it where operators look.
            tracing::warn!(reason = %text.reason, "attempt failed");
            let done = end(SessionStatus::Failed, text.reason.clone());
            settle_failure(attempt, text, done).await
        }
        Ending::Requeued { reason, retry_at } => {
            let done = end(SessionStatus::Interrupted, reason.clone());
            let requeued = board
                .requeue(id, reason, retry_at, Actor::SCHEDULER, Some(done))
                .await;
            if let Some(at) = retry_at {
                attempt.engine().wake_at(at);
            }
            requeued
                .map(drop)
                .map_err(|err| format!("cannot requeue: {err}"))
        }
        Ending::Crashed { reason } => {
            let max = attempt
                .engine()
                .settings
                .reliability
                .max_crash_interruptions;
            let cause = format!("{reason}; counted as a crash");
            let done = end(SessionStatus::Interrupted, reason);
            let settings = &attempt.engine().settings;
            super::crashes::recover_task(
                board,
                settings,
                id,
                max,
                Actor::SCHEDULER,
                &cause,
                Some(done),
            )
            .await
            .map(drop)
            .map_err(|err| format!("cannot requeue after a lost worker: {err}"))
        }
        Ending::Cancelled => {
            return finish(attempt, SessionStatus::Cancelled, "cancelled").await;
        }
        Ending::Detached => return,
    };
    // The task could not be settled: the session still ends, and says why.
    if let Err(reason) = settled {
        tracing::warn!(%reason, "cannot settle the attempt");
        finish(attempt, SessionStatus::Failed, reason).await;
    }
}

/// The bound on sessions that end without using an attempt: when the task's
/// sessions were interrupted `HARNESS_MAX_REQUEUES` times within the window, this
/// one counts as a failed attempt (with its backoff, its `task.failed` event, and a
/// block once attempts run out), whatever path requeued it. A shutdown does not count.
async fn requeued_too_often(attempt: &Attempt, reason: &str) -> Option<AttemptError> {
    if attempt.engine().stop.is_cancelled() {
        return None;
    }
    let reliability = &attempt.engine().settings.reliability;
    let window = reliability.requeue_window;
    let since = Timestamp::now().plus(-chrono::TimeDelta::from_std(window).unwrap_or_default());
    let filter = harness_store::SessionFilter {
        task_id: Some(attempt.task().id),
        status: Some(SessionStatus::Interrupted),
        // Newest first; room for the sessions that asked a human, which do not count.
        limit: reliability.max_requeues.saturating_add(1).saturating_mul(4),
        ..harness_store::SessionFilter::default()
    };
    let recent = match attempt.engine().board.list_sessions(filter).await {
        Ok(page) => page
            .items
            .iter()
            .filter(|s| s.id != attempt.session().id && s.ended_at.is_some_and(|at| at >= since))
            .filter(|s| s.exit_reason.as_deref() != Some(WAITING_FOR_ANSWER))
            .count(),
        Err(err) => {
            tracing::warn!(%err, "cannot count the task's interrupted sessions");
            return None;
        }
    };
    let count = u32::try_from(recent).unwrap_or(u32::MAX);
    (count >= reliability.max_requeues).then(|| AttemptError::RequeuedTooOften {
        count: count + 1,
        minutes: window.as_secs().div_ceil(60),
        last: reason.to_owned(),
    })
}

/// Ends the session alone, when there is no change to the task to end it with.
async fn finish(attempt: &Attempt, status: SessionStatus, reason: impl Into<String>) {
    let board = &attempt.engine().board;
    if let Err(err) = board
        .finish_session(attempt.session().id, status, reason.into())
        .await
    {
        tracing::warn!(%err, "cannot finish session");
    }
}

/// Failed: retried after a backoff, or blocked once the attempts are used up.
async fn settle_failure(
    attempt: &Attempt,
    text: FailureText,
    end: SessionEnd,
) -> Result<(), String> {
    let settings = &attempt.engine().settings;
    let used = attempt.task().attempts;
    let retry_at = (used < attempt.task().max_attempts).then(|| {
        let delay = retry_delay(used, settings.retry_base, settings.retry_cap);
        Timestamp::now().plus(chrono::TimeDelta::from_std(delay).unwrap_or_default())
    });
    let investigate = retry_at.is_none() && investigate::staffed(attempt.engine()).await;
    let failure = Failure {
        reason: text.reason,
        summary: text.summary,
        retry_at,
        investigate,
    };
    let task = match attempt
        .engine()
        .board
        .settle_failure(attempt.task().id, failure, Some(end), Actor::SCHEDULER)
        .await
    {
        Ok(task) => task,
        Err(err) => return Err(format!("cannot settle a failed attempt: {err}")),
    };
    match retry_at {
        Some(at) => attempt.engine().wake_at(at),
        None if task.status == TaskStatus::Blocked => {
            let span = tracing::info_span!("investigation", task = %task.display_id);
            tokio::spawn(investigate::investigate(attempt.engine().clone(), task).instrument(span));
        }
        None => {}
    }
    Ok(())
}
