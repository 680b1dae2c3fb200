//! GitLab: merge requests, their head pipeline and discussions over the REST API (v4).
//! The project is addressed by its full path, URL-encoded (`group%2Fsub%2Fname`), and a
//! merge request by its `iid`, the number people see (`!12`).

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::{
    ChangeRequest, Checks, FailedCheck, Feedback, ForgeError, NewPull, Pull, PullState, RepoPath,
    http::{Http, encode},
};

/// A failed job's output is the end of its log, cut to this many bytes.
const OUTPUT_MAX: usize = 4096;

#[derive(Debug, Clone)]
pub struct GitLab {
    http: Http,
    repo: RepoPath,
}

impl GitLab {
    pub(crate) fn new(http: Http, repo: RepoPath) -> Self {
        Self { http, repo }
    }

    fn path(&self, rest: &str) -> String {
        format!("/projects/{}{rest}", encode(self.repo.as_str()))
    }

    /// Opens a pull request; [`crate::Forge::open_pull`] finds the open one on a conflict.
    pub(crate) async fn create_pull(&self, new: &NewPull<'_>) -> Result<Pull, ForgeError> {
        let body = json!({
            "source_branch": new.head,
            "target_branch": new.base,
            "title": new.title,
            "description": new.body,
        });
        let path = self.path("/merge_requests");
        let created: MergeRequest = self.http.send_json(Method::POST, &path, &body).await?;
        Ok(created.into())
    }

    /// The open merge request from `branch`, if there is one.
    pub(crate) async fn open_for(&self, branch: &str) -> Result<Option<Pull>, ForgeError> {
        let path = self.path(&format!(
            "/merge_requests?state=opened&source_branch={}",
            encode(branch)
        ));
        let mrs: Vec<MergeRequest> = self.http.get_all(&path).await?;
        Ok(mrs
            .into_iter()
            .find(|mr| mr.source_branch == branch)
            .map(Pull::from))
    }

    pub async fn pull(&self, number: u64) -> Result<Pull, ForgeError> {
        Ok(self.merge_request(number).await?.into())
    }

    async fn merge_request(&self, number: u64) -> Result<MergeRequest, ForgeError> {
        self.http
            .get(&self.path(&format!("/merge_requests/{number}")))
            .await
    }

    /// The merge request's head pipeline, when it ran for `sha`.
    pub async fn checks(&self, number: u64, sha: &str) -> Result<Checks, ForgeError> {
        let mr = self.merge_request(number).await?;
        match verdict(mr.head_pipeline.as_ref(), sha) {
            Verdict::Settled(checks) => Ok(checks),
            Verdict::JobsFailed(pipeline) => Ok(Checks::Failed(self.failed_jobs(pipeline).await?)),
        }
    }

    /// Each failed job of `pipeline`; the pipeline itself when no job says it failed.
    async fn failed_jobs(&self, pipeline: &Pipeline) -> Result<Vec<FailedCheck>, ForgeError> {
        let path = self.path(&format!("/pipelines/{}/jobs", pipeline.id));
        let jobs: Vec<Job> = self.http.get_all(&path).await?;
        let mut failed = Vec::new();
        for job in jobs.iter().filter(|j| j.status == "failed") {
            failed.push(self.job_failure(job).await);
        }
        if failed.is_empty() {
            return Ok(vec![pipeline.failure("failed")]);
        }
        Ok(failed)
    }

    /// A failed job: its name and the end of its log, where the reason is. A log that
    /// cannot be read does not hide that the job failed.
    async fn job_failure(&self, job: &Job) -> FailedCheck {
        let path = self.path(&format!("/jobs/{}/trace", job.id));
        let output = match self.http.get_text(&path).await {
            Ok(log) => harness_base::text::tail(&log, OUTPUT_MAX).to_owned(),
            Err(e) => format!("the job failed in stage '{}'; its log: {e}", job.stage),
        };
        FailedCheck {
            name: job.name.clone(),
            output,
            url: job.web_url.clone(),
        }
    }

