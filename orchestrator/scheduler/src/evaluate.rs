//! The evaluator's job: before a task's first attempt, estimate its size. The estimate
//! is stored on the task (`GET /api/tasks/{id}/estimate`) and sets the attempt's
//! timeout and model tier (`[sizes.*]`, config/roles.rs). A task a person already
//! marked keeps that mark.

use std::sync::Arc;

use harness_domain::role::{Job, Size};

use super::{
    attempt::Attempt,
    consult::{Consult, Verdict, staffed},
    sink::StoreSink,
};
use harness_engine::{git::Worktree, prompt::TaskBrief};

/// Whether [`estimate_size`] asks the evaluator: no size yet, the first attempt,
/// and an evaluator staffed.
pub(super) async fn will_estimate(attempt: &Attempt) -> bool {
    attempt.size().is_none()
        && attempt.task().attempts <= 1
        && staffed(attempt.engine(), Job::Estimate).await
}

/// The task's size: the stored estimate, else (first attempt, evaluator staffed) a
/// new one. `None` when there is none; the attempt then runs with the defaults.
pub(super) async fn estimate_size(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    worktree: &Worktree,
) -> Option<Size> {
    if !will_estimate(attempt).await {
        return attempt.size();
    }
    let brief = TaskBrief::for_helper(
        attempt.task(),
        format!("Estimate the size of: {}", attempt.task().title),
    );
    let verdict = Consult {
        engine: attempt.engine(),
        task: attempt.task(),
        job: Job::Estimate,
        purpose: "estimate",
        brief,
        worktree: &worktree.path,
        creator: None,
        cancel: attempt.cancel(),
    }
    .run_by()
    .await;
    let (summary, agent) = match verdict {
        Ok((Verdict::Completed(summary), agent)) => (summary, agent),
        Ok((Verdict::Failed(reason), _)) => {
            sink.system(format!("the evaluator gave no estimate: {reason}"));
            return None;
        }
        Err(err) => {
            sink.system(format!("no estimate: {err}"));
            return None;
        }
    };
    let Ok(size) = Size::from_summary(&summary) else {
        sink.system(format!(
            "the evaluator's answer does not start with a size: {summary}"
        ));
        return None;
    };
    let reason = summary
        .trim()
        .split_once(char::is_whitespace)
        .map_or("", |(_, rest)| rest)
        .trim_start_matches([':', '-', ' '])
        .trim()
        .to_owned();
    match attempt
        .engine()
        .board
        .record_estimate(attempt.task(), size, reason, Some(agent.to_string()))
        .await
    {
        Ok(_) => sink.system(format!("estimated {size}")),
        Err(err) => tracing::warn!(%err, "cannot store the estimate"),
    }
    Some(size)
}
