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
    git::{Author, GITLINK_MODE, GitError, raw_changes},
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
    /// What the attempt adds holds content the settings refuse (see [`ContentRules`]).
    #[error("the work is not landed: {}", refused.join("; "))]
    ContentRefused { refused: Vec<String> },
}

/// What an attempt's work may add, checked before it lands: a nested repository
/// (gitlink) never; a symlink that is absolute or leads outside the repository only
/// with `HARNESS_LAND_ALLOW_OUTSIDE_SYMLINKS`; a file no larger than
/// `HARNESS_LAND_MAX_FILE_MB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRules {
    /// The largest file that lands, in bytes; `None`: no cap.
    pub max_file_bytes: Option<u64>,
    pub allow_outside_symlinks: bool,
}

impl Default for ContentRules {
    fn default() -> Self {
        Self {
            max_file_bytes: Some(DEFAULT_MAX_FILE_MB << 20),
            allow_outside_symlinks: false,
        }
    }
}

/// `HARNESS_LAND_MAX_FILE_MB` when unset.
pub const DEFAULT_MAX_FILE_MB: u64 = 50;

/// Refusals listed in one error at most; the rest are counted.
const MAX_LISTED: usize = 20;

/// Longest symlink target Linux follows (`PATH_MAX`); a longer one is refused.
const MAX_LINK_TARGET: u64 = 4096;

/// Where a symlink's target leads, judged from the text alone.
fn symlink_refusal(link: &str, target: &[u8]) -> Option<&'static str> {
    if target.contains(&0) {
        return Some("is not a valid symlink target");
    }
    if target.first() == Some(&b'/') {
        return Some("is absolute");
    }
    // The link's directory is a real directory of the tree (a tree never holds a path
    // below one of its own symlinks), `depth` levels below the repository's root.
    let depth = link.matches('/').count();
    let mut climbs = 0usize;
    let mut descended = false;
    for part in target.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." if descended => {
                // `dir/..` is `dir`'s parent only when `dir` is no symlink: a target of
                // this shape cannot be judged without resolving the tree, so it is not
                // landed (`a -> .` then `b -> a/../x` would leave the repository).
                return Some("climbs (`..`) after naming a directory");
            }
            b".." => climbs += 1,
            name if name.eq_ignore_ascii_case(b".git") => {
                return Some("leads into git's own data (.git)");
            }
            _ => descended = true,
        }
    }
    (climbs > depth).then_some("leads outside the repository")
}

/// One `cat-file --batch-check` answer: `<oid> <type> <size>`, or `<oid> missing`.
fn batch_sizes(out: &str) -> std::collections::HashMap<String, u64> {
    out.lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let (oid, _kind, size) = (parts.next()?, parts.next()?, parts.next()?);
            Some((oid.to_owned(), size.parse().ok()?))
        })
        .collect()
}

