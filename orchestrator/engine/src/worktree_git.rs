//! Where a linked worktree's git data is, found from the harness's own records.
//!
//! An agent can rewrite its worktree's `.git` file and its admin directory's `commondir`
//! and `HEAD`. The sandbox (what the agent's own git may reach) and the harness's git in
//! the worktree (commit, merge) therefore never follow those files: both locate the
//! repository from the configured workspace and the worktree path the harness chose,
//! and the harness hands that to git explicitly (`GIT_DIR`, `GIT_COMMON_DIR`,
//! `GIT_WORK_TREE`).

use std::path::{Path, PathBuf};

/// The git data of a linked worktree the harness created, found from the harness's own
/// records only: the workspace it was configured with and the worktree path it chose.
/// It decides what an agent's sandbox may reach, and where the harness's own git commits
/// and merges in that worktree.
///
/// Nothing the agent can write is read to decide what to grant: the worktree's `.git`
/// file and its admin directory's `commondir` and `HEAD` are the agent's to change, and
/// an agent that points them elsewhere (`gitdir: fake`, `commondir` = `/`) must not be
/// handed that elsewhere on its next command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorktreeGit {
    /// The repository's shared `.git`: readable, never writable (config, hooks, refs,
    /// objects).
    pub common: PathBuf,
    /// `.git/worktrees/<name>`: this worktree's HEAD, index and logs, the one place the
    /// agent's own `git` writes.
    pub admin: PathBuf,
    /// The worktree itself (canonical).
    pub worktree: PathBuf,
}

impl WorktreeGit {
    /// `None` when `worktree` is not a linked worktree of `workspace`'s repository as git
    /// registered it; the agent then gets no git data at all (its `git` fails, the
    /// harness's own git, outside the sandbox, still works).
    pub fn of(workspace: &Path, worktree: &Path) -> Option<Self> {
        let common = common_dir(workspace)?;
        let worktree = worktree.canonicalize().ok()?;
        let name = worktree.file_name()?.to_str()?;
        let admin = registered_admin(&common.join("worktrees"), name, &worktree)?;
        // Passed to git as environment: a path that is not UTF-8 gets no git data.
        [&common, &admin, &worktree]
            .iter()
            .all(|p| p.to_str().is_some())
            .then_some(Self {
                common,
                admin,
                worktree,
            })
    }

