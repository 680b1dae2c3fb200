//! Git worktrees for agent attempts, through the git CLI (`git -C …`).
//!
//! Each attempt works on branch `harness/<display_id>` in its own worktree; landing it
//! on the base is `landing.rs`'s job. Worktrees with uncommitted work are reported,
//! never removed silently.
//!
//! Every command runs through [`super::safe_git`], so nothing the repository carries
//! (hooks, fsmonitor, filters) runs. Every command on an attempt's worktree runs on the
//! git data the harness recorded ([`WorktreeGit`]), never on the worktree's own `.git`;
//! a worktree the records do not name gets no git at all (it is renamed aside). No
//! status or diff enters a nested repository, and none is ever committed.
//! All functions block; call them from `spawn_blocking`.

use std::{
    path::{Path, PathBuf},
    process::Output,
};

use super::{
    safe_git::{self, SafeGitError},
    worktree_git::WorktreeGit,
};

/// Prefix of every branch the harness creates.
pub(crate) const BRANCH_PREFIX: &str = "harness/";

/// Who commits and merges on the agents' behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

impl Author {
    /// The variables that make git record this author and committer.
    pub fn env(author: Option<&Author>) -> Vec<(&'static str, &str)> {
        author.map_or_else(Vec::new, |a| {
            vec![
                ("GIT_AUTHOR_NAME", a.name.as_str()),
                ("GIT_AUTHOR_EMAIL", a.email.as_str()),
                ("GIT_COMMITTER_NAME", a.name.as_str()),
                ("GIT_COMMITTER_EMAIL", a.email.as_str()),
            ]
        })
    }
}

impl Default for Author {
    fn default() -> Self {
        Self {
            name: "Parent Harness".into(),
            email: "harness@localhost".into(),
        }
    }
}

/// A failed git operation, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{path} is not a git repository: {message}")]
    NotARepository { path: PathBuf, message: String },
    #[error("invalid display id '{0}': use letters, digits, '-', '_' or '.'")]
    InvalidDisplayId(String),
    #[error("worktree path {0} already exists; remove it or keep it for inspection")]
    WorktreeExists(PathBuf),
    #[error("worktree {path} has uncommitted changes ({}); not removed", files.join(", "))]
    Dirty { path: PathBuf, files: Vec<String> },
    #[error("{0} is not a worktree git registered for this repository; its .git was changed")]
    NotOurWorktree(PathBuf),
    #[error("the worktree's HEAD is {found}, not {expected}: it was moved; nothing committed")]
    HeadMoved { expected: String, found: String },
    /// A worktree whose git data is not what the harness recorded gets no git run in it:
    /// its directory is renamed, its files kept for a person to look at.
    #[error("{} was moved to {} untouched ({reason}); no git ran in it", path.display(), to.display())]
    SetAside {
        path: PathBuf,
        to: PathBuf,
        reason: String,
    },
    #[error(
        "the work holds nested git repositories, which the harness does not commit (their \
         config and filters would come with them): {}; remove their .git, or add their \
         files as plain files",
        paths.join(", ")
    )]
    NestedRepository { paths: Vec<String> },
    #[error("git {args} failed: {message}")]
    Command { args: String, message: String },
    #[error("cannot run git: {0}")]
    Spawn(#[from] std::io::Error),
    #[error(transparent)]
    Run(#[from] SafeGitError),
}

/// A worktree the harness created for one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worktree {
    pub path: PathBuf,
    pub branch: String,
    pub base: String,
    /// The base commit the branch started from.
    pub base_commit: String,
}

/// What [`Repo::remove_worktree`] does with the worktree's branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchCleanup<'a> {
    /// Keep it (a failed attempt kept for inspection, or work not merged).
    Keep,
    /// Delete it only when all its commits are on this base branch.
    IfMergedInto(&'a str),
    /// Delete it whatever it holds (the caller has decided).
    Force,
}

/// A `harness/*` worktree found on disk, e.g. after a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftoverWorktree {
    pub path: PathBuf,
    pub branch: String,
    /// Paths with uncommitted changes (including untracked files). Non-empty means: keep.
    pub uncommitted: Vec<String>,
    /// The directory is gone but git still lists it (`git worktree prune` cleans it).
    pub missing: bool,
    /// Commits on the branch that are not on the base: committed but unmerged work.
    pub unmerged_commits: u32,
    /// Its git data is not what the harness recorded (its admin directory no longer
    /// names it): not inspected, since no git runs in it; kept.
    pub not_ours: bool,
}

impl LeftoverWorktree {
    /// True when removing it (and its branch) would lose work.
    pub fn holds_work(&self) -> bool {
        !self.uncommitted.is_empty() || self.unmerged_commits > 0 || self.not_ours
    }
}

/// The workspace repository.
#[derive(Debug, Clone)]
pub struct Repo {
    root: PathBuf,
}

