//! The fake forges against plain reqwest and real `git`: pushes over smart HTTP with
//! and without the token, pulls, duplicates, pagination, checks, reviews and real
//! merges, for GitHub, GitLab and Gitea.

use std::{
    path::Path,
    process::{Command, Output},
    time::Duration,
};

use harness_testkit::fake_forge::{CheckState, FakeForge, ForgeKind, PullState};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

const ALL: [ForgeKind; 3] = [ForgeKind::GitHub, ForgeKind::GitLab, ForgeKind::Gitea];

/// Runs git in `dir` with a test identity, no config of the machine and no prompts.
fn git_output(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("HOME", dir)
        .output()
        .expect("git runs")
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_output(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A working repository on `main` with one commit.
fn seed() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(dir.path().join("README.md"), "widgets\n").unwrap();
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "initial"]);
    dir
}

/// Commits `content` to `file` on a new branch `branch` off main and returns its sha.
fn commit_on_branch(dir: &Path, branch: &str, file: &str, content: &str) -> String {
    git(dir, &["checkout", "-q", "-B", branch, "main"]);
    std::fs::write(dir.join(file), content).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", &format!("change {file}")]);
    git(dir, &["rev-parse", "HEAD"])
}

fn client() -> Client {
    harness_base::http_client::client(harness_base::http_client::Timeouts {
        connect: Duration::from_secs(5),
        request: Some(Duration::from_secs(20)),
    })
    .unwrap()
}

fn owner_repo(kind: ForgeKind) -> &'static str {
    match kind {
        ForgeKind::GitLab => "acme/team/widgets",
        _ => "acme/widgets",
    }
}

struct Setup {
    seed: TempDir,
    forge: FakeForge,
    http: Client,
}

impl Setup {
    async fn new(kind: ForgeKind) -> Setup {
        let seed = seed();
        let forge = FakeForge::start(kind, owner_repo(kind), seed.path(), "main").await;
        Setup {
            seed,
            forge,
            http: client(),
        }
    }

    /// Pushes a new branch with one commit over HTTP with the token; returns its sha.
    fn push_branch(&self, branch: &str, file: &str, content: &str) -> String {
        let sha = commit_on_branch(self.seed.path(), branch, file, content);
        let url = self.forge.authed_git_url();
        git(
            self.seed.path(),
            &["push", "-q", &url, &format!("{branch}:{branch}")],
        );
        sha
    }

    /// The repository's API prefix.
    fn repo_url(&self) -> String {
        match self.forge.kind {
            ForgeKind::GitLab => format!("{}/projects/acme%2Fteam%2Fwidgets", self.forge.base_url),
            _ => format!("{}/repos/acme/widgets", self.forge.base_url),
        }
    }

    fn authed(&self, request: RequestBuilder) -> RequestBuilder {
        let token = &self.forge.token;
        match self.forge.kind {
            ForgeKind::GitHub => request.bearer_auth(token),
            ForgeKind::GitLab => request.header("PRIVATE-TOKEN", token),
            ForgeKind::Gitea => request.header("Authorization", format!("token {token}")),
        }
    }

    async fn get(&self, tail: &str) -> Response {
        let url = format!("{}{tail}", self.repo_url());
        self.authed(self.http.get(url)).send().await.unwrap()
    }

    async fn get_json(&self, tail: &str) -> Value {
        let response = self.get(tail).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {tail}");
        response.json().await.unwrap()
    }

    async fn send(&self, method: reqwest::Method, tail: &str, body: Value) -> Response {
        let url = format!("{}{tail}", self.repo_url());
        self.authed(self.http.request(method, url))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Opens a pull for `branch` into main through the API.
    async fn open_pull(&self, branch: &str) -> Response {
        let (tail, body) = match self.forge.kind {
            ForgeKind::GitLab => (
                "/merge_requests",
                json!({ "source_branch": branch, "target_branch": "main",
                        "title": format!("Add {branch}"), "description": "body" }),
            ),
            _ => (
                "/pulls",
                json!({ "head": branch, "base": "main", "title": format!("Add {branch}"), "body": "body" }),
            ),
        };
        self.send(reqwest::Method::POST, tail, body).await
    }

    /// Merges pull `number` through the API, expecting head `sha`.
    async fn merge_pull(&self, number: u64, sha: &str) -> Response {
        match self.forge.kind {
            ForgeKind::GitHub => {
                let tail = format!("/pulls/{number}/merge");
                let body = json!({ "sha": sha, "merge_method": "merge" });
                self.send(reqwest::Method::PUT, &tail, body).await
            }
            ForgeKind::GitLab => {
                let tail = format!("/merge_requests/{number}/merge");
                self.send(reqwest::Method::PUT, &tail, json!({ "sha": sha }))
                    .await
            }
            ForgeKind::Gitea => {
                let tail = format!("/pulls/{number}/merge");
                let body = json!({ "Do": "merge", "head_commit_id": sha });
                self.send(reqwest::Method::POST, &tail, body).await
            }
        }
    }

    fn pulls_tail(&self) -> &'static str {
        match self.forge.kind {
            ForgeKind::GitLab => "/merge_requests",
            _ => "/pulls",
        }
    }
}

