//! GitHub (and GitHub Enterprise): pull requests, check runs with commit statuses, and
//! reviews over the REST API. Gitea copied GitHub's pull request shape and its way of
//! counting approvals, so [`PullJson`] and [`approvals`] serve `gitea` too.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::{
    ChangeRequest, Checks, FailedCheck, Feedback, ForgeError, NewPull, Pull, PullState, RepoPath,
    http::{Http, encode},
};

/// A failed check's output is cut to this many bytes: enough to see what failed.
const OUTPUT_MAX: usize = 4096;
/// Pages of check runs read at most, as `Http::get_all` bounds its lists.
const MAX_CHECK_RUN_PAGES: u32 = 10;

#[derive(Debug, Clone)]
pub struct GitHub {
    http: Http,
    repo: RepoPath,
}

impl GitHub {
    pub(crate) fn new(http: Http, repo: RepoPath) -> Self {
        Self { http, repo }
    }

    fn path(&self, rest: &str) -> String {
        format!("/repos/{}{rest}", self.repo.as_str())
    }

    /// Opens a pull request; [`crate::Forge::open_pull`] finds the open one on a conflict.
    pub(crate) async fn create_pull(&self, new: &NewPull<'_>) -> Result<Pull, ForgeError> {
        let body =
            json!({ "title": new.title, "head": new.head, "base": new.base, "body": new.body });
        let path = self.path("/pulls");
        let created: PullJson = self.http.send_json(Method::POST, &path, &body).await?;
        Ok(created.into())
    }