impl Repo {
    /// Opens the repository containing `path`; errors say it is not a git repository.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GitError> {
        let path = path.as_ref();
        let out = git_raw(path, &["rev-parse", "--show-toplevel"], None)?;
        if !out.status.success() {
            return Err(GitError::NotARepository {
                path: path.to_path_buf(),
                message: stderr_line(&out),
            });
        }
        Ok(Self {
            root: PathBuf::from(stdout_trim(&out)),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The branch checked out in the workspace: the default base.
    pub fn current_branch(&self) -> Result<String, GitError> {
        git(&self.root, &["symbolic-ref", "--short", "HEAD"], None)
    }

    /// Creates `worktree_path` on a fresh branch `harness/<display_id>` from `base`.
    /// An old branch of that name (from an earlier attempt) is reset to `base`.
    pub fn create_worktree(
        &self,
        display_id: &str,
        base: &str,
        worktree_path: &Path,
    ) -> Result<Worktree, GitError> {
        let branch = branch_name(display_id)?;
        if worktree_path.exists() {
            return Err(GitError::WorktreeExists(worktree_path.to_path_buf()));
        }
        if let Some(parent) = worktree_path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let base_commit = self.rev_parse(&format!("refs/heads/{base}"))?;
        let path = worktree_path.to_string_lossy();
        git(
            &self.root,
            &["worktree", "add", "-B", &branch, &path, &base_commit],
            None,
        )?;
        Ok(Worktree {
            path: worktree_path.to_path_buf(),
            branch,
            base: base.to_owned(),
            base_commit,
        })
    }

    /// Re-creates a paused attempt's worktree at `path` on its existing branch
    /// `harness/<display_id>`, which holds the work so far (committed when the agent
    /// asked, or pushed by a worker); from `base` when that branch is gone.
    pub fn reopen_worktree(
        &self,
        display_id: &str,
        base: &str,
        path: &Path,
    ) -> Result<Worktree, GitError> {
        let branch = branch_name(display_id)?;
        if self.rev_parse(&format!("refs/heads/{branch}")).is_err() {
            return self.create_worktree(display_id, base, path);
        }
        if path.exists() {
            return Err(GitError::WorktreeExists(path.to_path_buf()));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        git(&self.root, &["worktree", "prune"], None)?;
        let base_commit = self.rev_parse(&format!("refs/heads/{base}"))?;
        let p = path.to_string_lossy();
        git(&self.root, &["worktree", "add", "-q", &p, &branch], None)?;
        Ok(Worktree {
            path: path.to_path_buf(),
            branch,
            base: base.to_owned(),
            base_commit,
        })
    }

    /// Checks out the commit `rev` names, detached, in a new worktree at `path`; a stale
    /// worktree left there is removed first. Detached, so it never holds a branch
    /// another step must move: for a remote attempt's helper sessions, which need a
    /// local copy of a branch a worker owns. The returned `branch` is that commit, so a
    /// diff against `base` covers exactly what is checked out.
    pub fn checkout_detached(
        &self,
        path: &Path,
        rev: &str,
        base: &str,
    ) -> Result<Worktree, GitError> {
        if path.exists() {
            self.remove_worktree(path, true, BranchCleanup::Keep)?;
        }
        git(&self.root, &["worktree", "prune"], None)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let commit = self.rev_parse(rev)?;
        let base_commit = self.rev_parse(&format!("refs/heads/{base}"))?;
        let p = path.to_string_lossy();
        git(
            &self.root,
            &["worktree", "add", "-q", "--detach", &p, &commit],
            None,
        )?;
        Ok(Worktree {
            path: path.to_path_buf(),
            branch: commit,
            base: base.to_owned(),
            base_commit,
        })
    }

    /// Moves `branch` from the commit `from` to `to`, only if it is still at `from`.
    pub fn advance_branch(&self, branch: &str, from: &str, to: &str) -> Result<(), GitError> {
        let name = format!("refs/heads/{branch}");
        git(&self.root, &["update-ref", &name, to, from], None).map(|_| ())
    }

    /// Stages everything in `worktree` (a clone of its own, as a remote worker has) and
    /// commits it. `None` when there was nothing to commit. Hooks are skipped:
    /// verification is the explicit check, and a hook could hang.
    pub fn commit_all(
        &self,
        worktree: &Path,
        message: &str,
        author: &Author,
    ) -> Result<Option<String>, GitError> {
        commit_in(worktree, message, author, &[])
    }

    /// [`Repo::commit_all`] for an attempt's linked worktree, whose `.git` file and
    /// admin directory the agent could have rewritten: git gets the repository from the
    /// harness's records ([`WorktreeGit`]), and commits only while HEAD is still the
    /// attempt's branch.
    pub fn commit_attempt(
        &self,
        worktree: &Worktree,
        message: &str,
        author: &Author,
    ) -> Result<Option<String>, GitError> {
        let data = self.worktree_git(worktree)?;
        commit_in(&data.worktree, message, author, &data.env())
    }

    /// The git data of `worktree` as the harness recorded it, checked to still have the
    /// attempt's branch checked out. Git run with its [`WorktreeGit::env`] cannot be sent
    /// to another repository or branch by anything in the worktree.
    pub fn worktree_git(&self, worktree: &Worktree) -> Result<WorktreeGit, GitError> {
        let data = WorktreeGit::of(&self.root, &worktree.path)
            .ok_or_else(|| GitError::NotOurWorktree(worktree.path.clone()))?;
        // A detached checkout (`Repo::checkout_detached`) names its commit as `branch`.
        let detached =
            worktree.branch.len() == 40 && worktree.branch.bytes().all(|b| b.is_ascii_hexdigit());
        let (args, expected): (&[&str], String) = if detached {
            (
                &["rev-parse", "--verify", "-q", "HEAD"],
                worktree.branch.clone(),
            )
        } else {
            (
                &["symbolic-ref", "-q", "HEAD"],
                format!("refs/heads/{}", worktree.branch),
            )
        };
        let out = safe_git::run(&data.worktree, args, &data.env())?;
        let found = stdout_trim(&out);
        if !out.status.success() || found != expected {
            return Err(GitError::HeadMoved {
                expected,
                found: if found.is_empty() {
                    "detached".into()
                } else {
                    found
                },
            });
        }
        Ok(data)
    }

    /// The diff of `branch` against the point where it left `base`, capped at `max_bytes`.
    pub fn diff(&self, base: &str, branch: &str, max_bytes: usize) -> Result<String, GitError> {
        let range = format!("{base}...{branch}");
        let diff = git(
            &self.root,
            &[
                "diff",
                "--no-ext-diff",
                "--no-textconv",
                "--ignore-submodules=all",
                "--stat",
                "--patch",
                &range,
            ],
            None,
        )?;
        Ok(super::session::truncate_with_note(&diff, max_bytes))
    }

    /// Removes a worktree. Refuses when it has uncommitted changes unless `discard` is
    /// set. Its branch is handled as `branch` says; commits never merged are kept unless
    /// the caller forces it. A directory the harness's records do not name as this
    /// worktree gets no git: it is renamed aside ([`GitError::SetAside`]).
    pub fn remove_worktree(
        &self,
        path: &Path,
        discard: bool,
        branch: BranchCleanup<'_>,
    ) -> Result<(), GitError> {
        let branch_name = self
            .worktrees()?
            .into_iter()
            .find(|w| same_path(&w.path, path))
            .and_then(|w| w.branch)
            .and_then(|b| b.strip_prefix("refs/heads/").map(str::to_owned));
        if path.exists() {
            // Not one of ours by the records: no git runs in it, not even a status.
            let Some(data) = WorktreeGit::of(&self.root, path) else {
                return Err(self.move_aside(path, NOT_RECORDED));
            };
            if !discard {
                let files = uncommitted(&data)?;
                if !files.is_empty() {
                    return Err(GitError::Dirty {
                        path: path.to_path_buf(),
                        files,
                    });
                }
            }
        }
        let p = path.to_string_lossy();
        if path.exists() {
            git(&self.root, &["worktree", "remove", "--force", &p], None)?;
        } else {
            git(&self.root, &["worktree", "prune"], None)?;
        }
        let Some(name) = branch_name else {
            return Ok(());
        };
        let delete = match branch {
            BranchCleanup::Keep => false,
            BranchCleanup::Force => true,
            BranchCleanup::IfMergedInto(base) => self.is_merged(&name, base)?,
        };
        if delete {
            git(&self.root, &["branch", "-D", "-q", &name], None)?;
        }
        Ok(())
    }

    /// Removes a landed attempt's worktree, and its branch once the base holds it.
    /// What verification left behind (build output, caches: untracked or ignored
    /// files) does not keep it; a change to a tracked file, which no commit holds, does
    /// ([`GitError::Dirty`]). The status is read with the git data the harness recorded
    /// and never enters nested repositories, so nothing the agent planted runs.
    pub fn remove_landed(&self, worktree: &Worktree) -> Result<(), GitError> {
        let data = self.worktree_git(worktree)?;
        let args = [
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--ignore-submodules=all",
        ];
        let text = checked(safe_git::run(&data.worktree, &args, &data.env())?, &args)?;
        let files = porcelain_paths(&text);
        if !files.is_empty() {
            return Err(GitError::Dirty {
                path: worktree.path.clone(),
                files,
            });
        }
        self.remove_worktree(
            &worktree.path,
            true,
            BranchCleanup::IfMergedInto(&worktree.base),
        )
    }

    /// True when every commit of `branch` is on `base`.
    pub fn is_merged(&self, branch: &str, base: &str) -> Result<bool, GitError> {
        let out = git_raw(
            &self.root,
            &[
                "merge-base",
                "--is-ancestor",
                &format!("refs/heads/{branch}"),
                &format!("refs/heads/{base}"),
            ],
            None,
        )?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(GitError::Command {
                args: format!("merge-base --is-ancestor {branch} {base}"),
                message: stderr_line(&out),
            }),
        }
    }

    /// Commits on `branch` that are not on `base`: committed work not merged yet.
    pub fn unmerged_commits(&self, branch: &str, base: &str) -> Result<u32, GitError> {
        let range = format!("refs/heads/{base}..refs/heads/{branch}");
        let count = git(&self.root, &["rev-list", "--count", &range], None)?;
        Ok(count.parse().unwrap_or(0))
    }

    /// Every `harness/*` worktree git knows about, with its uncommitted files and the
    /// commits it has that `base` lacks. For startup recovery: report, never delete work.
    pub fn leftover_worktrees(&self, base: &str) -> Result<Vec<LeftoverWorktree>, GitError> {
        let mut out = Vec::new();
        for w in self.worktrees()? {
            let Some(branch) = w
                .branch
                .as_deref()
                .and_then(|b| b.strip_prefix("refs/heads/"))
                .filter(|b| b.starts_with(BRANCH_PREFIX))
            else {
                continue;
            };
            let missing = !w.path.exists();
            let data = WorktreeGit::of(&self.root, &w.path);
            let not_ours = !missing && data.is_none();
            let uncommitted = match data {
                Some(data) if !missing => uncommitted(&data)?,
                _ => Vec::new(),
            };
            let unmerged_commits = self.unmerged_commits(branch, base)?;
            out.push(LeftoverWorktree {
                path: w.path.clone(),
                branch: branch.to_owned(),
                uncommitted,
                missing,
                unmerged_commits,
                not_ours,
            });
        }
        Ok(out)
    }

    fn rev_parse(&self, rev: &str) -> Result<String, GitError> {
        git(
            &self.root,
            &["rev-parse", "--verify", "-q", &format!("{rev}^{{commit}}")],
            None,
        )
        .map_err(|_| GitError::Command {
            args: format!("rev-parse {rev}"),
            message: format!("{rev} does not exist"),
        })
    }

    fn worktrees(&self) -> Result<Vec<ListedWorktree>, GitError> {
        let text = git(&self.root, &["worktree", "list", "--porcelain"], None)?;
        Ok(parse_worktree_list(&text))
    }
}

#[derive(Debug)]
struct ListedWorktree {
    path: PathBuf,
    branch: Option<String>,
}

fn parse_worktree_list(text: &str) -> Vec<ListedWorktree> {
    let mut list = Vec::new();
    for block in text.split("\n\n") {
        let mut path = None;
        let mut branch = None;
        for line in block.lines() {
            if let Some(p) = line.strip_prefix("worktree ") {
                path = Some(PathBuf::from(p));
            } else if let Some(b) = line.strip_prefix("branch ") {
                branch = Some(b.to_owned());
            }
        }
        if let Some(path) = path {
            list.push(ListedWorktree { path, branch });
        }
    }
    list
}

/// What [`Repo::reclaim_leftovers`] did, for the attempt's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reclaimed {
    /// Git listed a worktree whose directory is gone; pruned.
    Pruned,
    /// Another worktree held the attempt's branch (one from an earlier data directory,
    /// say); set aside, its work kept on this branch when it had any.
    SetAside { path: PathBuf, kept: Option<String> },
    /// A directory at the attempt's path that git does not know; moved here, untouched.
    MovedAway { from: PathBuf, to: PathBuf },
}

impl Repo {
    /// Clears what stops a fresh worktree of `display_id` at `path`: the harness's own
    /// leftovers from a crash or an earlier configuration. A worktree elsewhere that
    /// still holds `harness/<display_id>` is set aside (its work committed to a kept
    /// branch, never deleted); a stale registration is pruned; a directory at `path`
    /// that is not one of this repository's worktrees is renamed beside it. Only the
    /// one live attempt of a task calls this, so nothing it touches is in use.
    pub fn reclaim_leftovers(
        &self,
        display_id: &str,
        path: &Path,
        author: &Author,
    ) -> Result<Vec<Reclaimed>, GitError> {
        let branch_ref = format!("refs/heads/{}", branch_name(display_id)?);
        let mut done = Vec::new();
        let listed = self.worktrees()?;
        if listed.iter().any(|w| !w.path.exists()) {
            git(&self.root, &["worktree", "prune"], None)?;
            done.push(Reclaimed::Pruned);
        }
        for holder in listed.iter().filter(|w| {
            w.path.exists()
                && w.branch.as_deref() == Some(branch_ref.as_str())
                && !same_path(&w.path, path)
        }) {
            let kept = self.set_aside_worktree(&holder.path, display_id, author)?;
            done.push(Reclaimed::SetAside {
                path: holder.path.clone(),
                kept,
            });
        }
        let registered = listed.iter().any(|w| same_path(&w.path, path));
        if path.exists() && !registered {
            let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
            let to = path.with_file_name(format!("{display_id}-orphan-{stamp}"));
            std::fs::rename(path, &to)?;
            done.push(Reclaimed::MovedAway {
                from: path.to_path_buf(),
                to,
            });
        }
        Ok(done)
    }