/// The contents of `cat-file --batch` answers: `<oid> <type> <size>\n<content>\n` each.
fn batch_contents(mut out: &[u8]) -> std::collections::HashMap<String, Vec<u8>> {
    let mut found = std::collections::HashMap::new();
    while let Some(end) = out.iter().position(|b| *b == b'\n') {
        let header = String::from_utf8_lossy(&out[..end]).into_owned();
        out = &out[end + 1..];
        let mut parts = header.split(' ');
        let (Some(oid), Some(_kind), Some(size)) = (parts.next(), parts.next(), parts.next())
        else {
            // `<oid> missing`: nothing follows it.
            continue;
        };
        let Some(size) = size.parse::<usize>().ok().filter(|n| *n < out.len()) else {
            break;
        };
        found.insert(oid.to_owned(), out[..size].to_vec());
        out = &out[size + 1..];
    }
    found
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
        let unmerged = [
            "diff",
            "--name-only",
            "--diff-filter=U",
            "--ignore-submodules=all",
        ];
        let conflicted = self.ok_in(worktree, &unmerged, None)?;
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

    /// Refuses what `head` adds relative to `base` (both commits of the repository at
    /// `repo`) that `rules` do not allow: every refused path with why, in one error.
    /// Only git's records are read (`diff --raw` between the two commits, the objects'
    /// sizes and symlink targets from `cat-file`): no worktree, no filter.
    pub fn check_content(
        &self,
        repo: &Path,
        base: &str,
        head: &str,
        rules: &ContentRules,
    ) -> Result<(), LandingError> {
        let diff = [
            "diff-tree",
            "-r",
            "-z",
            "--raw",
            "--no-renames",
            "--no-abbrev",
            base,
            head,
        ];
        let ran = self.run(repo, &diff, None)?;
        if !ran.ok {
            return Err(LandingError::Command {
                args: diff.join(" "),
                message: ran.stderr,
            });
        }
        let changes =
            raw_changes(ran.stdout.as_bytes()).map_err(|message| LandingError::Command {
                args: diff.join(" "),
                message,
            })?;
        let added: Vec<_> = changes.into_iter().filter(|c| c.status != 'D').collect();
        let mut refused = Vec::new();
        let mut blobs = Vec::new();
        for change in &added {
            match change.new_mode.as_str() {
                GITLINK_MODE => refused.push(format!(
                    "{} is a nested git repository (gitlink)",
                    change.path
                )),
                "120000" if rules.allow_outside_symlinks => {}
                "120000" => blobs.push(change),
                "100644" | "100755" if rules.max_file_bytes.is_some() => blobs.push(change),
                _ => {}
            }
        }
        if !blobs.is_empty() {
            let sizes = self.object_sizes(repo, &blobs)?;
            let links: Vec<_> = blobs
                .iter()
                .filter(|c| c.new_mode == "120000")
                .filter(|c| sizes.get(&c.new_oid).is_some_and(|n| *n <= MAX_LINK_TARGET))
                .collect();
            let targets = self.object_contents(repo, &links)?;
            for change in blobs {
                let size = sizes.get(&change.new_oid).copied().unwrap_or(0);
                if change.new_mode == "120000" {
                    let why = match targets.get(&change.new_oid) {
                        Some(target) => symlink_refusal(&change.path, target),
                        None => Some("is not a valid symlink target"),
                    };
                    if let Some(why) = why {
                        let target = targets
                            .get(&change.new_oid)
                            .map(|t| String::from_utf8_lossy(t).into_owned())
                            .unwrap_or_else(|| format!("({size} bytes)"));
                        refused.push(format!(
                            "{} is a symlink to {target}, which {why} \
                             (HARNESS_LAND_ALLOW_OUTSIDE_SYMLINKS=true allows it)",
                            change.path
                        ));
                    }
                } else if let Some(max) = rules.max_file_bytes.filter(|max| size > *max) {
                    refused.push(format!(
                        "{} is {size} bytes, over HARNESS_LAND_MAX_FILE_MB={} ({max} bytes)",
                        change.path,
                        max >> 20
                    ));
                }
            }
        }
        if refused.is_empty() {
            return Ok(());
        }
        if refused.len() > MAX_LISTED {
            let more = refused.len() - MAX_LISTED;
            refused.truncate(MAX_LISTED);
            refused.push(format!("and {more} more"));
        }
        Err(LandingError::ContentRefused { refused })
    }

    /// The size of each changed object, by id (`cat-file --batch-check`).
    fn object_sizes(
        &self,
        repo: &Path,
        changes: &[&super::git::RawChange],
    ) -> Result<std::collections::HashMap<String, u64>, LandingError> {
        let args = ["cat-file", "--batch-check"];
        let out = self.fed(repo, &args, changes)?;
        Ok(batch_sizes(&String::from_utf8_lossy(&out)))
    }

    /// The content of each object, by id (`cat-file --batch`); for symlink targets,
    /// each at most [`MAX_LINK_TARGET`] bytes (the caller checked).
    fn object_contents(
        &self,
        repo: &Path,
        changes: &[&&super::git::RawChange],
    ) -> Result<std::collections::HashMap<String, Vec<u8>>, LandingError> {
        if changes.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        let changes: Vec<&super::git::RawChange> = changes.iter().map(|c| **c).collect();
        let args = ["cat-file", "--batch"];
        let out = self.fed(repo, &args, &changes)?;
        Ok(batch_contents(&out))
    }

    /// Runs `args` with the changes' object ids on its input, one a line.
    fn fed(
        &self,
        repo: &Path,
        args: &[&str],
        changes: &[&super::git::RawChange],
    ) -> Result<Vec<u8>, LandingError> {
        let input: String = changes.iter().map(|c| format!("{}\n", c.new_oid)).collect();
        let out = safe_git::run_with_input(repo, args, &[], input.into_bytes(), self.timeout)?;
        if !out.status.success() {
            return Err(LandingError::Command {
                args: args.join(" "),
                message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(out.stdout)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_are_judged_from_their_place_in_the_tree() {
        let refused = |link: &str, target: &str| symlink_refusal(link, target.as_bytes());
        assert_eq!(refused("a", "b"), None);
        assert_eq!(refused("dir/a", "../b"), None);
        assert_eq!(refused("dir/sub/a", "../../b/c"), None);
        assert_eq!(refused("a", "./b/./c"), None);
        assert_eq!(refused("a", "/etc/passwd"), Some("is absolute"));
        assert_eq!(refused("a", ".."), Some("leads outside the repository"));
        assert_eq!(
            refused("dir/a", "../../x"),
            Some("leads outside the repository")
        );
        assert_eq!(
            refused("a", "b/../../x"),
            Some("climbs (`..`) after naming a directory")
        );
        assert_eq!(
            refused("a", "d/../etc"),
            Some("climbs (`..`) after naming a directory")
        );
        assert_eq!(
            refused("a", ".git/config"),
            Some("leads into git's own data (.git)")
        );
        assert_eq!(
            refused("a", "x/.GIT"),
            Some("leads into git's own data (.git)")
        );
        assert_eq!(
            symlink_refusal("a", b"b\0/etc"),
            Some("is not a valid symlink target")
        );
    }

    #[test]
    fn batch_answers_are_parsed() {
        let sizes = batch_sizes("aaa blob 12\nbbb missing\nccc blob 3\n");
        assert_eq!(sizes.get("aaa"), Some(&12));
        assert_eq!(sizes.get("ccc"), Some(&3));
        assert_eq!(sizes.get("bbb"), None);
        let contents = batch_contents(b"aaa blob 3\nx\ny\nbbb missing\nccc blob 0\n\n");
        assert_eq!(contents.get("aaa").map(Vec::as_slice), Some(&b"x\ny"[..]));
        assert_eq!(contents.get("ccc").map(Vec::as_slice), Some(&b""[..]));
        // A truncated answer stops the parse, never reads past the end.
        assert!(batch_contents(b"aaa blob 99\nshort\n").is_empty());
    }

    use crate::test_support::plain_git as git;

    /// A repository whose `main` has `inside -> README.md` and a 1000-byte file, and a
    /// commit on top adding what the agent's work adds here.
    fn repo_with_work() -> (tempfile::TempDir, PathBuf, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("README.md"), "hello\n").unwrap();
        // Already on the base: never judged again.
        std::os::unix::fs::symlink("/usr/share", repo.join("old-absolute")).unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-qm", "base"]);
        let base = git(&repo, &["rev-parse", "HEAD"]);
        std::fs::create_dir(repo.join("dir")).unwrap();
        std::os::unix::fs::symlink("../README.md", repo.join("dir/inside")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", repo.join("passwd")).unwrap();
        std::os::unix::fs::symlink("../../outside", repo.join("dir/up")).unwrap();
        std::fs::write(repo.join("big.bin"), vec![7u8; 3 << 20]).unwrap();
        std::fs::write(repo.join("small.txt"), "small\n").unwrap();
        git(&repo, &["add", "-A"]);
        let sha = git(&repo, &["rev-parse", "HEAD"]);
        // A gitlink, staged the way an agent's own git can without writing an object.
        git(
            &repo,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("160000,{sha},nested"),
            ],
        );

        git(&repo, &["commit", "-qm", "work"]);
        let head = git(&repo, &["rev-parse", "HEAD"]);
        (dir, repo, base, head)
    }

    #[test]
    fn outside_symlinks_big_files_and_gitlinks_are_refused_with_their_paths() {
        let (_dir, repo, base, head) = repo_with_work();
        let landing = LandingGit {
            timeout: Duration::from_secs(60),
        };
        let rules = ContentRules {
            max_file_bytes: Some(2 << 20),
            allow_outside_symlinks: false,
        };
        let err = landing
            .check_content(&repo, &base, &head, &rules)
            .unwrap_err();
        let LandingError::ContentRefused { refused } = &err else {
            panic!("{err}");
        };
        let text = err.to_string();
        assert_eq!(refused.len(), 4, "{text}");
        assert!(
            text.contains("passwd is a symlink to /etc/passwd, which is absolute"),
            "{text}"
        );
        assert!(
            text.contains("dir/up is a symlink to ../../outside, which leads outside"),
            "{text}"
        );
        assert!(
            text.contains("big.bin is 3145728 bytes, over HARNESS_LAND_MAX_FILE_MB=2"),
            "{text}"
        );
        assert!(text.contains("nested is a nested git repository"), "{text}");
        assert!(
            !text.contains("inside") && !text.contains("small") && !text.contains("old-absolute"),
            "{text}"
        );

        // The settings allow the symlinks and lift the cap; a gitlink stays refused.
        let open = ContentRules {
            max_file_bytes: None,
            allow_outside_symlinks: true,
        };
        let err = landing
            .check_content(&repo, &base, &head, &open)
            .unwrap_err();
        assert!(
            matches!(&err, LandingError::ContentRefused { refused } if refused.len() == 1),
            "{err}"
        );
        // Nothing added: nothing refused.
        landing
            .check_content(&repo, &base, &base, &ContentRules::default())
            .unwrap();
    }
}