#[tokio::test]
async fn pushes_need_the_token_and_can_be_refused() {
    let setup = Setup::new(ForgeKind::GitHub).await;
    let dir = setup.seed.path();
    let sha = commit_on_branch(dir, "feature", "a.txt", "a\n");

    let anonymous = git_output(dir, &["push", &setup.forge.git_url, "feature"]);
    assert!(
        !anonymous.status.success(),
        "a push without the token is refused"
    );
    let wrong = setup.forge.git_url.replace("http://", "http://user:wrong@");
    assert!(
        !git_output(dir, &["push", &wrong, "feature"])
            .status
            .success()
    );
    assert_eq!(setup.forge.branch_head("feature"), None);

    git(
        dir,
        &["push", "-q", &setup.forge.authed_git_url(), "feature"],
    );
    assert_eq!(
        setup.forge.branch_head("feature").as_deref(),
        Some(sha.as_str())
    );

    setup.forge.reject_pushes(true);
    std::fs::write(dir.join("a.txt"), "b\n").unwrap();
    git(dir, &["commit", "-q", "-am", "more"]);
    let refused = git_output(dir, &["push", &setup.forge.authed_git_url(), "feature"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403"));
    assert_eq!(
        setup.forge.branch_head("feature").as_deref(),
        Some(sha.as_str())
    );

    // Fetching needs no credentials: clone the base and the pushed branch back.
    let clone = tempfile::tempdir().unwrap();
    let target = clone.path().join("c");
    git(
        clone.path(),
        &[
            "clone",
            "-q",
            &setup.forge.git_url,
            target.to_str().unwrap(),
        ],
    );
    git(&target, &["fetch", "-q", "origin", "feature"]);
    assert_eq!(git(&target, &["rev-parse", "FETCH_HEAD"]), sha);
}

#[tokio::test]
async fn the_api_wants_the_token() {
    for kind in ALL {
        let setup = Setup::new(kind).await;
        let url = format!("{}{}", setup.repo_url(), setup.pulls_tail());
        let response = setup.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{kind:?}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains("nauthorized")
                || body["message"] == "Bad credentials"
        );
        setup.get_json(setup.pulls_tail()).await;
        let recorded = setup.forge.requests();
        assert_eq!(recorded.len(), 2);
        assert!(!recorded[0].authorized && recorded[1].authorized);
        assert!(
            recorded[1].path.ends_with(setup.pulls_tail()),
            "{}",
            recorded[1].path
        );
    }
}

#[tokio::test]
async fn pulls_are_created_once_per_head_and_need_the_branch() {
    for kind in ALL {
        let setup = Setup::new(kind).await;
        let sha = setup.push_branch("feature", "a.txt", "a\n");

        let created = setup.open_pull("feature").await;
        assert_eq!(created.status(), StatusCode::CREATED, "{kind:?}");
        let pull: Value = created.json().await.unwrap();
        let number_key = if kind == ForgeKind::GitLab {
            "iid"
        } else {
            "number"
        };
        assert_eq!(pull[number_key], 1);
        let head_sha = if kind == ForgeKind::GitLab {
            &pull["sha"]
        } else {
            &pull["head"]["sha"]
        };
        assert_eq!(head_sha, sha.as_str());
        let recorded = setup.forge.requests();
        assert_eq!(recorded[0].method, "POST");
        assert_eq!(recorded[0].body["title"], "Add feature");

        let duplicate = setup.open_pull("feature").await;
        let status = duplicate.status();
        let body: Value = duplicate.json().await.unwrap();
        match kind {
            ForgeKind::GitHub => {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
                let message = body["errors"][0]["message"].as_str().unwrap();
                assert!(message.contains("A pull request already exists for acme:feature"));
            }
            ForgeKind::GitLab => {
                assert_eq!(status, StatusCode::CONFLICT);
                assert!(
                    body["message"][0]
                        .as_str()
                        .unwrap()
                        .contains("already exists")
                );
            }
            ForgeKind::Gitea => {
                assert_eq!(status, StatusCode::CONFLICT);
                assert!(body["message"].as_str().unwrap().contains("already exists"));
            }
        }

        let missing = setup.open_pull("nope").await;
        assert!(missing.status().is_client_error(), "{kind:?}");

        let pulls = setup.forge.pulls();
        assert_eq!(pulls.len(), 1);
        assert_eq!(
            (pulls[0].state, pulls[0].head_sha.as_str()),
            (PullState::Open, sha.as_str())
        );

        // A later push moves the pull's head.
        let dir = setup.seed.path();
        std::fs::write(dir.join("a.txt"), "b\n").unwrap();
        git(dir, &["commit", "-q", "-am", "more"]);
        git(
            dir,
            &["push", "-q", &setup.forge.authed_git_url(), "feature"],
        );
        let newer = git(dir, &["rev-parse", "HEAD"]);
        let tail = format!("{}/1", setup.pulls_tail());
        let pull = setup.get_json(&tail).await;
        let head_sha = if kind == ForgeKind::GitLab {
            &pull["sha"]
        } else {
            &pull["head"]["sha"]
        };
        assert_eq!(head_sha, newer.as_str(), "{kind:?}");
    }
}

#[tokio::test]
async fn lists_are_paginated() {
    for kind in ALL {
        let setup = Setup::new(kind).await;
        for branch in ["one", "two", "three"] {
            setup.push_branch(branch, &format!("{branch}.txt"), branch);
            assert_eq!(setup.open_pull(branch).await.status(), StatusCode::CREATED);
        }
        let size = if kind == ForgeKind::Gitea {
            "limit"
        } else {
            "per_page"
        };
        let state = if kind == ForgeKind::GitLab {
            "opened"
        } else {
            "open"
        };
        let first = setup
            .get(&format!("{}?state={state}&{size}=2", setup.pulls_tail()))
            .await;
        let headers = first.headers().clone();
        let page: Vec<Value> = first.json().await.unwrap();
        assert_eq!(page.len(), 2, "{kind:?}");

        let next_url = if kind == ForgeKind::GitLab {
            assert_eq!(headers["x-next-page"], "2");
            assert_eq!(headers["x-total-pages"], "2");
            format!(
                "{}{}?state={state}&{size}=2&page=2",
                setup.repo_url(),
                setup.pulls_tail()
            )
        } else {
            next_link(&headers).expect("a next link")
        };
        assert!(next_url.starts_with(&setup.forge.base_url), "{next_url}");
        let second = setup
            .authed(setup.http.get(&next_url))
            .send()
            .await
            .unwrap();
        let headers = second.headers().clone();
        let rest: Vec<Value> = second.json().await.unwrap();
        assert_eq!(rest.len(), 1, "{kind:?}");
        assert_eq!(next_link(&headers), None);
        if kind == ForgeKind::GitLab {
            assert_eq!(headers["x-next-page"], "");
        }
        let mut titles: Vec<&str> = page
            .iter()
            .chain(&rest)
            .map(|p| p["title"].as_str().unwrap())
            .collect();
        titles.sort();
        assert_eq!(titles, ["Add one", "Add three", "Add two"]);
    }
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(',')
        .find(|l| l.contains("rel=\"next\""))
        .map(|l| {
            let start = l.find('<').unwrap() + 1;
            let end = l.find('>').unwrap();
            l[start..end].to_owned()
        })
}

#[tokio::test]
async fn a_failing_check_reads_back_per_forge() {
    for kind in ALL {
        let setup = Setup::new(kind).await;
        let sha = setup.push_branch("feature", "a.txt", "a\n");
        assert_eq!(
            setup.open_pull("feature").await.status(),
            StatusCode::CREATED
        );
        setup.forge.set_check(&sha, "lint", CheckState::Success);
        setup.forge.set_check(
            &sha,
            "test",
            CheckState::Failure {
                output: "assertion failed: 1 == 2".into(),
            },
        );
        match kind {
            ForgeKind::GitHub => {
                let runs = setup
                    .get_json(&format!("/commits/{sha}/check-runs?per_page=100"))
                    .await;
                assert_eq!(runs["total_count"], 2);
                let test = &runs["check_runs"][1];
                assert_eq!(
                    (test["name"].as_str(), test["status"].as_str()),
                    (Some("test"), Some("completed"))
                );
                assert_eq!(test["conclusion"], "failure");
                assert!(
                    test["output"]["text"]
                        .as_str()
                        .unwrap()
                        .contains("assertion failed")
                );
                let status = setup.get_json(&format!("/commits/{sha}/status")).await;
                assert_eq!(
                    (status["state"].as_str(), status["total_count"].as_u64()),
                    (Some("pending"), Some(0))
                );
            }
            ForgeKind::GitLab => {
                let mr = setup.get_json("/merge_requests/1").await;
                let pipeline = &mr["head_pipeline"];
                assert_eq!(
                    (pipeline["status"].as_str(), pipeline["sha"].as_str()),
                    (Some("failed"), Some(sha.as_str()))
                );
                let jobs = setup
                    .get_json(&format!("/pipelines/{}/jobs", pipeline["id"]))
                    .await;
                let failed: Vec<&Value> = jobs
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|j| j["status"] == "failed")
                    .collect();
                assert_eq!(failed.len(), 1);
                assert_eq!(failed[0]["name"], "test");
                let trace = setup.get(&format!("/jobs/{}/trace", failed[0]["id"])).await;
                assert!(trace.text().await.unwrap().contains("assertion failed"));
            }
            ForgeKind::Gitea => {
                let status = setup.get_json(&format!("/commits/{sha}/status")).await;
                assert_eq!(
                    (status["state"].as_str(), status["total_count"].as_u64()),
                    (Some("failure"), Some(2))
                );
                let test = &status["statuses"][1];
                assert_eq!(
                    (test["context"].as_str(), test["status"].as_str()),
                    (Some("test"), Some("failure"))
                );
                assert!(
                    test["description"]
                        .as_str()
                        .unwrap()
                        .contains("assertion failed")
                );
            }
        }
    }
}

