//! Gitea and Forgejo (Codeberg): pull requests, commit statuses and reviews over the
//! REST API (v1). The pull request JSON is GitHub's shape, so it is read with
//! `github`'s; reviews and statuses differ in names (`REQUEST_CHANGES`, a status's
//! `status`) and line comments hang under their review.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ChangeRequest, Checks, FailedCheck, Feedback, ForgeError, NewPull, Pull, PullState, RepoPath,
    github::{PullJson, User, approvals, login},
    http::Http,
};

#[derive(Debug, Clone)]
pub struct Gitea {
    http: Http,
    repo: RepoPath,
}

impl Gitea {
    pub(crate) fn new(http: Http, repo: RepoPath) -> Self {
        Self { http, repo }
    }

    fn path(&self, rest: &str) -> String {
        format!("/repos/{}{rest}", self.repo.as_str())
    }

    /// Opens a pull request; [`crate::Forge::open_pull`] finds the open one on a conflict.
    pub(crate) async fn create_pull(&self, new: &NewPull<'_>) -> Result<Pull, ForgeError> {
        let body =
            json!({ "head": new.head, "base": new.base, "title": new.title, "body": new.body });
        let path = self.path("/pulls");
        let created: PullJson = self.http.send_json(Method::POST, &path, &body).await?;
        Ok(created.into())
    }

    /// The open pull request whose head is `branch`: Gitea's list cannot filter by head.
    pub(crate) async fn open_for(&self, branch: &str) -> Result<Option<Pull>, ForgeError> {
        let pulls: Vec<PullJson> = self.http.get_all(&self.path("/pulls?state=open")).await?;
        Ok(pulls
            .into_iter()
            .find(|p| p.head.name == branch)
            .map(Pull::from))
    }

    pub async fn pull(&self, number: u64) -> Result<Pull, ForgeError> {
        let pull: PullJson = self
            .http
            .get(&self.path(&format!("/pulls/{number}")))
            .await?;
        Ok(pull.into())
    }

    pub async fn checks(&self, sha: &str) -> Result<Checks, ForgeError> {
        let status: CombinedStatus = self
            .http
            .get(&self.path(&format!("/commits/{sha}/status")))
            .await?;
        Ok(checks_of(&status))
    }

    pub async fn feedback(
        &self,
        number: u64,
        since: DateTime<Utc>,
    ) -> Result<Feedback, ForgeError> {
        let reviews: Vec<Review> = self
            .http
            .get_all(&self.path(&format!("/pulls/{number}/reviews")))
            .await?;
        let mut comments = Vec::new();
        // Line comments hang under their review: only reviews after the push can hold new ones.
        for review in reviews
            .iter()
            .filter(|r| r.submitted_at.is_some_and(|at| at > since))
        {
            let path = self.path(&format!("/pulls/{number}/reviews/{}/comments", review.id));
            comments.extend(self.http.get_all::<Comment>(&path).await?);
        }
        Ok(feedback_of(&reviews, &comments, since))
    }