    /// The open pull request whose head is `branch`, if there is one.
    pub(crate) async fn open_for(&self, branch: &str) -> Result<Option<Pull>, ForgeError> {
        let owner = self.repo.as_str().split('/').next().unwrap_or_default();
        let head = encode(&format!("{owner}:{branch}"));
        let path = self.path(&format!("/pulls?state=open&head={head}"));
        let pulls: Vec<PullJson> = self.http.get_all(&path).await?;
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

    /// Check runs (GitHub Actions and apps) and commit statuses (older integrations)
    /// together: a repository may use either or both.
    pub async fn checks(&self, sha: &str) -> Result<Checks, ForgeError> {
        let runs = self.check_runs(sha).await?;
        // One page of 100 statuses: the combined `state` covers them all anyway.
        let path = self.path(&format!("/commits/{sha}/status?per_page=100"));
        let status: CombinedStatus = self.http.get(&path).await?;
        Ok(checks_of(&runs, &status))
    }

    /// Every check run of `sha`. The list sits inside an object, which `Http::get_all`
    /// cannot page, so pages are asked for by number until `total_count` is reached.
    async fn check_runs(&self, sha: &str) -> Result<CheckRuns, ForgeError> {
        let mut all = CheckRuns::default();
        for page in 1..=MAX_CHECK_RUN_PAGES {
            let path = self.path(&format!(
                "/commits/{sha}/check-runs?per_page=100&page={page}"
            ));
            let batch: CheckRuns = self.http.get(&path).await?;
            let last = batch.check_runs.is_empty();
            all.total_count = batch.total_count;
            all.check_runs.extend(batch.check_runs);
            if last || all.check_runs.len() as u64 >= all.total_count {
                break;
            }
        }
        Ok(all)
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
        let comments: Vec<Comment> = self
            .http
            .get_all(&self.path(&format!("/pulls/{number}/comments")))
            .await?;
        Ok(feedback_of(&reviews, &comments, since))
    }

    pub async fn merge(&self, number: u64, sha: &str) -> Result<String, ForgeError> {
        // `sha` makes GitHub refuse (409) when the head moved since the checks passed.
        let body = json!({ "sha": sha, "merge_method": "merge" });
        let path = self.path(&format!("/pulls/{number}/merge"));
        let merged: Merged = self.http.send_json(Method::PUT, &path, &body).await?;
        if merged.sha.is_empty() {
            return Err(ForgeError::Malformed(format!(
                "pull request #{number} merged without naming its merge commit"
            )));
        }
        Ok(merged.sha)
    }
}

/// A pull request as GitHub and Gitea send it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct PullJson {
    number: u64,
    html_url: String,
    state: String,
    merged: bool,
    merge_commit_sha: Option<String>,
    pub(super) head: Branch,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Branch {
    #[serde(rename = "ref")]
    pub(super) name: String,
    sha: String,
}

impl From<PullJson> for Pull {
    fn from(p: PullJson) -> Self {
        let state = match (p.merged, p.state.as_str()) {
            // A merged pull request is "closed" too; only `merged` tells the two apart.
            (true, _) => PullState::Merged {
                commit: p.merge_commit_sha.unwrap_or_default(),
            },
            (false, "open") => PullState::Open,
            (false, _) => PullState::Closed,
        };
        Pull {
            number: p.number,
            url: p.html_url,
            state,
            head_sha: p.head.sha,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CheckRuns {
    total_count: u64,
    check_runs: Vec<CheckRun>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CheckRun {
    name: String,
    status: String,
    conclusion: Option<String>,
    html_url: Option<String>,
    output: Option<CheckOutput>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CheckOutput {
    summary: Option<String>,
    text: Option<String>,
}

impl CheckRun {
    fn failure(&self) -> Option<FailedCheck> {
        let failed = self.status == "completed"
            && matches!(
                self.conclusion.as_deref(),
                Some("failure" | "cancelled" | "timed_out" | "action_required")
            );
        let output = self.output.as_ref();
        let parts = [
            output.and_then(|o| o.summary.as_deref()),
            output.and_then(|o| o.text.as_deref()),
        ];
        let said: Vec<&str> = parts
            .into_iter()
            .flatten()
            .filter(|p| !p.is_empty())
            .collect();
        failed.then(|| FailedCheck {
            name: self.name.clone(),
            output: harness_base::text::head(&said.join("\n"), OUTPUT_MAX).to_owned(),
            url: self.html_url.clone(),
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CombinedStatus {
    total_count: u64,
    statuses: Vec<Status>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Status {
    context: String,
    state: String,
    description: Option<String>,
    target_url: Option<String>,
}

impl Status {
    fn failure(&self) -> Option<FailedCheck> {
        matches!(self.state.as_str(), "failure" | "error").then(|| FailedCheck {
            name: self.context.clone(),
            output: harness_base::text::head(
                self.description.as_deref().unwrap_or_default(),
                OUTPUT_MAX,
            )
            .to_owned(),
            url: self.target_url.clone(),
        })
    }
}

/// A failure anywhere wins over anything still running, so an agent can start on the
/// fix before the slowest check ends.
fn checks_of(runs: &CheckRuns, status: &CombinedStatus) -> Checks {
    let failed: Vec<FailedCheck> = runs
        .check_runs
        .iter()
        .filter_map(CheckRun::failure)
        .chain(status.statuses.iter().filter_map(Status::failure))
        .collect();
    if !failed.is_empty() {
        return Checks::Failed(failed);
    }
    // With no statuses the combined state is "pending": only the counts tell "none".
    let none = runs.total_count == 0
        && runs.check_runs.is_empty()
        && status.total_count == 0
        && status.statuses.is_empty();
    if none {
        return Checks::None;
    }
    let pending = runs.check_runs.iter().any(|r| r.status != "completed")
        || status.statuses.iter().any(|s| s.state == "pending");
    if pending {
        Checks::Pending
    } else {
        Checks::Passed
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct User {
    pub(super) login: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Review {
    user: Option<User>,
    body: Option<String>,
    state: String,
    submitted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Comment {
    path: String,
    line: Option<u32>,
    body: String,
    user: Option<User>,
    created_at: Option<DateTime<Utc>>,
}

/// The login of a review's or comment's author (`None`: a deleted account).
pub(super) fn login(user: &Option<User>) -> String {
    user.as_ref().map(|u| u.login.clone()).unwrap_or_default()
}

fn feedback_of(reviews: &[Review], comments: &[Comment], since: DateTime<Utc>) -> Feedback {
    let asked = reviews
        .iter()
        .filter(|r| r.state == "CHANGES_REQUESTED")
        .filter_map(|r| {
            let at = r.submitted_at.filter(|at| *at > since)?;
            Some(ChangeRequest {
                author: login(&r.user),
                body: r.body.clone().unwrap_or_default(),
                path: None,
                line: None,
                at,
            })
        });
    let on_lines = comments.iter().filter_map(|c| {
        let at = c.created_at.filter(|at| *at > since)?;
        Some(ChangeRequest {
            author: login(&c.user),
            body: c.body.clone(),
            path: Some(c.path.clone()),
            line: c.line,
            at,
        })
    });
    // A comment is no verdict: it neither gives nor takes back an approval.
    let verdicts = reviews.iter().filter_map(|r| {
        let approved = match r.state.as_str() {
            "APPROVED" => true,
            "CHANGES_REQUESTED" | "DISMISSED" => false,
            _ => return None,
        };
        Some((login(&r.user), r.submitted_at?, approved))
    });
    Feedback {
        requests: asked.chain(on_lines).collect(),
        approvals: approvals(verdicts),
    }
}

/// How many people's latest verdict (who, when, approved) is an approval.
pub(super) fn approvals(verdicts: impl Iterator<Item = (String, DateTime<Utc>, bool)>) -> u32 {
    let mut latest: BTreeMap<String, (DateTime<Utc>, bool)> = BTreeMap::new();
    for (who, at, approved) in verdicts {
        let last = latest.entry(who).or_insert((at, approved));
        if at >= last.0 {
            *last = (at, approved);
        }
    }
    latest.values().filter(|(_, approved)| *approved).count() as u32
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Merged {
    sha: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error_of;
    use reqwest::{StatusCode, header::HeaderMap};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn pull(json: &str) -> Pull {
        serde_json::from_str::<PullJson>(json).unwrap().into()
    }

    #[test]
    fn a_pull_is_open_merged_with_its_commit_or_closed() {
        let open = pull(
            r#"{"number":3,"html_url":"https://gh/o/r/pull/3","state":"open","merged":false,
                "merge_commit_sha":null,"head":{"ref":"harness/T-1","sha":"abc"},"base":{"ref":"main","sha":"000"},
                "title":"t","body":null,"user":{"login":"bot"},"extra":[1,2]}"#,
        );
        assert_eq!(
            open,
            Pull {
                number: 3,
                url: "https://gh/o/r/pull/3".into(),
                state: PullState::Open,
                head_sha: "abc".into()
            }
        );
        let merged = pull(
            r#"{"number":3,"state":"closed","merged":true,"merge_commit_sha":"m1","head":{"sha":"abc"}}"#,
        );
        assert_eq!(
            merged.state,
            PullState::Merged {
                commit: "m1".into()
            }
        );
        let closed =
            pull(r#"{"number":3,"state":"closed","merged":false,"merge_commit_sha":"t1"}"#);
        assert_eq!(closed.state, PullState::Closed);
    }

    #[test]
    fn only_an_already_exists_422_means_find_the_open_pull() {
        let exists = error_of(
            StatusCode::UNPROCESSABLE_ENTITY,
            HeaderMap::new(),
            r#"{"message":"Validation Failed","errors":[{"message":"A pull request already exists for o:harness/T-1."}]}"#.into(),
        );
        assert!(exists.already_exists());
        let bad_head = error_of(
            StatusCode::UNPROCESSABLE_ENTITY,
            HeaderMap::new(),
            r#"{"message":"Validation Failed","errors":[{"message":"head harness/x invalid"}]}"#
                .into(),
        );
        assert!(!bad_head.already_exists());
        assert_eq!(encode("o:harness/T 1"), "o%3Aharness%2FT+1");
    }

    fn checks(runs: &str, status: &str) -> Checks {
        checks_of(
            &serde_json::from_str(runs).unwrap(),
            &serde_json::from_str(status).unwrap(),
        )
    }

    #[test]
    fn a_failed_run_wins_over_a_pending_status() {
        let runs = r#"{"total_count":2,"check_runs":[
            {"id":1,"name":"build","status":"completed","conclusion":"failure","html_url":"https://gh/runs/1",
             "output":{"title":"t","summary":"2 tests failed","text":"test a ... FAILED"}},
            {"id":2,"name":"lint","status":"completed","conclusion":"success","html_url":null,"output":{"summary":null,"text":null}}]}"#;
        let status = r#"{"state":"pending","total_count":1,"statuses":[
            {"context":"ci/legacy","state":"pending","description":null,"target_url":null}]}"#;
        assert_eq!(
            checks(runs, status),
            Checks::Failed(vec![FailedCheck {
                name: "build".into(),
                output: "2 tests failed\ntest a ... FAILED".into(),
                url: Some("https://gh/runs/1".into()),
            }])
        );
    }

    #[test]
    fn a_failed_status_says_its_description() {
        let status = r#"{"state":"failure","total_count":1,"statuses":[
            {"context":"ci/jenkins","state":"error","description":"build broke","target_url":"https://ci/1"}]}"#;
        let Checks::Failed(failed) = checks(r#"{"total_count":0,"check_runs":[]}"#, status) else {
            panic!("not failed")
        };
        assert_eq!(
            (failed[0].name.as_str(), failed[0].output.as_str()),
            ("ci/jenkins", "build broke")
        );
    }

    #[test]
    fn checks_are_none_pending_or_passed() {
        let no_runs = r#"{"total_count":0,"check_runs":[]}"#;
        let no_status = r#"{"state":"pending","total_count":0,"statuses":[]}"#;
        assert_eq!(checks(no_runs, no_status), Checks::None);
        let running = r#"{"total_count":1,"check_runs":[{"name":"build","status":"in_progress","conclusion":null}]}"#;
        assert_eq!(checks(running, no_status), Checks::Pending);
        let done = r#"{"total_count":2,"check_runs":[{"name":"build","status":"completed","conclusion":"success"},
            {"name":"docs","status":"completed","conclusion":"skipped"}]}"#;
        assert_eq!(checks(done, no_status), Checks::Passed);
        let good = r#"{"state":"success","total_count":1,"statuses":[{"context":"ci","state":"success"}]}"#;
        assert_eq!(checks(no_runs, good), Checks::Passed);
    }

    #[test]
    fn a_long_output_is_cut_on_a_char_boundary() {
        let text = "é".repeat(3000);
        let run = CheckRun {
            name: "build".into(),
            status: "completed".into(),
            conclusion: Some("timed_out".into()),
            html_url: None,
            output: Some(CheckOutput {
                summary: None,
                text: Some(text),
            }),
        };
        let output = run.failure().unwrap().output;
        assert_eq!(output.len(), OUTPUT_MAX);
        assert!(output.chars().all(|c| c == 'é'));
    }

    #[test]
    fn feedback_is_what_came_after_the_push_and_approvals_count_latest_verdicts() {
        let reviews: Vec<Review> = serde_json::from_str(
            r#"[
            {"id":1,"user":{"login":"ann"},"body":"old","state":"CHANGES_REQUESTED","submitted_at":"2026-01-01T09:00:00Z"},
            {"id":2,"user":{"login":"ann"},"body":"rename it","state":"CHANGES_REQUESTED","submitted_at":"2026-01-01T11:00:00Z"},
            {"id":3,"user":{"login":"bob"},"body":"","state":"APPROVED","submitted_at":"2026-01-01T09:30:00Z"},
            {"id":4,"user":{"login":"bob"},"body":"nit","state":"COMMENTED","submitted_at":"2026-01-01T12:00:00Z"},
            {"id":5,"user":{"login":"cy"},"body":"","state":"APPROVED","submitted_at":"2026-01-01T08:00:00Z"},
            {"id":6,"user":{"login":"cy"},"body":"wait","state":"CHANGES_REQUESTED","submitted_at":"2026-01-01T08:30:00Z"},
            {"id":7,"user":{"login":"dee"},"body":"","state":"PENDING","submitted_at":null}]"#,
        )
        .unwrap();
        let comments: Vec<Comment> = serde_json::from_str(
            r#"[
            {"id":1,"path":"src/a.rs","line":null,"body":"before","user":{"login":"ann"},"created_at":"2026-01-01T09:00:00Z"},
            {"id":2,"path":"src/a.rs","line":12,"body":"use ?","user":{"login":"ann"},"created_at":"2026-01-01T11:00:00Z",
             "commit_id":"abc","pull_request_review_id":2}]"#,
        )
        .unwrap();
        let feedback = feedback_of(&reviews, &comments, at("2026-01-01T10:00:00Z"));
        assert_eq!(
            feedback.approvals, 1,
            "bob approved; ann and cy last asked for changes"
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

    #[test]
    fn the_latest_verdict_by_time_counts() {
        let verdicts = vec![
            ("ann".to_owned(), at("2026-01-01T09:00:00Z"), true),
            ("ann".to_owned(), at("2026-01-01T10:00:00Z"), false),
            ("bob".to_owned(), at("2026-01-01T10:00:00Z"), true),
            ("bob".to_owned(), at("2026-01-01T09:00:00Z"), false),
        ];
        assert_eq!(
            approvals(verdicts.into_iter()),
            1,
            "order by time, not by list"
        );
    }
}