#[tokio::test]
async fn reviews_read_back_per_forge() {
    for kind in ALL {
        let setup = Setup::new(kind).await;
        setup.push_branch("feature", "a.txt", "a\n");
        assert_eq!(
            setup.open_pull("feature").await.status(),
            StatusCode::CREATED
        );
        setup.forge.approve(1, "carol");
        setup
            .forge
            .request_changes(1, "alice", "Please fix", &[("a.txt", 1, "typo here")]);
        match kind {
            ForgeKind::GitHub => {
                let reviews = setup.get_json("/pulls/1/reviews").await;
                assert_eq!(reviews[0]["state"], "APPROVED");
                assert_eq!(reviews[1]["state"], "CHANGES_REQUESTED");
                assert_eq!(reviews[1]["body"], "Please fix");
                let comments = setup.get_json("/pulls/1/comments").await;
                assert_eq!(
                    (comments[0]["path"].as_str(), comments[0]["line"].as_u64()),
                    (Some("a.txt"), Some(1))
                );
                assert_eq!(comments[0]["pull_request_review_id"], reviews[1]["id"]);
            }
            ForgeKind::GitLab => {
                let discussions = setup.get_json("/merge_requests/1/discussions").await;
                let notes: Vec<&Value> = discussions
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| &d["notes"][0])
                    .collect();
                assert!(notes.iter().any(|n| n["system"] == true));
                let diff = notes.iter().find(|n| n["resolvable"] == true).unwrap();
                assert_eq!(
                    (diff["position"]["new_path"].as_str(), diff["body"].as_str()),
                    (Some("a.txt"), Some("typo here"))
                );
                assert!(
                    notes
                        .iter()
                        .any(|n| n["body"] == "Please fix" && n["resolvable"] == false)
                );
                let approvals = setup.get_json("/merge_requests/1/approvals").await;
                assert_eq!(approvals["approved_by"][0]["user"]["username"], "carol");
            }
            ForgeKind::Gitea => {
                let reviews = setup.get_json("/pulls/1/reviews").await;
                assert_eq!(reviews[1]["state"], "REQUEST_CHANGES");
                let id = &reviews[1]["id"];
                let comments = setup
                    .get_json(&format!("/pulls/1/reviews/{id}/comments"))
                    .await;
                assert_eq!(
                    (
                        comments[0]["path"].as_str(),
                        comments[0]["position"].as_u64()
                    ),
                    (Some("a.txt"), Some(1))
                );
            }
        }
    }
}