    /// Sets aside an earlier attempt's worktree of `display_id` without losing anything:
    /// uncommitted files are committed, the branch is renamed to
    /// [`kept_branch_name`] (now), and the worktree directory is removed. Returns the
    /// kept branch when there was work to keep.
    ///
    /// Every git command runs on the git data the harness recorded. A worktree that is
    /// not the task's by the records (its admin directory no longer names it, its HEAD
    /// is not the task's branch), or whose work cannot be committed (a nested
    /// repository), gets no further git: its directory is renamed beside it
    /// ([`GitError::SetAside`]), and the branch's commits are still kept.
    pub fn set_aside_worktree(
        &self,
        path: &Path,
        display_id: &str,
        author: &Author,
    ) -> Result<Option<String>, GitError> {
        let keep_as = kept_branch_name(display_id, chrono::Utc::now());
        let branch = branch_name(display_id)?;
        let recorded = Worktree {
            path: path.to_path_buf(),
            branch: branch.clone(),
            base: String::new(),
            base_commit: String::new(),
        };
        let data = match self.worktree_git(&recorded) {
            Ok(data) => data,
            Err(err @ (GitError::NotOurWorktree(_) | GitError::HeadMoved { .. })) => {
                return self.set_aside_untouched(path, &branch, &keep_as, &err);
            }
            Err(err) => return Err(err),
        };
        let dirty = !uncommitted(&data)?.is_empty();
        if dirty {
            let message =
                "Work left in the worktree by an interrupted attempt, kept by Parent Harness";
            match commit_in(&data.worktree, message, author, &data.env()) {
                Ok(_) => {}
                Err(err @ GitError::NestedRepository { .. }) => {
                    return self.set_aside_untouched(path, &branch, &keep_as, &err);
                }
                Err(err) => return Err(err),
            }
        }
        let kept = self.keep_branch(&branch, &keep_as, dirty)?;
        let remove = ["worktree", "remove", "--force", &path.to_string_lossy()];
        if let Err(err) = git(&self.root, &remove, None) {
            // Git refuses a worktree whose `.git` no longer points back at its records:
            // the work is committed and kept; the directory goes aside, untouched.
            let moved = self.move_aside(path, &format!("git cannot remove it: {err}"));
            return Err(match (moved, kept) {
                (GitError::SetAside { path, to, reason }, Some(kept)) => GitError::SetAside {
                    path,
                    to,
                    reason: format!("{reason}; its work is kept on {kept}"),
                },
                (moved, _) => moved,
            });
        }
        Ok(kept)
    }