    /// Gitea answers a merge with an empty body: the merge commit is read from the pull.
    pub async fn merge(&self, number: u64, sha: &str) -> Result<String, ForgeError> {
        // `head_commit_id` makes Gitea refuse (409) when the head moved since the checks passed.
        let body = json!({ "Do": "merge", "head_commit_id": sha });
        let path = self.path(&format!("/pulls/{number}/merge"));
        self.http
            .send_json::<Value>(Method::POST, &path, &body)
            .await?;
        match self.pull(number).await?.state {
            PullState::Merged { commit } if !commit.is_empty() => Ok(commit),
            state => Err(ForgeError::Malformed(format!(
                "pull request #{number} is {state:?} after the merge, without a merge commit"
            ))),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CombinedStatus {
    /// "" when there is no status at all.
    state: String,
    total_count: u64,
    statuses: Vec<Status>,
}

/// Unlike GitHub's, a single status's state is in `status`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Status {
    context: String,
    status: String,
    description: Option<String>,
    target_url: Option<String>,
}

fn failing(state: &str) -> bool {
    matches!(state, "failure" | "error")
}

fn checks_of(status: &CombinedStatus) -> Checks {
    if status.total_count == 0 && status.statuses.is_empty() {
        return Checks::None;
    }
    let failed: Vec<FailedCheck> = status
        .statuses
        .iter()
        .filter(|s| failing(&s.status))
        .map(|s| FailedCheck {
            name: s.context.clone(),
            output: s.description.clone().unwrap_or_default(),
            url: s.target_url.clone(),
        })
        .collect();
    if !failed.is_empty() || failing(&status.state) {
        return Checks::Failed(failed);
    }
    // "warning" passes: Gitea itself lets a pull request with warnings merge.
    let passed = matches!(status.state.as_str(), "success" | "warning")
        && !status.statuses.iter().any(|s| s.status == "pending");
    if passed {
        Checks::Passed
    } else {
        Checks::Pending
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Review {
    id: u64,
    user: Option<User>,
    body: String,
    state: String,
    submitted_at: Option<DateTime<Utc>>,
    dismissed: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Comment {
    path: String,
    /// The line in the new file; 0 when the comment is on a removed line only.
    position: u32,
    body: String,
    user: Option<User>,
    created_at: Option<DateTime<Utc>>,
}

/// `comments` are those of the reviews submitted after `since`.
fn feedback_of(reviews: &[Review], comments: &[Comment], since: DateTime<Utc>) -> Feedback {
    let asked = reviews
        .iter()
        .filter(|r| r.state == "REQUEST_CHANGES" && !r.dismissed)
        .filter_map(|r| {
            let at = r.submitted_at.filter(|at| *at > since)?;
            Some(ChangeRequest {
                author: login(&r.user),
                body: r.body.clone(),
                path: None,
                line: None,
                at,
            })
        });
    let on_lines = comments.iter().map(|c| ChangeRequest {
        author: login(&c.user),
        body: c.body.clone(),
        path: Some(c.path.clone()),
        line: (c.position > 0).then_some(c.position),
        at: c.created_at.unwrap_or(since),
    });
    // A dismissed review no longer counts, and a comment is no verdict.
    let verdicts = reviews.iter().filter(|r| !r.dismissed).filter_map(|r| {
        let approved = match r.state.as_str() {
            "APPROVED" => true,
            "REQUEST_CHANGES" => false,
            _ => return None,
        };
        Some((login(&r.user), r.submitted_at?, approved))
    });
    Feedback {
        requests: asked.chain(on_lines).collect(),
        approvals: approvals(verdicts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error_of;
    use reqwest::{StatusCode, header::HeaderMap};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_pull_reads_as_on_github() {
        let pull: PullJson = serde_json::from_str(
            r#"{"id":88,"number":2,"html_url":"https://gt/o/r/pulls/2","state":"closed","merged":true,
                "merge_commit_sha":"m1","head":{"ref":"harness/T-1","sha":"abc","repo_id":1},
                "base":{"ref":"main","sha":"000"},"title":"t","body":""}"#,
        )
        .unwrap();
        assert_eq!(
            Pull::from(pull),
            Pull {
                number: 2,
                url: "https://gt/o/r/pulls/2".into(),
                state: PullState::Merged {
                    commit: "m1".into()
                },
                head_sha: "abc".into(),
            }
        );
    }

    #[test]
    fn only_an_already_exists_409_means_find_the_open_pull() {
        let exists = error_of(
            StatusCode::CONFLICT,
            HeaderMap::new(),
            r#"{"message":"pull request already exists for these targets [id: 1, issue_id: 1, head_repo_id: 1, base_repo_id: 1, head_branch: x, base_branch: main]"}"#.into(),
        );
        assert!(exists.already_exists());
        let moved = error_of(
            StatusCode::CONFLICT,
            HeaderMap::new(),
            r#"{"message":"head out of date"}"#.into(),
        );
        assert!(!moved.already_exists());
    }

    fn checks(json: &str) -> Checks {
        checks_of(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn a_status_is_read_from_status_and_the_whole_from_state() {
        let failed = r#"{"state":"failure","total_count":2,"statuses":[
            {"context":"ci/build","status":"failure","description":"3 tests failed","target_url":"https://ci/1","state":"ignored"},
            {"context":"ci/lint","status":"success","description":null,"target_url":null}]}"#;
        assert_eq!(
            checks(failed),
            Checks::Failed(vec![FailedCheck {
                name: "ci/build".into(),
                output: "3 tests failed".into(),
                url: Some("https://ci/1".into()),
            }])
        );
        assert_eq!(
            checks(r#"{"state":"","total_count":0,"statuses":[]}"#),
            Checks::None
        );
        assert_eq!(
            checks(r#"{"state":"pending","total_count":0,"statuses":[]}"#),
            Checks::None
        );
        let running = r#"{"state":"pending","total_count":1,"statuses":[{"context":"ci","status":"pending"}]}"#;
        assert_eq!(checks(running), Checks::Pending);
        let warned = r#"{"state":"warning","total_count":1,"statuses":[{"context":"ci","status":"warning"}]}"#;
        assert_eq!(checks(warned), Checks::Passed);
        let passed = r#"{"state":"success","total_count":1,"statuses":[{"context":"ci","status":"success"}]}"#;
        assert_eq!(checks(passed), Checks::Passed);
    }

    #[test]
    fn feedback_skips_dismissed_reviews_and_counts_latest_verdicts() {
        let reviews: Vec<Review> = serde_json::from_str(
            r#"[
            {"id":1,"user":{"login":"ann"},"body":"rename it","state":"REQUEST_CHANGES","submitted_at":"2026-01-01T11:00:00Z",
             "commit_id":"abc","comments_count":1,"dismissed":false,"stale":false},
            {"id":2,"user":{"login":"bob"},"body":"no","state":"REQUEST_CHANGES","submitted_at":"2026-01-01T11:30:00Z",
             "dismissed":true},
            {"id":3,"user":{"login":"bob"},"body":"","state":"APPROVED","submitted_at":"2026-01-01T09:00:00Z","dismissed":false},
            {"id":4,"user":{"login":"cy"},"body":"","state":"APPROVED","submitted_at":"2026-01-01T09:00:00Z","dismissed":false},
            {"id":5,"user":{"login":"cy"},"body":"hm","state":"COMMENT","submitted_at":"2026-01-01T09:10:00Z","dismissed":false},
            {"id":6,"user":{"login":"dee"},"body":"old","state":"REQUEST_CHANGES","submitted_at":"2026-01-01T08:00:00Z","dismissed":false}]"#,
        )
        .unwrap();
        let comments: Vec<Comment> = serde_json::from_str(
            r#"[{"id":9,"path":"src/a.rs","position":12,"original_position":10,"body":"use ?",
                 "user":{"login":"ann"},"created_at":"2026-01-01T11:00:00Z","commit_id":"abc"}]"#,
        )
        .unwrap();
        let feedback = feedback_of(&reviews, &comments, at("2026-01-01T10:00:00Z"));
        assert_eq!(
            feedback.approvals, 2,
            "bob's change request was dismissed; cy only commented since"
        );
        assert_eq!(
            feedback.requests,
            vec![
                ChangeRequest {
                    author: "ann".into(),
                    body: "rename it".into(),
                    path: None,
                    line: None,
                    at: at("2026-01-01T11:00:00Z"),
                },
                ChangeRequest {
                    author: "ann".into(),
                    body: "use ?".into(),
                    path: Some("src/a.rs".into()),
                    line: Some(12),
                    at: at("2026-01-01T11:00:00Z"),
                },
            ]
        );
    }
}
