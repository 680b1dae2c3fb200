//! Forges: where verified work becomes a pull request (a merge request on GitLab) that
//! a team reviews and its CI checks. One client per forge over its REST API, on the one
//! HTTP client of the harness (`harness_base::http_client`), with the token sent as the
//! forge expects it and never logged.
//!
//! The scheduler asks a [`Forge`] five things: open a pull request (or find the one
//! already open for a branch), read its state, read the checks of a commit, read the
//! change requests since an instant, and merge it. Each forge's module maps its own
//! shapes onto the types here.

mod error;
mod gitea;
mod github;
mod gitlab;
mod http;
mod settings;
pub mod webhook;

pub use error::ForgeError;
pub use settings::{ForgeKind, ForgeSettings, RepoPath};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the harness asks for when it opens a pull request.
#[derive(Debug, Clone)]
pub struct NewPull<'a> {
    /// The branch with the verified work (`harness/T-7`), pushed to the remote.
    pub head: &'a str,
    /// The branch it is to merge into.
    pub base: &'a str,
    pub title: &'a str,
    /// Markdown: the task, its pass criteria, the verification output, the cost.
    pub body: &'a str,
}

/// A pull request as the harness follows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pull {
    /// The number people use (`#12`, GitLab's `!12`, its `iid`).
    pub number: u64,
    /// Where a person opens it.
    pub url: String,
    pub state: PullState,
    /// The commit its head branch is at, as the forge sees it.
    pub head_sha: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PullState {
    Open,
    /// Merged; `commit` is the merge (or squash) commit on the base.
    Merged {
        commit: String,
    },
    /// Closed without merging.
    Closed,
}

/// The checks of one commit, all of a forge's kinds together (GitHub's check runs and
/// commit statuses, GitLab's pipeline, Gitea's commit statuses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checks {
    /// None reported yet, or some still running.
    Pending,
    /// Every check passed (a commit with no checks configured at all is `Pending`
    /// until the forge says otherwise; see [`Checks::None`]).
    Passed,
    /// At least one failed: each with its name and what it said.
    Failed(Vec<FailedCheck>),
    /// The forge reports no check for this commit at all.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedCheck {
    pub name: String,
    /// The check's own summary or log tail, cut to a few kilobytes.
    pub output: String,
    pub url: Option<String>,
}

/// What reviewers asked for after the harness last pushed: review bodies that request
/// changes, and comments on lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Feedback {
    pub requests: Vec<ChangeRequest>,
    /// People who approved the pull request (any time).
    pub approvals: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRequest {
    pub author: String,
    pub body: String,
    /// The file and line a comment is on; `None` for a review's overall body.
    pub path: Option<String>,
    pub line: Option<u32>,
    pub at: DateTime<Utc>,
}

/// A forge's client.
#[derive(Debug, Clone)]
pub enum Forge {
    GitHub(github::GitHub),
    GitLab(gitlab::GitLab),
    Gitea(gitea::Gitea),
}

impl Forge {
    /// The client for `settings`.
    pub fn new(settings: &ForgeSettings) -> Result<Self, ForgeError> {
        let http = http::Http::new(settings)?;
        Ok(match settings.kind {
            ForgeKind::GitHub => Self::GitHub(github::GitHub::new(http, settings.repo.clone())),
            ForgeKind::GitLab => Self::GitLab(gitlab::GitLab::new(http, settings.repo.clone())),
            ForgeKind::Gitea => Self::Gitea(gitea::Gitea::new(http, settings.repo.clone())),
        })
    }

    /// Opens a pull request from `new.head` into `new.base`, or returns the one already
    /// open for that head branch (a restart between the push and the answer).
    pub async fn open_pull(&self, new: &NewPull<'_>) -> Result<Pull, ForgeError> {
        let created = match self {
            Self::GitHub(f) => f.create_pull(new).await,
            Self::GitLab(f) => f.create_pull(new).await,
            Self::Gitea(f) => f.create_pull(new).await,
        };
        match created {
            // A restart between the push and the answer: the pull request is open.
            Err(e) if e.already_exists() => self.open_for(new.head).await?.ok_or(e),
            other => other,
        }
    }

    /// The open pull request whose head is `branch`, if there is one.
    async fn open_for(&self, branch: &str) -> Result<Option<Pull>, ForgeError> {
        match self {
            Self::GitHub(f) => f.open_for(branch).await,
            Self::GitLab(f) => f.open_for(branch).await,
            Self::Gitea(f) => f.open_for(branch).await,
        }
    }

    pub async fn pull(&self, number: u64) -> Result<Pull, ForgeError> {
        match self {
            Self::GitHub(f) => f.pull(number).await,
            Self::GitLab(f) => f.pull(number).await,
            Self::Gitea(f) => f.pull(number).await,
        }
    }

    /// The checks of commit `sha` (for GitLab, the pipeline of merge request `number`
    /// at that commit).
    pub async fn checks(&self, number: u64, sha: &str) -> Result<Checks, ForgeError> {
        match self {
            Self::GitHub(f) => f.checks(sha).await,
            Self::GitLab(f) => f.checks(number, sha).await,
            Self::Gitea(f) => f.checks(sha).await,
        }
    }

    /// Change requests made after `since` (the harness's last push), and approvals.
    pub async fn feedback(
        &self,
        number: u64,
        since: DateTime<Utc>,
    ) -> Result<Feedback, ForgeError> {
        match self {
            Self::GitHub(f) => f.feedback(number, since).await,
            Self::GitLab(f) => f.feedback(number, since).await,
            Self::Gitea(f) => f.feedback(number, since).await,
        }
    }

    /// Merges the pull request if its head is still `sha`; the merge commit.
    pub async fn merge(&self, number: u64, sha: &str) -> Result<String, ForgeError> {
        match self {
            Self::GitHub(f) => f.merge(number, sha).await,
            Self::GitLab(f) => f.merge(number, sha).await,
            Self::Gitea(f) => f.merge(number, sha).await,
        }
    }

    pub fn kind(&self) -> ForgeKind {
        match self {
            Self::GitHub(_) => ForgeKind::GitHub,
            Self::GitLab(_) => ForgeKind::GitLab,
            Self::Gitea(_) => ForgeKind::Gitea,
        }
    }
}
