//! Landing an attempt's branch on the base so that what lands is exactly what was
//! verified: bring the branch up to the base's current commit (a merge of the base into
//! the branch, in the attempt's worktree), let the caller verify that tree, then move the
//! base to it only by a fast-forward from the commit it was brought up to. A base that
//! moved in between is reported, never merged over.
//!
//! The same bounded git also makes the investigator's throwaway worktree.
//!
//! Every git call here goes through `safe_git` with `HARNESS_GIT_TIMEOUT_SECS`: its own
//! process group, killed as a group when the time is up, so a hanging git (an LFS fetch,
//! a credential prompt, a blocked file) cannot hold the merge lock forever. Hooks and
//! repository-configured programs are never run.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use super::{
    git::{Author, GitError},
    safe_git::{self, SafeGitError},
    worktree_git::WorktreeGit,
};

/// How the branch was brought up to the base; recorded on the session.
pub const STRATEGY: &str = "merge";

/// Recorded on a remote attempt whose verified branch found the base moved: the task is
/// requeued, and these rounds in a row are bounded by `HARNESS_LAND_TRIES`.
pub const BASE_MOVED: &str = "base-moved";

/// Why landing could not go on.
#[derive(Debug, thiserror::Error)]
pub enum LandingError {
    #[error("the branch conflicts with {base} in: {}", files.join(", "))]
    Conflict { base: String, files: Vec<String> },
    #[error("{base} moved since the branch was brought up to it")]
    BaseMoved { base: String },
    #[error("{base} is checked out at {} and refuses the fast-forward: {message}", path.display())]
    BaseCheckoutBlocked {
        base: String,
        path: PathBuf,
        message: String,
    },
    #[error("git {args} failed: {message}")]
    Command { args: String, message: String },
    /// Git could not run, or ran past `HARNESS_GIT_TIMEOUT_SECS` and was killed.
    #[error(transparent)]
    Git(#[from] SafeGitError),
    /// The worktree's git data is not what the harness recorded (its `.git` or HEAD was
    /// moved): nothing is merged or landed from it.
    #[error(transparent)]
    Worktree(#[from] GitError),
}

/// What bringing the branch up to date did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integration {
    /// The branch already contained the base.
    AlreadyCurrent,
    /// The base was merged into the branch; the branch's new head.
    Merged(String),
}

/// Git for landing: every call bounded by `timeout`.
#[derive(Debug, Clone)]
pub struct LandingGit {
    pub timeout: Duration,
}

/// Output of one bounded git call.
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// The trimmed output when git succeeded, else its error.
    fn stdout_if_ok(self, args: &[&str]) -> Result<String, LandingError> {
        if self.ok {
            Ok(self.stdout.trim().to_owned())
        } else {
            Err(LandingError::Command {
                args: args.join(" "),
                message: self.stderr,
            })
        }
    }
}

impl LandingGit {
    /// The commit `base` points at now.
    pub fn base_head(&self, repo: &Path, base: &str) -> Result<String, LandingError> {
        self.ok(
            repo,
            &[
                "rev-parse",
                "--verify",
                &format!("refs/heads/{base}^{{commit}}"),
            ],
            None,
        )
    }

    /// The head commit of the attempt's `worktree`.
    pub fn head(&self, worktree: &WorktreeGit) -> Result<String, LandingError> {
        self.ok_in(worktree, &["rev-parse", "HEAD"], None)
    }

    /// True when `ancestor` is reachable from `descendant`.
    pub fn contains(
        &self,
        dir: &Path,
        ancestor: &str,
        descendant: &str,
    ) -> Result<bool, LandingError> {
        let args = ["merge-base", "--is-ancestor", ancestor, descendant];
        let ran = self.run(dir, &args, None)?;
        Ok(ran.ok)
    }

    /// Merges `base_commit` into the branch checked out in `worktree`. On a conflict
    /// the merge is aborted (the branch stays as it was) and the files are listed.
    pub fn bring_up_to_date(
        &self,
        worktree: &WorktreeGit,
        base: &str,
        base_commit: &str,
        author: &Author,
    ) -> Result<Integration, LandingError> {
        let args = ["merge-base", "--is-ancestor", base_commit, "HEAD"];
        if self.run_in(worktree, &args, None)?.ok {
            return Ok(Integration::AlreadyCurrent);
        }
        let message = format!("Bring the branch up to {base}");
        let args = [
            "-c",
            "commit.gpgsign=false",
            "merge",
            "--no-ff",
            "--no-edit",
            "--no-verify",
            "-q",
            "-m",
            &message,
            base_commit,
        ];
        let ran = self.run_in(worktree, &args, Some(author))?;
        if ran.ok {
            return Ok(Integration::Merged(self.head(worktree)?));
        }
        let conflicted = self.ok_in(worktree, &["diff", "--name-only", "--diff-filter=U"], None)?;
        let files: Vec<String> = conflicted
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        // Whatever the failure, leave the worktree as it was before the merge.
        match self.run_in(worktree, &["merge", "--abort"], None) {
            // A merge that failed before it started leaves nothing to abort.
            Ok(aborted) if aborted.ok || aborted.stderr.contains("MERGE_HEAD missing") => {}
            Ok(aborted) => {
                tracing::warn!(worktree = %worktree.worktree.display(), stderr = %aborted.stderr, "cannot abort the failed merge");
            }
            Err(err) => {
                tracing::warn!(worktree = %worktree.worktree.display(), %err, "cannot abort the failed merge");
            }
        }
        if files.is_empty() {
            return Err(LandingError::Command {
                args: "merge".into(),
                message: ran.stderr,
            });
        }
        Err(LandingError::Conflict {
            base: base.to_owned(),
            files,
        })
    }