    /// The end of [`Repo::set_aside_worktree`] for a worktree no git may run in: the
    /// directory is renamed (its files kept as they are), and the branch's commits are
    /// kept as for any worktree set aside. Always the error that says so.
    fn set_aside_untouched(
        &self,
        path: &Path,
        branch: &str,
        keep_as: &str,
        why: &GitError,
    ) -> Result<Option<String>, GitError> {
        let moved = self.move_aside(path, &why.to_string());
        let kept = self.keep_branch(branch, keep_as, false)?;
        Err(match (moved, kept) {
            (GitError::SetAside { path, to, reason }, Some(kept)) => GitError::SetAside {
                path,
                to,
                reason: format!("{reason}; the branch's commits are kept on {kept}"),
            },
            (moved, _) => moved,
        })
    }

    /// Renames `branch` to a free `keep_as` name when it holds work: `dirty` (work was
    /// just committed on it) or commits the workspace's HEAD lacks. The kept name.
    fn keep_branch(
        &self,
        branch: &str,
        keep_as: &str,
        dirty: bool,
    ) -> Result<Option<String>, GitError> {
        if self.rev_parse(&format!("refs/heads/{branch}")).is_err() {
            return Ok(None);
        }
        let base_has_it = self.unmerged_commits(branch, "HEAD").unwrap_or(1) == 0;
        if !dirty && base_has_it {
            return Ok(None);
        }
        let keep_as = self.free_branch_name(keep_as)?;
        git(&self.root, &["branch", "-m", branch, &keep_as], None)?;
        Ok(Some(keep_as))
    }

