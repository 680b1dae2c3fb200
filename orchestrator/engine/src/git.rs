//! Git worktrees for agent attempts, through the git CLI (`git -C …`).
//!
//! Each attempt works on branch `harness/<display_id>` in its own worktree; landing it
//! on the base is `landing.rs`'s job. Worktrees with uncommitted work are reported,
//! never removed silently.
//!
//! Every command runs through [`super::safe_git`], so nothing the repository carries
//! (hooks, fsmonitor, filters) runs. All functions block; call them from `spawn_blocking`.

use std::{
    path::{Path, PathBuf},
    process::Output,
};

use super::{
    safe_git::{self, SafeGitError},
    worktree_git::WorktreeGit,
};

/// Prefix of every branch the harness creates.
pub const BRANCH_PREFIX: &str = "harness/";

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
}

impl LeftoverWorktree {
    /// True when removing it (and its branch) would lose work.
    pub fn holds_work(&self) -> bool {
        !self.uncommitted.is_empty() || self.unmerged_commits > 0
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
    /// the caller forces it.
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
        if path.exists() && !discard {
            let files = uncommitted(path)?;
            if !files.is_empty() {
                return Err(GitError::Dirty {
                    path: path.to_path_buf(),
                    files,
                });
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
            let uncommitted = if missing {
                Vec::new()
            } else {
                uncommitted(&w.path)?
            };
            let unmerged_commits = self.unmerged_commits(branch, base)?;
            out.push(LeftoverWorktree {
                path: w.path.clone(),
                branch: branch.to_owned(),
                uncommitted,
                missing,
                unmerged_commits,
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
    pub fn set_aside_worktree(
        &self,
        path: &Path,
        display_id: &str,
        author: &Author,
    ) -> Result<Option<String>, GitError> {
        let keep_as = kept_branch_name(display_id, chrono::Utc::now());
        let branch = git(path, &["symbolic-ref", "--short", "HEAD"], None)?;
        let dirty = !uncommitted(path)?.is_empty();
        if dirty {
            git(path, &["add", "-A"], None)?;
            git(
                path,
                &[
                    "-c",
                    "commit.gpgsign=false",
                    "commit",
                    "--no-verify",
                    "-q",
                    "-m",
                    "Work left in the worktree by an interrupted attempt, kept by Parent Harness",
                ],
                Some(author),
            )?;
        }
        let base_has_it = self.unmerged_commits(&branch, "HEAD").unwrap_or(1) == 0;
        let kept = if dirty || !base_has_it {
            let keep_as = self.free_branch_name(&keep_as)?;
            git(&self.root, &["branch", "-m", &branch, &keep_as], None)?;
            Some(keep_as)
        } else {
            None
        };
        git(
            &self.root,
            &["worktree", "remove", "--force", &path.to_string_lossy()],
            None,
        )?;
        Ok(kept)
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

/// Files with uncommitted changes in `worktree`, untracked ones included.
pub fn uncommitted(worktree: &Path) -> Result<Vec<String>, GitError> {
    let text = git(
        worktree,
        &["status", "--porcelain", "--untracked-files=all"],
        None,
    )?;
    Ok(porcelain_paths(&text))
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
pub fn kept_branch_name(display_id: &str, at: chrono::DateTime<chrono::Utc>) -> String {
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
    checked(run(&["add", "-A"], None)?, &["add", "-A"])?;
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
}