    /// Moves `base` from `expected` to `new` by a fast-forward only. Where `base` is
    /// checked out, the fast-forward happens there (updating its files, refusing over
    /// local changes); elsewhere a compare-and-swap of the ref does it.
    pub fn fast_forward(
        &self,
        repo: &Path,
        base: &str,
        expected: &str,
        new: &str,
    ) -> Result<(), LandingError> {
        let base_ref = format!("refs/heads/{base}");
        if self.base_head(repo, base)? != expected {
            return Err(LandingError::BaseMoved {
                base: base.to_owned(),
            });
        }
        match self.checkout_of(repo, &base_ref)? {
            Some(path) => {
                let ran = self.run(
                    &path,
                    &["merge", "--ff-only", "--no-verify", "-q", new],
                    None,
                )?;
                if ran.ok {
                    Ok(())
                } else if self.base_head(repo, base)? != expected {
                    Err(LandingError::BaseMoved {
                        base: base.to_owned(),
                    })
                } else {
                    Err(LandingError::BaseCheckoutBlocked {
                        base: base.to_owned(),
                        path,
                        message: ran.stderr,
                    })
                }
            }
            None => {
                let ran = self.run(repo, &["update-ref", &base_ref, new, expected], None)?;
                if ran.ok {
                    Ok(())
                } else {
                    Err(LandingError::BaseMoved {
                        base: base.to_owned(),
                    })
                }
            }
        }
    }

    /// A detached worktree at `path` on `rev` (a throwaway checkout to inspect).
    pub fn add_detached_worktree(
        &self,
        repo: &Path,
        path: &Path,
        rev: &str,
    ) -> Result<(), LandingError> {
        let path = path.to_string_lossy();
        self.ok(
            repo,
            &["worktree", "add", "--detach", "--force", &path, rev],
            None,
        )
        .map(drop)
    }

    /// Removes a throwaway worktree, whatever it holds.
    pub fn remove_worktree(&self, repo: &Path, path: &Path) -> Result<(), LandingError> {
        let path = path.to_string_lossy();
        self.ok(repo, &["worktree", "remove", "--force", &path], None)
            .map(drop)
    }

    /// The worktree (main or linked) where `branch_ref` is checked out, if any.
    fn checkout_of(&self, repo: &Path, branch_ref: &str) -> Result<Option<PathBuf>, LandingError> {
        let list = self.ok(repo, &["worktree", "list", "--porcelain"], None)?;
        let mut current: Option<&str> = None;
        for line in list.lines() {
            if let Some(path) = line.strip_prefix("worktree ") {
                current = Some(path);
            } else if line.strip_prefix("branch ") == Some(branch_ref) {
                return Ok(current.map(PathBuf::from));
            }
        }
        Ok(None)
    }

    fn ok(
        &self,
        dir: &Path,
        args: &[&str],
        author: Option<&Author>,
    ) -> Result<String, LandingError> {
        self.run(dir, args, author)?.stdout_if_ok(args)
    }

    /// [`LandingGit::ok`] in an attempt's worktree, on the git data the harness recorded.
    fn ok_in(
        &self,
        worktree: &WorktreeGit,
        args: &[&str],
        author: Option<&Author>,
    ) -> Result<String, LandingError> {
        self.run_in(worktree, args, author)?.stdout_if_ok(args)
    }

    /// [`LandingGit::run`] in an attempt's worktree, on the git data the harness recorded
    /// (never the worktree's own `.git`, which the agent could have pointed elsewhere).
    fn run_in(
        &self,
        worktree: &WorktreeGit,
        args: &[&str],
        author: Option<&Author>,
    ) -> Result<Ran, LandingError> {
        self.run_env(&worktree.worktree, args, author, &worktree.env())
    }

    /// Runs git through [`safe_git`] (no hooks, no planted config, its own process
    /// group), killed as a group past `HARNESS_GIT_TIMEOUT_SECS`.
    fn run(&self, dir: &Path, args: &[&str], author: Option<&Author>) -> Result<Ran, LandingError> {
        self.run_env(dir, args, author, &[])
    }

    fn run_env(
        &self,
        dir: &Path,
        args: &[&str],
        author: Option<&Author>,
        env: &[(&str, &str)],
    ) -> Result<Ran, LandingError> {
        let mut all = Author::env(author);
        all.extend_from_slice(env);
        let out = safe_git::run_within(dir, args, &all, self.timeout)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        Ok(Ran {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: super::session::truncate_with_note(stderr.trim(), 2000),
        })
    }
}
