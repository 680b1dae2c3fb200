//! Landing a finished attempt: what lands on the base is exactly the tree that passed
//! verification.
//!
//! Each round brings the branch up to the base's current commit, verifies that tree
//! (verifications of different tasks run in parallel), then takes the merge lock and
//! fast-forwards the base only if it still points where the branch was brought up to.
//! A base that moved meanwhile starts another round, up to `HARNESS_LAND_TRIES`; then
//! the attempt fails saying so. A conflict fails the attempt with the files, and that
//! summary is the next attempt's "previous failure".

use std::{sync::Arc, time::Duration};

use super::{
    attempt::{Attempt, Ending, Finished},
    error::AttemptError,
    review,
    sink::StoreSink,
    validate,
};
use harness_engine::{
    git::{Repo, Worktree},
    landing::{Integration, LandingError, LandingGit, STRATEGY},
};

/// What one round of landing came to.
enum Round {
    /// The base was fast-forwarded to this verified commit.
    Landed(String),
    /// The base moved while the branch was verified: bring it up again.
    BaseMoved,
    /// The base refuses the verified work for now (why): wait and try again.
    Refused(String),
    /// The attempt ends here (a failure, a conflict, nothing to land, a review's stop).
    Ended(Ending),
}

/// What the rounds of one attempt's landing carry from one to the next.
#[derive(Default)]
struct Progress {
    /// Validation reviews the change once, after its first passing verification.
    reviewed: bool,
    /// The commit verification last passed on: the same commit is not verified again.
    verified: Option<String>,
}

/// Brings the branch up to the base, verifies, and fast-forwards the base, up to
/// `HARNESS_LAND_TRIES` rounds while the base moves. Verified work the base refuses
/// for now (the person's checkout has uncommitted changes in the way, a lock, a base
/// that keeps moving) waits and lands later (see [`Attempt::wait_to_land`]).
pub(super) async fn land(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    repo: &Repo,
    worktree: &Worktree,
    done: Finished<'_>,
) -> Ending {
    let tries = attempt.engine().settings.reliability.land_tries;
    let mut progress = Progress::default();
    for round in 1..=tries {
        match land_round(attempt, sink, repo, worktree, done, &mut progress).await {
            Round::Landed(head) => return Ending::Merged { commit: Some(head) },
            Round::Ended(ending) => return ending,
            Round::Refused(reason) => {
                return wait_to_land(attempt, sink, repo, worktree, done, progress, reason)
                    .await;
            }
            Round::BaseMoved => sink.system(format!(
                "{} moved while this branch was verified (round {round} of {tries}); bringing it up again",
                worktree.base
            )),
        }
    }
    let reason = format!("{} kept moving for {tries} rounds", worktree.base);
    wait_to_land(attempt, sink, repo, worktree, done, progress, reason).await
}

/// One round: bring the branch up to the base, verify what changed, review once,
/// fast-forward the base under the merge lock.
async fn land_round(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    repo: &Repo,
    worktree: &Worktree,
    done: Finished<'_>,
    progress: &mut Progress,
) -> Round {
    let last_message = done.last_message;
    let git = LandingGit {
        timeout: attempt.engine().settings.reliability.git_timeout,
    };
    let base_commit = match bring_up(attempt, sink, &git, repo, worktree).await {
        Ok(commit) => commit,
        Err(ending) => return Round::Ended(ending),
    };
    let head = match run(&git, {
        let (repo, worktree) = (repo.clone(), worktree.clone());
        move |g| g.head(&repo.worktree_git(&worktree)?)
    })
    .await
    {
        Ok(head) => head,
        Err(err) => {
            return Round::Ended(Ending::after(AttemptError::ReadBranch(err), last_message));
        }
    };
    if let Err(err) = check_content(attempt, &git, repo, &base_commit, &head).await {
        sink.system(err.to_string());
        return Round::Ended(Ending::after(AttemptError::Land(err), last_message));
    }
    if progress.verified.as_deref() != Some(head.as_str()) {
        match attempt.verify(sink, worktree).await {
            Ok(()) => progress.verified = Some(head.clone()),
            Err(AttemptError::VerificationFailed { tail }) => {
                let tail = format!(
                    "Verified on the branch brought up to {} ({base_commit}).\n{tail}",
                    worktree.base
                );
                let err = AttemptError::VerificationFailed { tail };
                return Round::Ended(Ending::after(err, last_message));
            }
            Err(err) => return Round::Ended(Ending::after(err, last_message)),
        }
    }
    if head == base_commit {
        let ending = no_changes(attempt, sink, done.no_changes_needed, last_message);
        if matches!(ending, Ending::Merged { .. }) {
            remove_landed_worktree(attempt, sink, repo, worktree).await;
        }
        return Round::Ended(ending);
    }
    if !progress.reviewed {
        progress.reviewed = true;
        let review = validate::validate(attempt, sink, repo, worktree).await;
        if let Some(ending) = review.stops(attempt.engine().settings.retry_base, last_message) {
            return Round::Ended(ending);
        }
    }
    if !done.approved && review::land_policy(attempt).waits() {
        sink.system(format!(
            "verified; {head} on {} waits for a person's review",
            worktree.branch
        ));
        return Round::Ended(Ending::Review {
            commit: head,
            branch: worktree.branch.clone(),
            conversation: done
                .conversation
                .and_then(|c| serde_json::to_string(c).ok()),
        });
    }
    match fast_forward(attempt, &git, repo, worktree, &base_commit, &head).await {
        Ok(()) => {
            sink.system(format!(
                "{} fast-forwarded to the verified commit {head}",
                worktree.base
            ));
            remove_landed_worktree(attempt, sink, repo, worktree).await;
            Round::Landed(head)
        }
        Err(LandingError::BaseMoved { .. }) => Round::BaseMoved,
        Err(err) if refused_for_now(&err) => Round::Refused(err.to_string()),
        Err(err) => Round::Ended(Ending::after(AttemptError::Land(err), last_message)),
    }
}