    /// The environment that makes git use exactly this data, whatever the worktree's
    /// `.git` file or the admin directory's `commondir` say.
    pub fn env(&self) -> [(&'static str, &str); 3] {
        fn text(p: &Path) -> &str {
            p.to_str().unwrap_or_default()
        }
        [
            ("GIT_DIR", text(&self.admin)),
            ("GIT_COMMON_DIR", text(&self.common)),
            ("GIT_WORK_TREE", text(&self.worktree)),
        ]
    }
}

/// The repository's shared git directory for `workspace` (or the nearest directory above
/// it holding `.git`). The workspace is the person's checkout, outside every worktree,
/// so its `.git` (and, when the workspace is itself a linked worktree, that worktree's
/// `commondir`) is out of every agent's reach.
fn common_dir(workspace: &Path) -> Option<PathBuf> {
    let workspace = workspace.canonicalize().ok()?;
    let dot_git = workspace
        .ancestors()
        .map(|dir| dir.join(".git"))
        .find(|p| std::fs::symlink_metadata(p).is_ok())?;
    if std::fs::symlink_metadata(&dot_git).ok()?.is_dir() {
        return Some(dot_git);
    }
    let text = std::fs::read_to_string(&dot_git).ok()?;
    let base = dot_git.parent()?;
    let admin = base
        .join(text.trim().strip_prefix("gitdir:")?.trim())
        .canonicalize()
        .ok()?;
    match std::fs::read_to_string(admin.join("commondir")) {
        Ok(rel) => admin.join(rel.trim()).canonicalize().ok(),
        // A `.git` file without `commondir`: a submodule's own git directory.
        Err(_) => Some(admin),
    }
}

/// The admin directory git made for `worktree` under `worktrees` (the shared `.git`'s
/// `worktrees/`, which no agent can write): `<name>`, or `<name><n>` when git had to
/// pick another name, and only a real directory whose `gitdir` names this worktree.
fn registered_admin(worktrees: &Path, name: &str, worktree: &Path) -> Option<PathBuf> {
    let names_this_worktree = |admin: &Path| -> bool {
        let is_dir = std::fs::symlink_metadata(admin).is_ok_and(|m| m.is_dir());
        let Ok(text) = std::fs::read_to_string(admin.join("gitdir")) else {
            return false;
        };
        // `gitdir` is `<worktree>/.git`, absolute or (worktree.useRelativePaths)
        // relative to the admin directory.
        let recorded = admin.join(text.trim());
        let parent = recorded.parent().and_then(|p| p.canonicalize().ok());
        is_dir
            && recorded.file_name() == Some(".git".as_ref())
            && parent.as_deref() == Some(worktree)
    };
    let exact = worktrees.join(name);
    if names_this_worktree(&exact) {
        return Some(exact);
    }
    let mut renamed: Vec<PathBuf> = std::fs::read_dir(worktrees)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| {
            let entry_name = entry.file_name();
            let entry_name = entry_name.to_string_lossy();
            entry_name.strip_prefix(name).is_some_and(|suffix| {
                !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit())
            })
        })
        .map(|entry| entry.path())
        .filter(|admin| names_this_worktree(admin))
        .collect();
    renamed.sort();
    renamed.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::plain_git as git;

    /// A repository `repo` with a linked worktree `worktrees/T-1`.
    fn repo_with_worktree() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let repo = root.join("repo");
        std::fs::create_dir(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["commit", "-q", "--allow-empty", "-m", "x"]);
        let worktree = root.join("worktrees/T-1");
        git(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "harness/T-1",
                &worktree.to_string_lossy(),
            ],
        );
        (dir, repo, worktree)
    }

    #[test]
    fn the_git_data_comes_from_the_workspace_not_from_the_worktrees_own_files() {
        let (_dir, repo, worktree) = repo_with_worktree();
        let found = WorktreeGit::of(&repo, &worktree).unwrap();
        assert_eq!(found.common, repo.join(".git"));
        assert_eq!(found.admin, repo.join(".git/worktrees/T-1"));
        assert_eq!(found.worktree, worktree);
        // The agent rewrites its `.git` and plants a `commondir` pointing at `/`.
        std::fs::create_dir(worktree.join("fake")).unwrap();
        std::fs::write(worktree.join(".git"), "gitdir: fake\n").unwrap();
        std::fs::write(worktree.join("fake/commondir"), "/\n").unwrap();
        std::fs::write(repo.join(".git/worktrees/T-1/commondir"), "/\n").unwrap();
        let planted = WorktreeGit::of(&repo, &worktree).unwrap();
        assert_eq!(planted.common, repo.join(".git"));
        assert_eq!(planted.admin, repo.join(".git/worktrees/T-1"));
    }

    #[test]
    fn a_directory_git_did_not_register_gets_no_git_data() {
        let (dir, repo, _worktree) = repo_with_worktree();
        let stranger = dir.path().join("worktrees/T-2");
        std::fs::create_dir_all(&stranger).unwrap();
        std::fs::write(
            stranger.join(".git"),
            "gitdir: ../../repo/.git/worktrees/T-1\n",
        )
        .unwrap();
        assert_eq!(WorktreeGit::of(&repo, &stranger), None);
        // A second worktree named `T-1` elsewhere: git names its admin directory
        // `T-1<n>`, and `T-1`'s admin (which names the first worktree) is not granted.
        let other = dir.path().join("elsewhere/T-1");
        git(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "harness/x",
                &other.to_string_lossy(),
            ],
        );
        let data = WorktreeGit::of(&repo, &other).unwrap();
        assert_eq!(
            data.admin.parent(),
            Some(repo.join(".git/worktrees").as_path())
        );
        assert_ne!(data.admin, repo.join(".git/worktrees/T-1"));
    }
}
