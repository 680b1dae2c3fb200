//! Landing a finished attempt: what lands on the base is exactly the tree that passed
//! verification.
//!
//! Each round brings the branch up to the base's current commit, verifies that tree
//! (verifications of different tasks run in parallel), then takes the merge lock and
//! fast-forwards the base only if it still points where the branch was brought up to.
//! A base that moved meanwhile starts another round, up to `HARNESS_LAND_TRIES`; then
//! the attempt fails saying so. A conflict fails the attempt with the files, and that
//! summary is the next attempt's "previous failure".

use std::sync::Arc;

use super::{
    attempt::{Attempt, Ending, Finished},
    error::AttemptError,
    sink::StoreSink,
};
use crate::engine::{
    git::{Repo, Worktree},
    landing::{Integration, LandingError, LandingGit, STRATEGY},
};

impl Attempt {
    /// Brings the branch up to the base, verifies, and fast-forwards the base.
    pub(super) async fn land(
        &self,
        sink: &Arc<StoreSink>,
        repo: &Repo,
        worktree: &Worktree,
        done: Finished<'_>,
    ) -> Ending {
        let last_message = done.last_message;
        let reliability = &self.engine.settings.reliability;
        let git = LandingGit {
            timeout: reliability.git_timeout,
        };
        // Validation reviews the change once, after its first passing verification.
        let mut reviewed = false;
        for round in 1..=reliability.land_tries {
            let base_commit = match self.bring_up(sink, &git, repo, worktree).await {
                Ok(commit) => commit,
                Err(ending) => return ending,
            };
            let head = match run(&git, {
                let (repo, worktree) = (repo.clone(), worktree.clone());
                move |g| g.head(&repo.worktree_git(&worktree)?)
            })
            .await
            {
                Ok(head) => head,
                Err(err) => return Ending::after(AttemptError::ReadBranch(err), last_message),
            };
            match self.verify(sink, worktree).await {
                Ok(()) => {}
                Err(AttemptError::VerificationFailed { tail }) => {
                    let tail = format!(
                        "Verified on the branch brought up to {} ({base_commit}).\n{tail}",
                        worktree.base
                    );
                    let err = AttemptError::VerificationFailed { tail };
                    return Ending::after(err, last_message);
                }
                Err(err) => return Ending::after(err, last_message),
            }
            if head == base_commit {
                let ending = self.no_changes(sink, done.no_changes_needed, last_message);
                if matches!(ending, Ending::Merged { .. }) {
                    self.remove_landed_worktree(sink, repo, worktree).await;
                }
                return ending;
            }
            if !reviewed {
                reviewed = true;
                let review = self.validate(sink, repo, worktree).await;
                if let Some(ending) = review.stops(self.engine.settings.retry_base, last_message) {
                    return ending;
                }
            }
            match self
                .fast_forward(&git, repo, worktree, &base_commit, &head)
                .await
            {
                Ok(()) => {
                    sink.system(format!(
                        "{} fast-forwarded to the verified commit {head}",
                        worktree.base
                    ));
                    self.remove_landed_worktree(sink, repo, worktree).await;
                    return Ending::Merged { commit: Some(head) };
                }
                Err(LandingError::BaseMoved { .. }) => {
                    sink.system(format!(
                        "{} moved while this branch was verified (round {round} of {}); bringing it up again",
                        worktree.base, reliability.land_tries
                    ));
                }
                Err(err) => return Ending::after(AttemptError::Land(err), last_message),
            }
        }
        let err = AttemptError::BaseKeptMoving {
            base: worktree.base.clone(),
            rounds: reliability.land_tries,
        };
        Ending::after(err, last_message)
    }

    /// Merges the base's current commit into the branch. `Ok` holds that base commit;
    /// a conflict or a git failure is the attempt's end.
    async fn bring_up(
        &self,
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
        let (repo, attempt, commit, author) = (
            repo.clone(),
            worktree.clone(),
            base_commit.clone(),
            self.author(),
        );
        let integrated = run(git, move |g| {
            let data = repo.worktree_git(&attempt)?;
            g.bring_up_to_date(&data, &attempt.base, &commit, &author)
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
        self.record_landing(STRATEGY).await;
        Ok(base_commit)
    }

    /// The end of a verified attempt that changed nothing, local or remote: a role that
    /// must change the repository (`requires_changes`) fails it unless the agent said
    /// why nothing was needed; any other role finishes with the outcome "no changes".
    pub(super) fn no_changes(
        &self,
        sink: &StoreSink,
        no_changes_needed: Option<&str>,
        last_message: &str,
    ) -> Ending {
        match no_changes_needed {
            Some(why) => sink.system(format!("no changes to merge; the agent says: {why}")),
            None if self.role.requires_changes => {
                let role = self.role.name.to_string();
                return Ending::after(AttemptError::NoChanges { role }, last_message);
            }
            None => sink.system("no changes to merge"),
        }
        Ending::Merged { commit: None }
    }

    /// Fast-forwards the base under the merge lock, so landings never race on its ref.
    /// A timed-out git frees the lock like any other error.
    async fn fast_forward(
        &self,
        git: &LandingGit,
        repo: &Repo,
        worktree: &Worktree,
        expected: &str,
        head: &str,
    ) -> Result<(), LandingError> {
        let _one_landing_at_a_time = self.engine.merge_lock.lock().await;
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
        &self,
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
                tracing::warn!(task = %self.task.display_id, %err, "landed, but the worktree was kept");
            }
            Err(err) => {
                tracing::warn!(task = %self.task.display_id, %err, "landed, but the worktree was kept")
            }
        }
    }

    /// Records on the session how the branch was brought up to the base.
    async fn record_landing(&self, strategy: &'static str) {
        let recorded = self
            .engine
            .board
            .record_landing(self.session.id, strategy)
            .await;
        if let Err(err) = recorded {
            tracing::warn!(%err, "cannot record how the branch landed");
        }
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