    /// Renames a worktree directory no git may run in to `<name>-not-ours-<UTC time>`
    /// beside it, and prunes git's record of it (its admin directory then names a path
    /// that is gone). Returns the error that tells why, for the caller to report.
    fn move_aside(&self, path: &Path, reason: &str) -> GitError {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let free = (1..=100)
            .map(|n| match n {
                1 => path.with_file_name(format!("{name}-not-ours-{stamp}")),
                n => path.with_file_name(format!("{name}-not-ours-{stamp}-{n}")),
            })
            .find(|to| std::fs::symlink_metadata(to).is_err());
        let Some(to) = free else {
            return GitError::Command {
                args: format!("rename {}", path.display()),
                message: format!("{reason}; and 100 set-aside copies of it already exist"),
            };
        };
        if let Err(err) = std::fs::rename(path, &to) {
            return GitError::Command {
                args: format!("rename {} {}", path.display(), to.display()),
                message: format!("{reason}; cannot move it aside: {err}"),
            };
        }
        if let Err(err) = git(&self.root, &["worktree", "prune"], None) {
            tracing::warn!(%err, path = %to.display(), "moved a worktree aside, but cannot prune git's record of it");
        }
        GitError::SetAside {
            path: path.to_path_buf(),
            to,
            reason: reason.to_owned(),
        }
    }

    /// `name`, or `name-2`, `name-3`… when a branch of that name exists: two attempts
    /// set aside within one second must not collide (the name carries the second).
    fn free_branch_name(&self, name: &str) -> Result<String, GitError> {
        for n in 1..=100 {
            let candidate = if n == 1 {
                name.to_owned()
            } else {
                format!("{name}-{n}")
            };
            if self.rev_parse(&format!("refs/heads/{candidate}")).is_err() {
                return Ok(candidate);
            }
        }
        Err(GitError::Command {
            args: format!("branch -m … {name}"),
            message: "100 kept branches of that name already exist".into(),
        })
    }
}

/// Why a worktree gets no git: the harness's records do not name it.
const NOT_RECORDED: &str = "its git data is not what the harness recorded";

/// Files with uncommitted changes in a worktree, untracked ones included: read with the
/// git data the harness recorded (never the worktree's own `.git`), and never entering
/// a nested repository (`--ignore-submodules=all`), whose config the harness never
/// listed. A nested repository shows as one untracked directory.
fn uncommitted(data: &WorktreeGit) -> Result<Vec<String>, GitError> {
    let args = [
        "status",
        "--porcelain",
        "--untracked-files=all",
        "--ignore-submodules=all",
    ];
    let out = safe_git::run(&data.worktree, &args, &data.env())?;
    let mut paths = porcelain_paths(&checked(out, &args)?);
    // `--ignore-submodules=all` hides a staged gitlink too; it is work all the same.
    for nested in staged_gitlinks(&data.worktree, &data.env())? {
        if !paths.contains(&nested) {
            paths.push(nested);
        }
    }
    Ok(paths)
}

/// The paths of `git status --porcelain` output (each line: two status letters, a space).
fn porcelain_paths(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.get(3..))
        .map(str::to_owned)
        .collect()
}

/// `harness/<display_id>`, refusing ids that could be read as options or paths.
pub fn branch_name(display_id: &str) -> Result<String, GitError> {
    let ok = !display_id.is_empty()
        && display_id.len() <= 64
        && !display_id.starts_with(['-', '.'])
        && !display_id.contains("..")
        && !display_id.ends_with(".lock")
        && display_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(format!("{BRANCH_PREFIX}{display_id}"))
    } else {
        Err(GitError::InvalidDisplayId(display_id.to_owned()))
    }
}

/// `harness/<display_id>-kept-<UTC time>`: the branch a worktree's work is kept on when
/// the worktree is set aside (a fresh attempt, or retention), so nothing is lost.
pub(crate) fn kept_branch_name(display_id: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "{BRANCH_PREFIX}{display_id}-kept-{}",
        at.format("%Y%m%dT%H%M%SZ")
    )
}

fn same_path(a: &Path, b: &Path) -> bool {
    a == b
        || match (a.canonicalize(), b.canonicalize()) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
}

/// Runs git and returns trimmed stdout, or an error carrying stderr.
fn git(dir: &Path, args: &[&str], author: Option<&Author>) -> Result<String, GitError> {
    checked(git_raw(dir, args, author)?, args)
}

/// Trimmed stdout when git succeeded, else an error carrying its stderr.
fn checked(out: Output, args: &[&str]) -> Result<String, GitError> {
    if out.status.success() {
        Ok(stdout_trim(&out))
    } else {
        Err(GitError::Command {
            args: args.join(" "),
            message: stderr_line(&out),
        })
    }
}