/// Verified work the base refused: the task shows "verified, waiting to land" with
/// the reason (`task.waiting_to_land`), and the landing is tried again after a
/// doubling pause (from `HARNESS_RETRY_BASE_SECS`, at most a minute), or at once on
/// `POST /api/tasks/{id}/land`; never the agent again. Bounded by
/// `HARNESS_LAND_WAIT_SECS`, past which the attempt fails saying so.
async fn wait_to_land(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    repo: &Repo,
    worktree: &Worktree,
    done: Finished<'_>,
    mut progress: Progress,
    mut reason: String,
) -> Ending {
    let runs = attempt.engine().board.runs();
    let land_now = runs.waiting_to_land(attempt.task().id);
    let settings = &attempt.engine().settings;
    let wait = settings.reliability.land_wait;
    let deadline = tokio::time::Instant::now() + wait;
    let cap = Duration::from_secs(60).min(settings.retry_cap.max(Duration::from_millis(10)));
    let mut pause = settings.retry_base.clamp(Duration::from_millis(10), cap);
    say_waiting(attempt, sink, &reason).await;
    let ending = loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            let minutes = wait.as_secs().div_ceil(60);
            break Ending::after(
                AttemptError::NotLanded { reason, minutes },
                done.last_message,
            );
        }
        tokio::select! {
            () = attempt.cancel().cancelled() => break stopped_while_waiting(attempt),
            () = land_now.notified() => sink.system("landing now, as a person asked"),
            () = tokio::time::sleep(pause.min(deadline - now)) => {}
        }
        pause = (pause * 2).min(cap);
        match land_round(attempt, sink, repo, worktree, done, &mut progress).await {
            Round::Landed(head) => break Ending::Merged { commit: Some(head) },
            Round::Ended(ending) => break ending,
            Round::BaseMoved => {}
            Round::Refused(now_why) if now_why != reason => {
                reason = now_why;
                say_waiting(attempt, sink, &reason).await;
            }
            Round::Refused(_) => {}
        }
    };
    runs.stopped_waiting(attempt.task().id);
    ending
}

async fn say_waiting(attempt: &Attempt, sink: &StoreSink, reason: &str) {
    sink.system(format!(
        "verified, waiting to land: {reason}; retrying without running the agent again (POST /api/tasks/{}/land to retry now)",
        attempt.task().display_id
    ));
    let board = &attempt.engine().board;
    if let Err(err) = board
        .wait_to_land(attempt.task().id, attempt.session().id, reason.to_owned())
        .await
    {
        tracing::warn!(%err, "cannot record that the task waits to land");
    }
}

/// A cancel while waiting: the person's (the task is cancelled) or the shutdown's
/// (requeued, like any attempt the orchestrator's stop interrupts).
fn stopped_while_waiting(attempt: &Attempt) -> Ending {
    if attempt.engine().stop.is_cancelled() {
        Ending::Requeued {
            reason: "the orchestrator is shutting down".into(),
            retry_at: None,
        }
    } else {
        Ending::Cancelled
    }
}

/// Merges the base's current commit into the branch. `Ok` holds that base commit;
/// a conflict or a git failure is the attempt's end.
async fn bring_up(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    git: &LandingGit,
    repo: &Repo,
    worktree: &Worktree,
) -> Result<String, Ending> {
    let (root, base) = (repo.root().to_path_buf(), worktree.base.clone());
    let base_commit = run(git, move |g| g.base_head(&root, &base))
        .await
        .map_err(|source| {
            let base = worktree.base.clone();
            Ending::after(AttemptError::ReadBase { base, source }, "")
        })?;
    let (repo, checkout, commit, author) = (
        repo.clone(),
        worktree.clone(),
        base_commit.clone(),
        attempt.author(),
    );
    let integrated = run(git, move |g| {
        let data = repo.worktree_git(&checkout)?;
        g.bring_up_to_date(&data, &checkout.base, &commit, &author)
    })
    .await;
    match integrated {
        Ok(Integration::AlreadyCurrent) => {
            sink.system(format!(
                "the branch already contains {} ({base_commit})",
                worktree.base
            ));
        }
        Ok(Integration::Merged(head)) => {
            sink.system(format!(
                "brought the branch up to {} ({base_commit}) by a {STRATEGY}: {head}",
                worktree.base
            ));
        }
        Err(LandingError::Conflict { base, files }) => {
            sink.system(format!("conflicts with {base} in: {}", files.join(", ")));
            let err = AttemptError::Conflict {
                base,
                base_commit,
                files,
            };
            return Err(Ending::after(err, ""));
        }
        Err(source) => {
            let base = worktree.base.clone();
            return Err(Ending::after(AttemptError::BringUp { base, source }, ""));
        }
    }
    record_landing(attempt, STRATEGY).await;
    Ok(base_commit)
}

