//! The bare repository behind a fake forge, driven by the `git` command.
//!
//! Every call runs with a cleared environment (PATH only, a HOME of its own, no
//! system config), so neither the machine's git config nor a `GIT_DIR` of the test
//! process can reach into the fake's repository.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// The identity of the merge commits the fake makes.
const MERGER_NAME: &str = "Fake Forge";
const MERGER_EMAIL: &str = "forge@example.com";

pub(super) struct BareRepo {
    /// The directory `git http-backend` serves (`GIT_PROJECT_ROOT`).
    pub(super) root: PathBuf,
    /// `root/<owner_repo>.git`.
    pub(super) path: PathBuf,
    /// An empty HOME for every git the fake runs.
    pub(super) home: PathBuf,
}

impl BareRepo {
    /// A bare repository at `dir/projects/<owner_repo>.git` whose `base` is the seed's.
    pub(super) fn create(dir: &Path, owner_repo: &str, seed: &Path, base: &str) -> BareRepo {
        let root = dir.join("projects");
        let home = dir.join("home");
        let path = root.join(format!("{owner_repo}.git"));
        std::fs::create_dir_all(&path).expect("create the bare repository's directory");
        std::fs::create_dir_all(&home).expect("create HOME for git");
        let repo = BareRepo { root, path, home };
        repo.run(&["init", "--quiet", "--bare", "--initial-branch", base]);
        // Fetching into the bare repository (rather than pushing from the seed) keeps
        // the seed's own config and hooks out of it.
        let seed = seed.to_str().expect("a UTF-8 seed path");
        repo.run(&[
            "fetch",
            "--quiet",
            "--no-tags",
            seed,
            &format!("refs/heads/{base}:refs/heads/{base}"),
        ]);
        repo
    }

    /// `git` with the fake's environment, in the bare repository.
    pub(super) fn command(&self) -> Command {
        let mut command = Command::new("git");
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", MERGER_NAME)
            .env("GIT_AUTHOR_EMAIL", MERGER_EMAIL)
            .env("GIT_COMMITTER_NAME", MERGER_NAME)
            .env("GIT_COMMITTER_EMAIL", MERGER_EMAIL)
            .arg("--git-dir")
            .arg(&self.path);
        command
    }

    fn output(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("git runs")
    }

    /// Runs git and returns its trimmed stdout; panics with stderr when it fails.
    fn run(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The commit `branch` points at, if the branch exists.
    pub(super) fn branch_head(&self, branch: &str) -> Option<String> {
        self.resolve(&format!("refs/heads/{branch}"))
    }

    /// The commit a revision (sha, branch, ref) names, if any.
    pub(super) fn resolve(&self, rev: &str) -> Option<String> {
        let out = self.output(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Merges `head` into branch `base` with a real two-parent merge commit and moves
    /// the branch to it. `Err` when the trees conflict (nothing changes then).
    pub(super) fn merge(&self, base: &str, head: &str, message: &str) -> Result<String, String> {
        let base_sha = self
            .branch_head(base)
            .ok_or_else(|| format!("no branch {base}"))?;
        let merged = self.output(&["merge-tree", "--write-tree", &base_sha, head]);
        if !merged.status.success() {
            return Err(String::from_utf8_lossy(&merged.stdout).into_owned());
        }
        // The first line is the merged tree (the rest lists conflicts, none here).
        let tree = String::from_utf8_lossy(&merged.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        let commit = self.run(&[
            "commit-tree",
            &tree,
            "-p",
            &base_sha,
            "-p",
            head,
            "-m",
            message,
        ]);
        // Compare-and-swap: the base must still be where the merge started from.
        self.run(&[
            "update-ref",
            &format!("refs/heads/{base}"),
            &commit,
            &base_sha,
        ]);
        Ok(commit)
    }
}