#[tokio::test]
async fn merging_through_the_api_moves_the_base() {
    for kind in ALL {
        let setup = Setup::new(kind).await;
        let old_base = setup.forge.branch_head("main").unwrap();
        let sha = setup.push_branch("feature", "a.txt", "a\n");
        assert_eq!(
            setup.open_pull("feature").await.status(),
            StatusCode::CREATED
        );

        let stale = setup.merge_pull(1, &old_base).await;
        assert_eq!(stale.status(), StatusCode::CONFLICT, "{kind:?}");

        let merged = setup.merge_pull(1, &sha).await;
        assert_eq!(merged.status(), StatusCode::OK, "{kind:?}");
        let base = setup.forge.branch_head("main").unwrap();
        let parents = git(
            setup.forge.repo_path(),
            &["rev-list", "--parents", "-n", "1", &base],
        );
        assert_eq!(parents, format!("{base} {old_base} {sha}"));

        let pull = setup.forge.pulls().remove(0);
        assert_eq!(
            (pull.state, pull.merge_commit.as_deref()),
            (PullState::Merged, Some(base.as_str()))
        );
        let shown = setup.get_json(&format!("{}/1", setup.pulls_tail())).await;
        assert_eq!(shown["merge_commit_sha"], base.as_str());
        if kind == ForgeKind::GitLab {
            assert_eq!(shown["state"], "merged");
        } else {
            assert_eq!(
                (shown["state"].as_str(), shown["merged"].as_bool()),
                (Some("closed"), Some(true))
            );
        }
    }
}