/// The end of a verified attempt that changed nothing, local or remote: a role that
/// must change the repository (`requires_changes`) fails it unless the agent said
/// why nothing was needed; any other role finishes with the outcome "no changes".
pub(super) fn no_changes(
    attempt: &Attempt,
    sink: &StoreSink,
    no_changes_needed: Option<&str>,
    last_message: &str,
) -> Ending {
    match no_changes_needed {
        Some(why) => sink.system(format!("no changes to merge; the agent says: {why}")),
        None if attempt.role().requires_changes => {
            let role = attempt.role().name.to_string();
            return Ending::after(AttemptError::NoChanges { role }, last_message);
        }
        None => sink.system("no changes to merge"),
    }
    Ending::Merged { commit: None }
}

/// Refuses what the branch adds to the base that the landing settings do not allow
/// (a nested repository, a symlink leading outside, a file over the size cap), read
/// from git's records only.
async fn check_content(
    attempt: &Attempt,
    git: &LandingGit,
    repo: &Repo,
    base_commit: &str,
    head: &str,
) -> Result<(), LandingError> {
    let rules = attempt.engine().settings.reliability.land_content;
    let (root, base_commit, head) = (
        repo.root().to_path_buf(),
        base_commit.to_owned(),
        head.to_owned(),
    );
    run(git, move |g| {
        g.check_content(&root, &base_commit, &head, &rules)
    })
    .await
}

/// Fast-forwards the base under the merge lock, so landings never race on its ref.
/// A timed-out git frees the lock like any other error.
async fn fast_forward(
    attempt: &Attempt,
    git: &LandingGit,
    repo: &Repo,
    worktree: &Worktree,
    expected: &str,
    head: &str,
) -> Result<(), LandingError> {
    let _one_landing_at_a_time = attempt.engine().merge_lock.lock().await;
    let (root, base, expected, head) = (
        repo.root().to_path_buf(),
        worktree.base.clone(),
        expected.to_owned(),
        head.to_owned(),
    );
    run(git, move |g| g.fast_forward(&root, &base, &expected, &head)).await
}

/// Removes the worktree and branch of what just landed; verification's leftovers
/// (untracked and ignored files) go with it. Anything else is kept and said.
async fn remove_landed_worktree(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    repo: &Repo,
    worktree: &Worktree,
) {
    let (repo, landed) = (repo.clone(), worktree.clone());
    match tokio::task::spawn_blocking(move || repo.remove_landed(&landed)).await {
        Ok(Ok(())) => sink.system(format!(
            "removed the worktree {} and its branch {}",
            worktree.path.display(),
            worktree.branch
        )),
        Ok(Err(err)) => {
            sink.system(format!("landed, but the worktree was kept: {err}"));
            tracing::warn!(task = %attempt.task().display_id, %err, "landed, but the worktree was kept");
        }
        Err(err) => {
            tracing::warn!(task = %attempt.task().display_id, %err, "landed, but the worktree was kept")
        }
    }
}

/// Records on the session how the branch was brought up to the base.
async fn record_landing(attempt: &Attempt, strategy: &'static str) {
    let recorded = attempt
        .engine()
        .board
        .record_landing(attempt.session().id, strategy)
        .await;
    if let Err(err) = recorded {
        tracing::warn!(%err, "cannot record how the branch landed");
    }
}

/// A refusal that clears by itself or by a person's hand: the person's checkout of the
/// base has changes in the way, or another git holds a lock. Waited out, not failed.
fn refused_for_now(err: &LandingError) -> bool {
    match err {
        LandingError::BaseCheckoutBlocked { .. } => true,
        LandingError::Command { message, .. } => {
            message.contains(".lock") || message.contains("cannot lock")
        }
        _ => false,
    }
}

/// Runs landing git off the async workers.
async fn run<T: Send + 'static>(
    git: &LandingGit,
    f: impl FnOnce(&LandingGit) -> Result<T, LandingError> + Send + 'static,
) -> Result<T, LandingError> {
    let git = git.clone();
    tokio::task::spawn_blocking(move || f(&git))
        .await
        .map_err(|e| LandingError::Git(std::io::Error::other(e).into()))?
}