/// Every git command goes through [`safe_git::run`]: no hooks, no planted config, a
/// minimal environment and a timeout that kills its process group.
fn git_raw(dir: &Path, args: &[&str], author: Option<&Author>) -> Result<Output, GitError> {
    Ok(safe_git::run(dir, args, &Author::env(author))?)
}

/// Stages and commits everything in `dir`, with `env` added to every git call.
fn commit_in(
    dir: &Path,
    message: &str,
    author: &Author,
    env: &[(&str, &str)],
) -> Result<Option<String>, GitError> {
    let run = |args: &[&str], author: Option<&Author>| -> Result<Output, GitError> {
        let mut all = Author::env(author);
        all.extend_from_slice(env);
        Ok(safe_git::run(dir, args, &all)?)
    };
    // The harness commits no repository inside the work. One the agent staged itself
    // is refused before `add`, which would otherwise run `status` inside it (and so its
    // own config and filters); gitlinks the base already has are left out of `add`
    // for the same reason; and a directory holding its own `.git`, which `add -A`
    // stages as a gitlink without looking inside, is refused after.
    let nested = staged_gitlinks(dir, env)?;
    if !nested.is_empty() {
        return Err(GitError::NestedRepository { paths: nested });
    }
    let excluded: Vec<String> = index_gitlinks(dir, env)?
        .iter()
        .map(|path| format!(":(exclude,literal){path}"))
        .collect();
    let mut add = vec!["add", "-A", "--", "."];
    add.extend(excluded.iter().map(String::as_str));
    checked(run(&add, None)?, &["add", "-A"])?;
    let nested = staged_gitlinks(dir, env)?;
    if !nested.is_empty() {
        return Err(GitError::NestedRepository { paths: nested });
    }
    if run(&["diff", "--cached", "--quiet"], None)?
        .status
        .success()
    {
        return Ok(None);
    }
    let commit = [
        "-c",
        "commit.gpgsign=false",
        "commit",
        "--no-verify",
        "-q",
        "-m",
        message,
    ];
    checked(run(&commit, Some(author))?, &commit)?;
    let head = ["rev-parse", "HEAD"];
    checked(run(&head, None)?, &head).map(Some)
}

/// Paths staged as gitlinks (nested repositories) that HEAD does not have as such: the
/// index against HEAD only, so nothing looks inside the nested directories.
fn staged_gitlinks(dir: &Path, env: &[(&str, &str)]) -> Result<Vec<String>, GitError> {
    let args = [
        "diff-index",
        "--cached",
        "--raw",
        "-z",
        "--no-renames",
        "--no-abbrev",
        "HEAD",
    ];
    let out = safe_git::run(dir, &args, env)?;
    if !out.status.success() {
        return Err(GitError::Command {
            args: args.join(" "),
            message: stderr_line(&out),
        });
    }
    let changes = raw_changes(&out.stdout).map_err(|message| GitError::Command {
        args: args.join(" "),
        message,
    })?;
    Ok(changes
        .into_iter()
        .filter(|c| c.new_mode == GITLINK_MODE && c.status != 'D')
        .map(|c| c.path)
        .collect())
}

/// Every path the index holds as a gitlink (`ls-files --stage` reads the index only).
fn index_gitlinks(dir: &Path, env: &[(&str, &str)]) -> Result<Vec<String>, GitError> {
    let args = ["ls-files", "--stage", "-z"];
    let out = safe_git::run(dir, &args, env)?;
    if !out.status.success() {
        return Err(GitError::Command {
            args: args.join(" "),
            message: stderr_line(&out),
        });
    }
    // `<mode> <oid> <stage>\t<path>` NUL each.
    Ok(out
        .stdout
        .split(|b| *b == 0)
        .filter(|entry| entry.starts_with(GITLINK_MODE.as_bytes()))
        .filter_map(|entry| {
            let tab = entry.iter().position(|b| *b == b'\t')?;
            Some(String::from_utf8_lossy(&entry[tab + 1..]).into_owned())
        })
        .collect())
}

/// The mode git records for a nested repository (a gitlink, a submodule's commit).
pub(crate) const GITLINK_MODE: &str = "160000";

/// One entry of `git diff --raw -z --no-renames --no-abbrev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawChange {
    /// `000000` when the path is gone on the new side.
    pub new_mode: String,
    pub new_oid: String,
    /// `A`, `M`, `T`, `D`…
    pub status: char,
    pub path: String,
}

/// The entries of `git diff --raw -z --no-renames`: `:<old mode> <new mode> <old oid>
/// <new oid> <status>` NUL `<path>` NUL, one after the other.
pub(crate) fn raw_changes(out: &[u8]) -> Result<Vec<RawChange>, String> {
    let mut fields = out.split(|b| *b == 0);
    let mut changes = Vec::new();
    while let Some(meta) = fields.next() {
        if meta.is_empty() {
            continue;
        }
        let meta = String::from_utf8_lossy(meta);
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        let [_, new_mode, _, new_oid, status] = parts[..] else {
            return Err(format!("unexpected raw diff entry: {meta}"));
        };
        let path = fields
            .next()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| format!("raw diff entry without a path: {meta}"))?;
        changes.push(RawChange {
            new_mode: new_mode.to_owned(),
            new_oid: new_oid.to_owned(),
            status: status.chars().next().unwrap_or('?'),
            path: String::from_utf8_lossy(path).into_owned(),
        });
    }
    Ok(changes)
}

