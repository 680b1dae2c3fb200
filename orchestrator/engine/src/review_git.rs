//! What a person reviews, read from the workspace's object database: the diff of a
//! task's branch against its base, and the text of the lines a comment is on. Every
//! command goes through [`safe_git`] in the workspace (never in the agent's worktree),
//! with no external diff or text conversion, so nothing the agent wrote runs.

use std::process::Output;

use harness_domain::review::{TaskDiff, diff_files, lines_of, patch_sections};

use super::{
    git::{GitError, Repo},
    safe_git,
};

/// Changed lines past which the patches are left out and only the files are listed.
pub(crate) const MAX_DIFF_LINES: u32 = 200_000;
/// Bytes of patch text served for one diff; the file being cut says so.
pub(crate) const MAX_DIFF_BYTES: usize = 16 * 1024 * 1024;
/// Largest file read to check a comment's lines.
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

impl Repo {
    /// The diff of `refs/heads/<branch>` against where it left `base`, file by file.
    pub fn task_diff(&self, base: &str, branch: &str) -> Result<TaskDiff, GitError> {
        let head = self.commit_of(&format!("refs/heads/{branch}"))?;
        let base_commit = self.run_text(&["merge-base", &format!("refs/heads/{base}"), &head])?;
        let range = [base_commit.as_str(), head.as_str()];
        let flags = [
            "--no-ext-diff",
            "--no-textconv",
            "--no-color",
            "-M",
            "--ignore-submodules=all",
        ];
        let numstat =
            self.run_bytes(&[&["diff", "--numstat", "-z"][..], &flags, &range].concat())?;
        let names =
            self.run_bytes(&[&["diff", "--name-status", "-z"][..], &flags, &range].concat())?;
        let mut files = diff_files(&numstat, &names);
        let lines: u64 = files
            .iter()
            .map(|f| u64::from(f.additions) + u64::from(f.deletions))
            .sum();
        let mut truncated = lines > u64::from(MAX_DIFF_LINES);
        if !truncated {
            let args = [
                &["diff", "--patch", "--src-prefix=a/", "--dst-prefix=b/"][..],
                &flags,
                &range,
            ]
            .concat();
            let patch = String::from_utf8_lossy(&self.run_bytes(&args)?).into_owned();
            let mut left = MAX_DIFF_BYTES;
            for (file, section) in files.iter_mut().zip(patch_sections(&patch)) {
                if section.len() > left {
                    truncated = true;
                    break;
                }
                left -= section.len();
                file.patch = section.to_owned();
            }
        }
        Ok(TaskDiff {
            base: base.to_owned(),
            base_commit,
            head_commit: head,
            branch: branch.to_owned(),
            files,
            truncated,
        })
    }

    /// Lines `start..=end` of `path` at `commit`; `None` when the file does not exist
    /// there or is shorter, or is too large to read for a comment.
    pub fn lines_at(
        &self,
        commit: &str,
        path: &str,
        start: u32,
        end: u32,
    ) -> Result<Option<String>, GitError> {
        let object = format!("{commit}:{path}");
        let size = self.raw(&["cat-file", "-s", &object])?;
        if !size.status.success() {
            return Ok(None);
        }
        let bytes: u64 = String::from_utf8_lossy(&size.stdout)
            .trim()
            .parse()
            .unwrap_or(u64::MAX);
        if bytes > MAX_FILE_BYTES {
            return Ok(None);
        }
        let blob = self.run_bytes(&["cat-file", "blob", &object])?;
        Ok(lines_of(&String::from_utf8_lossy(&blob), start, end))
    }

    /// The URL of the remote `name`, from the workspace's own configuration.
    pub fn remote_url(&self, name: &str) -> Result<String, GitError> {
        self.run_text(&["remote", "get-url", name])
    }

    /// Pushes the harness's branch `refs/heads/<branch>` to `url` over HTTP(S),
    /// replacing what is there (the branch is the harness's own). `authorization` is the
    /// header line sent with it (`Authorization: Basic …`): it travels in the
    /// environment, never in an argument list, and git does not print it.
    pub fn push_branch(
        &self,
        url: &str,
        branch: &str,
        authorization: &str,
    ) -> Result<(), GitError> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(GitError::Command {
                args: "push".into(),
                message: format!(
                    "the harness pushes over HTTPS with the forge token; '{url}' is not an http(s) URL"
                ),
            });
        }
        let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
        let out = over_http(self, &["push", "--porcelain", url, &refspec], authorization)?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        // `--porcelain` says per ref why the remote refused it (`!  … [remote rejected] …`).
        let refused = stdout
            .lines()
            .find(|l| l.starts_with('!'))
            .map(str::to_owned)
            .unwrap_or_default();
        Err(GitError::Command {
            args: format!("push {branch}"),
            message: format!("{} {}", stderr.trim(), refused.trim())
                .trim()
                .to_owned(),
        })
    }

    /// Fetches `branch` of the repository at `url` into `refs/harness/forge/<branch>`
    /// (a ref of the harness's own, never a branch of the person's) and returns its
    /// commit. Only objects are written; nothing is checked out.
    pub fn fetch_branch(
        &self,
        url: &str,
        branch: &str,
        authorization: &str,
    ) -> Result<String, GitError> {
        let local = format!("refs/harness/forge/{branch}");
        let refspec = format!("+refs/heads/{branch}:{local}");
        let args = [
            "fetch",
            "--no-tags",
            "--no-write-fetch-head",
            "-q",
            url,
            &refspec,
        ];
        let out = over_http(self, &args, authorization)?;
        if !out.status.success() {
            return Err(GitError::Command {
                args: format!("fetch {branch}"),
                message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        self.commit_of(&local)
    }

    /// The commit `rev` names, or [`GitError::Command`] when it names none.
    pub fn commit_of(&self, rev: &str) -> Result<String, GitError> {
        self.run_text(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])
    }

    fn raw(&self, args: &[&str]) -> Result<Output, GitError> {
        Ok(safe_git::run(self.root(), args, &[])?)
    }

    fn run_bytes(&self, args: &[&str]) -> Result<Vec<u8>, GitError> {
        let out = self.raw(args)?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(GitError::Command {
                args: args.join(" "),
                message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    }

    fn run_text(&self, args: &[&str]) -> Result<String, GitError> {
        let out = self.run_bytes(args)?;
        Ok(String::from_utf8_lossy(&out).trim().to_owned())
    }
}

/// Runs `git args…` in the workspace over http(s) (which the safe settings otherwise
/// refuse), with `authorization` as the request header: in the environment, never in an
/// argument list.
fn over_http(repo: &Repo, args: &[&str], authorization: &str) -> Result<Output, GitError> {
    let mut all = vec![
        "-c",
        "protocol.http.allow=always",
        "-c",
        "protocol.https.allow=always",
    ];
    all.extend_from_slice(args);
    let env = [
        ("GIT_CONFIG_COUNT", "1"),
        ("GIT_CONFIG_KEY_0", "http.extraHeader"),
        ("GIT_CONFIG_VALUE_0", authorization),
    ];
    Ok(safe_git::run(repo.root(), &all, &env)?)
}