    pub async fn feedback(
        &self,
        number: u64,
        since: DateTime<Utc>,
    ) -> Result<Feedback, ForgeError> {
        let discussions: Vec<Discussion> = self
            .http
            .get_all(&self.path(&format!("/merge_requests/{number}/discussions")))
            .await?;
        let approvals: Approvals = self
            .http
            .get(&self.path(&format!("/merge_requests/{number}/approvals")))
            .await?;
        Ok(Feedback {
            requests: requests_of(&discussions, since),
            approvals: approvals.approved_by.len() as u32,
        })
    }

    pub async fn merge(&self, number: u64, sha: &str) -> Result<String, ForgeError> {
        // `sha` makes GitLab refuse (409) when the head moved since the checks passed.
        let path = self.path(&format!("/merge_requests/{number}/merge"));
        let mr: MergeRequest = self
            .http
            .send_json(Method::PUT, &path, &json!({ "sha": sha }))
            .await?;
        match Pull::from(mr).state {
            PullState::Merged { commit } if !commit.is_empty() => Ok(commit),
            state => Err(ForgeError::Malformed(format!(
                "merge request !{number} is {state:?} after the merge, without a merge commit"
            ))),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MergeRequest {
    iid: u64,
    web_url: String,
    state: String,
    sha: String,
    merge_commit_sha: Option<String>,
    squash_commit_sha: Option<String>,
    source_branch: String,
    head_pipeline: Option<Pipeline>,
}

impl From<MergeRequest> for Pull {
    fn from(mr: MergeRequest) -> Self {
        let state = match mr.state.as_str() {
            "merged" => PullState::Merged {
                // A fast-forward merge makes no merge commit: the head is on the target.
                commit: mr
                    .merge_commit_sha
                    .or(mr.squash_commit_sha)
                    .unwrap_or_else(|| mr.sha.clone()),
            },
            "closed" => PullState::Closed,
            // "opened", and "locked" while GitLab is merging it.
            _ => PullState::Open,
        };
        Pull {
            number: mr.iid,
            url: mr.web_url,
            state,
            head_sha: mr.sha,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Pipeline {
    id: u64,
    sha: String,
    status: String,
    web_url: Option<String>,
}

impl Pipeline {
    fn failure(&self, said: &str) -> FailedCheck {
        FailedCheck {
            name: "pipeline".into(),
            output: said.into(),
            url: self.web_url.clone(),
        }
    }
}

/// What a head pipeline says before any job is read.
#[derive(Debug)]
enum Verdict<'a> {
    Settled(Checks),
    /// Failed: its failed jobs say why.
    JobsFailed(&'a Pipeline),
}

fn verdict<'a>(pipeline: Option<&'a Pipeline>, sha: &str) -> Verdict<'a> {
    let Some(pipeline) = pipeline else {
        return Verdict::Settled(Checks::None);
    };
    // The pipeline of an older push: the one for `sha` has not been created yet.
    if pipeline.sha != sha {
        return Verdict::Settled(Checks::Pending);
    }
    Verdict::Settled(match pipeline.status.as_str() {
        "success" => Checks::Passed,
        "failed" => return Verdict::JobsFailed(pipeline),
        "canceled" => Checks::Failed(vec![pipeline.failure("canceled")]),
        // Nothing ran on its own: no check to wait for.
        "skipped" | "manual" => Checks::None,
        _ => Checks::Pending,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Job {
    id: u64,
    name: String,
    status: String,
    stage: String,
    web_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Discussion {
    individual_note: bool,
    notes: Vec<Note>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Note {
    body: String,
    author: Option<Author>,
    created_at: Option<DateTime<Utc>>,
    system: bool,
    resolvable: bool,
    resolved: bool,
    position: Option<Position>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Author {
    username: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Position {
    new_path: Option<String>,
    new_line: Option<u32>,
}

/// Notes after `since` that still ask for something: unresolved threads, and plain
/// comments (which cannot be resolved). GitLab's own notes ("added 1 commit") are not
/// a reviewer's.
fn requests_of(discussions: &[Discussion], since: DateTime<Utc>) -> Vec<ChangeRequest> {
    let asks = |d: &Discussion, n: &Note| {
        !n.system && ((n.resolvable && !n.resolved) || (d.individual_note && !n.resolvable))
    };
    discussions
        .iter()
        .flat_map(|d| d.notes.iter().filter(move |n| asks(d, n)))
        .filter_map(|n| {
            let at = n.created_at.filter(|at| *at > since)?;
            let position = n.position.as_ref();
            Some(ChangeRequest {
                author: n
                    .author
                    .as_ref()
                    .map(|a| a.username.clone())
                    .unwrap_or_default(),
                body: n.body.clone(),
                path: position.and_then(|p| p.new_path.clone()),
                line: position.and_then(|p| p.new_line),
                at,
            })
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Approvals {
    /// Only counted: who approved does not matter to the harness.
    approved_by: Vec<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error_of;
    use reqwest::{StatusCode, header::HeaderMap};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn mr(json: &str) -> MergeRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_merge_request_is_open_merged_with_its_commit_or_closed() {
        let open = mr(
            r#"{"id":91,"iid":4,"web_url":"https://gl/g/s/r/-/merge_requests/4","state":"opened",
            "sha":"abc","merge_commit_sha":null,"squash_commit_sha":null,"source_branch":"harness/T-1",
            "target_branch":"main","title":"t","description":null,"head_pipeline":null}"#,
        );
        assert_eq!(
            Pull::from(open),
            Pull {
                number: 4,
                url: "https://gl/g/s/r/-/merge_requests/4".into(),
                state: PullState::Open,
                head_sha: "abc".into(),
            }
        );
        let merged = |json| Pull::from(mr(json)).state;
        assert_eq!(
            merged(
                r#"{"iid":4,"state":"merged","sha":"abc","merge_commit_sha":"m1","squash_commit_sha":"s1"}"#
            ),
            PullState::Merged {
                commit: "m1".into()
            }
        );
        assert_eq!(
            merged(
                r#"{"iid":4,"state":"merged","sha":"abc","merge_commit_sha":null,"squash_commit_sha":"s1"}"#
            ),
            PullState::Merged {
                commit: "s1".into()
            }
        );
        assert_eq!(
            merged(r#"{"iid":4,"state":"closed","sha":"abc"}"#),
            PullState::Closed
        );
        assert_eq!(
            merged(r#"{"iid":4,"state":"locked","sha":"abc"}"#),
            PullState::Open
        );
    }

    #[test]
    fn a_409_whose_message_is_an_array_means_find_the_open_one() {
        let exists = error_of(
            StatusCode::CONFLICT,
            HeaderMap::new(),
            r#"{"message":["Another open merge request already exists for this source branch: !1"]}"#.into(),
        );
        assert!(exists.already_exists());
        let moved = error_of(
            StatusCode::CONFLICT,
            HeaderMap::new(),
            r#"{"message":"SHA does not match HEAD of source branch: abc"}"#.into(),
        );
        assert!(!moved.already_exists());
    }

    #[test]
    fn the_project_path_and_branches_are_encoded() {
        assert_eq!(encode("group/sub/name"), "group%2Fsub%2Fname");
        assert_eq!(encode("harness/T-1_a.b"), "harness%2FT-1_a.b");
    }

    fn settled(pipeline: Option<&str>, sha: &str) -> Checks {
        let pipeline: Option<Pipeline> = pipeline.map(|p| serde_json::from_str(p).unwrap());
        match verdict(pipeline.as_ref(), sha) {
            Verdict::Settled(checks) => checks,
            Verdict::JobsFailed(_) => panic!("asks for jobs"),
        }
    }

    #[test]
    fn the_head_pipeline_at_the_sha_decides() {
        let at_abc = |status: &str| {
            format!(r#"{{"id":7,"sha":"abc","status":"{status}","web_url":"https://gl/p/7"}}"#)
        };
        assert_eq!(settled(None, "abc"), Checks::None);
        assert_eq!(
            settled(Some(&at_abc("success")), "def"),
            Checks::Pending,
            "an older push's pipeline"
        );
        assert_eq!(settled(Some(&at_abc("success")), "abc"), Checks::Passed);
        assert_eq!(settled(Some(&at_abc("running")), "abc"), Checks::Pending);
        assert_eq!(settled(Some(&at_abc("manual")), "abc"), Checks::None);
        assert_eq!(
            settled(Some(&at_abc("canceled")), "abc"),
            Checks::Failed(vec![FailedCheck {
                name: "pipeline".into(),
                output: "canceled".into(),
                url: Some("https://gl/p/7".into()),
            }])
        );
        let failed: Pipeline = serde_json::from_str(&at_abc("failed")).unwrap();
        assert!(matches!(verdict(Some(&failed), "abc"), Verdict::JobsFailed(p) if p.id == 7));
    }

    #[test]
    fn a_log_tail_is_cut_on_a_char_boundary() {
        assert_eq!(harness_base::text::tail("short", OUTPUT_MAX), "short");
        let log = format!("start{}", "é".repeat(3000));
        let end = harness_base::text::tail(&log, 4095);
        assert_eq!(end.len(), 4094);
        assert!(end.chars().all(|c| c == 'é'));
    }

    #[test]
    fn feedback_is_open_threads_and_comments_after_the_push() {
        let discussions: Vec<Discussion> = serde_json::from_str(
            r#"[
            {"id":"d1","individual_note":false,"notes":[
              {"id":1,"body":"use ?","author":{"username":"ann"},"created_at":"2026-01-01T11:00:00Z","system":false,
               "resolvable":true,"resolved":false,"position":{"new_path":"src/a.rs","new_line":12,"old_path":"src/a.rs","old_line":null}},
              {"id":2,"body":"done already","author":{"username":"bob"},"created_at":"2026-01-01T11:05:00Z","system":false,
               "resolvable":true,"resolved":true,"position":null}]},
            {"id":"d2","individual_note":true,"notes":[
              {"id":3,"body":"please add a test","author":{"username":"bob"},"created_at":"2026-01-01T12:00:00Z",
               "system":false,"resolvable":false,"resolved":false,"position":null}]},
            {"id":"d3","individual_note":true,"notes":[
              {"id":4,"body":"added 1 commit","author":{"username":"bot"},"created_at":"2026-01-01T12:00:00Z",
               "system":true,"resolvable":false,"resolved":false}]},
            {"id":"d4","individual_note":true,"notes":[
              {"id":5,"body":"old","author":{"username":"ann"},"created_at":"2026-01-01T09:00:00Z",
               "system":false,"resolvable":false,"resolved":false}]}]"#,
        )
        .unwrap();
        assert_eq!(
            requests_of(&discussions, at("2026-01-01T10:00:00Z")),
            vec![
                ChangeRequest {
                    author: "ann".into(),
                    body: "use ?".into(),
                    path: Some("src/a.rs".into()),
                    line: Some(12),
                    at: at("2026-01-01T11:00:00Z"),
                },
                ChangeRequest {
                    author: "bob".into(),
                    body: "please add a test".into(),
                    path: None,
                    line: None,
                    at: at("2026-01-01T12:00:00Z"),
                },
            ]
        );
        let approvals: Approvals = serde_json::from_str(
            r#"{"approved":true,"approvals_left":0,"approved_by":[{"user":{"username":"ann"}},{"user":{"username":"bob"}}]}"#,
        )
        .unwrap();
        assert_eq!(approvals.approved_by.len(), 2);
    }
}