fn stdout_trim(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn stderr_line(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let text = text.trim();
    super::session::truncate_with_note(text, 2000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_branch_is_named_after_the_task_and_the_utc_time() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-04T05:06:07Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            kept_branch_name("T-12", at),
            "harness/T-12-kept-20260304T050607Z"
        );
    }

    #[test]
    fn a_display_id_becomes_a_harness_branch() {
        assert_eq!(branch_name("T-42").unwrap(), "harness/T-42");
    }

    #[test]
    fn display_ids_that_look_like_options_or_paths_are_rejected() {
        for bad in ["", "-x", "../x", "a/b", ".hidden", "a..b", "x.lock", "a b"] {
            assert!(branch_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_porcelain_worktree_list_is_parsed() {
        let text = "worktree /repo\nHEAD abc\nbranch refs/heads/main\n\nworktree /wt/T-1\nHEAD def\nbranch refs/heads/harness/T-1\n\nworktree /wt/x\nHEAD 123\ndetached\n";
        let list = parse_worktree_list(text);
        assert_eq!(list.len(), 3);
        assert_eq!(list[1].branch.as_deref(), Some("refs/heads/harness/T-1"));
        assert_eq!(list[2].branch, None);
    }

    use crate::test_support::plain_git as plain;

    /// A workspace with an attempt's worktree `T-1`, a directory for tripwire marks,
    /// and a tripwire program that passes its input through (a working filter).
    struct Planted {
        _dir: tempfile::TempDir,
        repo: Repo,
        worktree: Worktree,
        marks: PathBuf,
        program: String,
    }

    fn planted() -> Planted {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let workspace = root.join("repo");
        std::fs::create_dir(&workspace).unwrap();
        plain(&workspace, &["init", "-q", "-b", "main"]);
        std::fs::write(workspace.join("README.md"), "hello\n").unwrap();
        plain(&workspace, &["add", "-A"]);
        plain(&workspace, &["commit", "-qm", "base"]);
        let marks = root.join("marks");
        std::fs::create_dir(&marks).unwrap();
        let program = root.join("tripwire");
        std::fs::write(
            &program,
            format!("#!/bin/sh\ntouch '{}/ran'\ncat\n", marks.display()),
        )
        .unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let repo = Repo::open(&workspace).unwrap();
        let worktree = repo
            .create_worktree("T-1", "main", &root.join("worktrees/T-1"))
            .unwrap();
        Planted {
            _dir: dir,
            repo,
            worktree,
            marks,
            program: program.display().to_string(),
        }
    }

    impl Planted {
        fn ran(&self) -> bool {
            self.marks.join("ran").exists()
        }

        /// Attack (a): a nested repository with its own filter on a file it tracks,
        /// that file's stat made stale so a status must run the filter to compare, and
        /// the nested repository staged as a gitlink in the worktree's index, as the
        /// agent's own git can.
        fn nested_repository(&self) {
            let sub = self.worktree.path.join("sub");
            std::fs::create_dir(&sub).unwrap();
            plain(&sub, &["init", "-q"]);
            plain(&sub, &["config", "filter.x.clean", &self.program]);
            std::fs::write(sub.join(".gitattributes"), "* filter=x\n").unwrap();
            std::fs::write(sub.join("f"), "data\n").unwrap();
            plain(&sub, &["add", "-A"]);
            plain(&sub, &["commit", "-qm", "nested"]);
            std::fs::remove_file(self.marks.join("ran")).unwrap();
            stale(&sub.join("f"));
            plain(&self.worktree.path, &["add", "sub"]);
        }

        /// Attack (b): the worktree's `.git` rewritten to a git directory built in its
        /// (writable) admin directory, whose config has a filter named `a=b` on a
        /// tracked file with a stale stat.
        fn planted_git_dir(&self) {
            let admin = self.repo.root().join(".git/worktrees/T-1");
            let fake = admin.join("evil");
            plain(
                self.repo.root(),
                &["init", "-q", "--bare", &fake.to_string_lossy()],
            );
            plain(&fake, &["config", "core.bare", "false"]);
            plain(&fake, &["config", "filter.a=b.clean", &self.program]);
            let wt = &self.worktree.path;
            std::fs::write(wt.join(".gitattributes"), "* filter=a=b\n").unwrap();
            std::fs::write(wt.join(".git"), format!("gitdir: {}\n", fake.display())).unwrap();
            plain(wt, &["add", "README.md", ".gitattributes"]);
            std::fs::remove_file(self.marks.join("ran")).unwrap();
            stale(&wt.join("README.md"));
        }
    }

    /// Moves the file's mtime, so git must read (and filter) it to compare.
    fn stale(path: &Path) {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
        file.set_modified(later).unwrap();
    }

    #[test]
    fn the_planted_programs_do_run_under_a_plain_status() {
        // The attacks are live: git as the harness ran it before (`-C <worktree>`,
        // trusting the worktree's own `.git`) starts them.
        let p = planted();
        p.nested_repository();
        plain(&p.worktree.path, &["status", "--porcelain"]);
        assert!(p.ran(), "the nested repository's filter did not run");
        let p = planted();
        p.planted_git_dir();
        plain(&p.worktree.path, &["status", "--porcelain"]);
        assert!(p.ran(), "the planted git directory's filter did not run");
    }

    #[test]
    fn no_status_of_the_harness_enters_a_nested_repository() {
        let p = planted();
        p.nested_repository();
        let leftovers = p.repo.leftover_worktrees("main").unwrap();
        assert_eq!(leftovers[0].uncommitted, ["sub"]);
        let err = p
            .repo
            .remove_worktree(&p.worktree.path, false, BranchCleanup::Keep)
            .unwrap_err();
        assert!(matches!(err, GitError::Dirty { .. }), "{err}");
        assert!(!p.ran(), "a status entered the nested repository");
    }

    #[test]
    fn a_nested_repository_is_never_committed_and_the_worktree_is_set_aside() {
        let p = planted();
        p.nested_repository();
        let err = p
            .repo
            .commit_attempt(&p.worktree, "work", &Author::default())
            .unwrap_err();
        assert!(
            matches!(&err, GitError::NestedRepository { paths } if paths == &["sub"]),
            "{err}"
        );
        assert!(err.to_string().contains("nested git repositories"), "{err}");
        // An untracked nested repository that `add -A` would stage is refused too.
        assert!(!p.ran(), "the nested repository's filter ran");
        // (`git rm` would look inside the nested repository itself.)
        plain(&p.worktree.path, &["update-index", "--force-remove", "sub"]);
        let err = p
            .repo
            .commit_attempt(&p.worktree, "work", &Author::default())
            .unwrap_err();
        assert!(matches!(err, GitError::NestedRepository { .. }), "{err}");
        // The next attempt sets the worktree aside: its files kept, renamed, untouched.
        let err = p
            .repo
            .set_aside_worktree(&p.worktree.path, "T-1", &Author::default())
            .unwrap_err();
        let GitError::SetAside { to, .. } = &err else {
            panic!("{err}");
        };
        assert!(to.join("sub/f").exists(), "{err}");
        assert!(!p.worktree.path.exists());
        assert!(!p.ran(), "the nested repository's filter ran");
        // The task's path is free again for a fresh worktree.
        p.repo
            .create_worktree("T-1", "main", &p.worktree.path)
            .unwrap();
    }

    #[test]
    fn a_rewritten_dot_git_is_never_followed() {
        let p = planted();
        p.planted_git_dir();
        let leftovers = p.repo.leftover_worktrees("main").unwrap();
        assert!(!leftovers[0].not_ours);
        // The harness's records do not know `.gitattributes`: it is new to them.
        assert_eq!(leftovers[0].uncommitted, [".gitattributes"]);
        let err = p
            .repo
            .remove_worktree(&p.worktree.path, false, BranchCleanup::Keep)
            .unwrap_err();
        assert!(matches!(err, GitError::Dirty { .. }), "{err}");
        p.repo
            .commit_attempt(&p.worktree, "work", &Author::default())
            .unwrap();
        // Git itself refuses to remove a worktree whose `.git` does not point back:
        // it is set aside, its work kept on a branch.
        let err = p
            .repo
            .set_aside_worktree(&p.worktree.path, "T-1", &Author::default())
            .unwrap_err();
        assert!(matches!(err, GitError::SetAside { .. }), "{err}");
        assert!(
            err.to_string().contains("kept on harness/T-1-kept-"),
            "{err}"
        );
        assert!(!p.ran(), "the planted git directory's filter ran");
    }

    #[test]
    fn a_worktree_the_records_do_not_name_gets_no_git() {
        let p = planted();
        p.nested_repository();
        // The admin directory now names the nested repository as the worktree: git
        // lists `<worktree>/sub` as the task's worktree, which the records do not name.
        let admin = p.repo.root().join(".git/worktrees/T-1");
        let nested = p.worktree.path.join("sub");
        std::fs::write(admin.join("gitdir"), format!("{}/.git\n", nested.display())).unwrap();
        let leftovers = p.repo.leftover_worktrees("main").unwrap();
        assert_eq!(leftovers[0].path, nested);
        assert!(leftovers[0].not_ours && leftovers[0].holds_work());
        assert!(leftovers[0].uncommitted.is_empty());
        let err = p
            .repo
            .remove_worktree(&p.worktree.path, false, BranchCleanup::Keep)
            .unwrap_err();
        let GitError::SetAside { to, reason, .. } = &err else {
            panic!("{err}");
        };
        assert!(reason.contains("not what the harness recorded"), "{err}");
        assert!(to.join("sub/f").exists() && !p.worktree.path.exists());
        assert!(!p.ran(), "the nested repository's filter ran");
    }

    #[test]
    fn a_moved_head_sets_the_worktree_aside_and_keeps_the_branch() {
        let p = planted();
        std::fs::write(p.worktree.path.join("wip.txt"), "work\n").unwrap();
        p.repo
            .commit_attempt(&p.worktree, "work", &Author::default())
            .unwrap();
        let admin = p.repo.root().join(".git/worktrees/T-1");
        std::fs::write(admin.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        let err = p
            .repo
            .set_aside_worktree(&p.worktree.path, "T-1", &Author::default())
            .unwrap_err();
        assert!(matches!(err, GitError::SetAside { .. }), "{err}");
        assert!(
            err.to_string().contains("kept on harness/T-1-kept-"),
            "{err}"
        );
        // `main` was not renamed or committed to.
        assert_eq!(
            plain(p.repo.root(), &["log", "--format=%s", "main"]),
            "base"
        );
    }

    #[test]
    fn a_gitlink_already_committed_is_never_entered_by_add() {
        let p = planted();
        // The branch has a gitlink `sub` (a submodule of the base, say); the agent
        // fills its directory with a repository of its own, with a filter.
        p.nested_repository();
        plain(
            &p.worktree.path,
            &["commit", "-qm", "a submodule, committed before the attempt"],
        );
        std::fs::remove_file(p.marks.join("ran")).ok();
        stale(&p.worktree.path.join("sub/f"));
        std::fs::write(p.worktree.path.join("work.txt"), "work\n").unwrap();
        let sha = p
            .repo
            .commit_attempt(&p.worktree, "work", &Author::default())
            .unwrap();
        assert!(sha.is_some());
        assert!(!p.ran(), "add entered the nested repository");
        let files = plain(
            p.repo.root(),
            &["show", "--name-only", "--format=", "harness/T-1"],
        );
        assert_eq!(files, "work.txt");
    }
}