#[tokio::test]
async fn conflicts_are_not_mergeable() {
    for kind in ALL {
        let setup = Setup::new(kind).await;
        setup.push_branch("left", "same.txt", "left\n");
        let right = setup.push_branch("right", "same.txt", "right\n");
        assert_eq!(setup.open_pull("left").await.status(), StatusCode::CREATED);
        assert_eq!(setup.open_pull("right").await.status(), StatusCode::CREATED);
        setup.forge.merge(1);
        let base = setup.forge.branch_head("main");
        let response = setup.merge_pull(2, &right).await;
        let expected = if kind == ForgeKind::GitLab { 422 } else { 405 };
        assert_eq!(response.status().as_u16(), expected, "{kind:?}");
        assert_eq!(setup.forge.branch_head("main"), base);
        setup.forge.close(2);
        assert_eq!(setup.forge.pulls()[1].state, PullState::Closed);
    }
}

#[tokio::test]
async fn injected_failures_and_rate_limits() {
    for kind in ALL {
        let setup = Setup::new(kind).await;
        setup.forge.fail_next("GET", setup.pulls_tail(), 429, 1);
        let limited = setup.get(setup.pulls_tail()).await;
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers()["retry-after"], "1");
        assert!(limited.json::<Value>().await.unwrap()["message"].is_string());
        setup.forge.fail_next("GET", setup.pulls_tail(), 502, 2);
        assert_eq!(
            setup.get(setup.pulls_tail()).await.status(),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            setup.get(setup.pulls_tail()).await.status(),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(setup.get(setup.pulls_tail()).await.status(), StatusCode::OK);
    }
    let setup = Setup::new(ForgeKind::GitHub).await;
    setup.forge.rate_limit_next("GET", "/pulls", 1);
    let limited = setup.get("/pulls").await;
    assert_eq!(limited.status(), StatusCode::FORBIDDEN);
    assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
    assert!(limited.headers().contains_key("x-ratelimit-reset"));
}

#[tokio::test]
async fn webhook_signatures() {
    let seed = seed();
    let body = br#"{"action":"opened"}"#;
    let github = FakeForge::start(ForgeKind::GitHub, "acme/widgets", seed.path(), "main").await;
    let (name, value) = github.webhook_signature(body);
    assert_eq!(name, "X-Hub-Signature-256");
    assert!(value.starts_with("sha256=") && value.len() == 7 + 64);
    let gitea = FakeForge::start(ForgeKind::Gitea, "acme/widgets", seed.path(), "main").await;
    assert_eq!(
        gitea.webhook_signature(body),
        ("X-Gitea-Signature", value[7..].to_owned())
    );
    let gitlab =
        FakeForge::start(ForgeKind::GitLab, "acme/team/widgets", seed.path(), "main").await;
    assert_eq!(
        gitlab.webhook_signature(body),
        ("X-Gitlab-Token", gitlab.webhook_secret.clone())
    );
}

#[tokio::test]
async fn a_large_gzipped_fetch_negotiation_is_inflated() {
    let setup = Setup::new(ForgeKind::Gitea).await;
    let clone = tempfile::tempdir().unwrap();
    let target = clone.path().join("c");
    git(
        clone.path(),
        &[
            "clone",
            "-q",
            &setup.forge.git_url,
            target.to_str().unwrap(),
        ],
    );
    // Many commits the server lacks make the client send many "have" lines, and git
    // gzips a negotiation request over 1 KiB.
    for i in 0..150 {
        git(
            &target,
            &["commit", "-q", "--allow-empty", "-m", &format!("local {i}")],
        );
    }
    let sha = setup.push_branch("feature", "a.txt", "a\n");
    git(&target, &["fetch", "-q", "origin", "feature"]);
    assert_eq!(git(&target, &["rev-parse", "FETCH_HEAD"]), sha);
}
