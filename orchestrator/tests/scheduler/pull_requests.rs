//! `land = "pull_request"` end to end, on each forge's stand-in: the verified branch is
//! pushed to a real git remote (smart HTTP) and a pull request opened; a failing check
//! becomes a fix round pushed to the same pull request; once checks pass and it is
//! approved and merged, the task completes with the merge commit. A pull request closed
//! unmerged blocks the task; a forge or remote that refuses loses nothing.

use std::time::Duration;

use harness::config::{ForgeKind as Kind, ForgeRepo, ForgeSettings, PullRequestSettings, Secret};
use harness_testkit::fake_forge::{CheckState, FakeForge, ForgeKind, PullState};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    fake_anthropic::{FakeAnthropic, Reply, Scripted},
    fast_engine, git_repo,
    helpers::{TestApp, json_with, spawn_with},
    status_is, wait_for_task,
};

struct Setup {
    app: TestApp,
    forge: FakeForge,
    fake: FakeAnthropic,
    path: std::path::PathBuf,
    _repo: tempfile::TempDir,
}

fn write(content: &str) -> [Scripted; 2] {
    [
        Reply::tool("write_file", json!({"path": "a.txt", "content": content})),
        Reply::tool("complete_task", json!({"summary": "wrote a.txt"})),
    ]
}

async fn setup(kind: ForgeKind, auto_merge: bool) -> Setup {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let forge = FakeForge::start(kind, "acme/widgets", &path, "main").await;
    git_repo::git(&path, &["remote", "add", "origin", &forge.git_url]);
    let fake = FakeAnthropic::start(write("one\n").to_vec()).await;
    let settings = PullRequestSettings {
        forge: ForgeSettings {
            kind: match kind {
                ForgeKind::GitHub => Kind::GitHub,
                ForgeKind::GitLab => Kind::GitLab,
                ForgeKind::Gitea => Kind::Gitea,
            },
            api_url: forge.base_url.clone(),
            repo: ForgeRepo::parse("acme/widgets").unwrap(),
            token: Secret::new(forge.token.clone()),
            remote: "origin".into(),
            timeout: Duration::from_secs(10),
        },
        fix_rounds: 2,
        poll: Duration::from_millis(100),
        auto_merge,
        required_approvals: 1,
        webhook_secret: Some(Secret::new(forge.webhook_secret.clone())),
    };
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        s.engine.verify = vec!["test -s a.txt".into()];
        s.engine.pull_requests = Some(settings);
    })
    .await;
    Setup {
        app,
        forge,
        fake,
        path,
        _repo: repo,
    }
}

async fn pull_request_task(s: &Setup) -> Value {
    s.app
        .create_task(json!({
            "title": "Write a",
            "description": "Put one in a.txt.",
            "pass_criteria": ["a.txt is not empty"],
            "land": "pull_request"
        }))
        .await
}

/// Waits until the task's pull request is open at a commit other than `not`.
async fn opened_at(s: &Setup, id: &Value, not: Option<&str>) -> Value {
    wait_for_task(&s.app, id, |t| {
        t["status"] == "review"
            && t["pull_request"]["commit"].is_string()
            && t["pull_request"]["commit"] == t["outcome"]["commit"]
            && t["pull_request"]["commit"].as_str() != not
    })
    .await
}

async fn a_failing_check_is_fixed_then_the_merge_completes_the_task(kind: ForgeKind) {
    let s = setup(kind, false).await;
    let task = pull_request_task(&s).await;
    let id = task["id"].clone();

    let opened = opened_at(&s, &id, None).await;
    let first = opened["pull_request"]["commit"]
        .as_str()
        .unwrap()
        .to_owned();
    let number = opened["pull_request"]["number"].as_u64().unwrap();
    let pulls = s.forge.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let pull = &pulls[0];
    assert_eq!((pull.number, pull.state), (number, PullState::Open));
    assert_eq!(pull.head, format!("harness/T-{id}"));
    assert_eq!(pull.base, "main");
    assert_eq!(pull.head_sha, first, "the verified commit was pushed");
    for expected in [
        "Write a",
        "Put one in a.txt.",
        "a.txt is not empty",
        "Verification",
        "Cost",
    ] {
        assert!(
            pull.body.contains(expected),
            "{expected:?} not in {}",
            pull.body
        );
    }
    assert_eq!(
        git_repo::git(&s.path, &["rev-parse", "main"]),
        git_repo::git(&s.path, &["rev-parse", "HEAD"]),
    );
    assert!(
        !git_repo::git(&s.path, &["ls-tree", "--name-only", "main"]).contains("a.txt"),
        "nothing lands locally while the pull request is open"
    );

    // A failing check: a fix round on the same branch, pushed to the same pull request.
    s.fake.push(write("two\n"));
    s.forge.set_check(
        &first,
        "unit-tests",
        CheckState::Failure {
            output: "test_two_lines failed: expected two".into(),
        },
    );
    let fixed = opened_at(&s, &id, Some(&first)).await;
    assert_eq!(
        fixed["pull_request"]["number"], number,
        "the same pull request"
    );
    assert_eq!(fixed["pull_request"]["fix_rounds"], 1);
    let second = fixed["pull_request"]["commit"].as_str().unwrap().to_owned();
    assert_eq!(
        s.forge.branch_head(&format!("harness/T-{id}")).as_deref(),
        Some(second.as_str())
    );
    assert_eq!(s.forge.pulls().len(), 1, "no second pull request");
    assert!(
        s.fake.requests().iter().any(|r| r
            .body
            .to_string()
            .contains("test_two_lines failed: expected two")),
        "the agent got the failing check's output"
    );

    // Checks pass, a reviewer approves, the pull request is merged on the forge.
    s.forge
        .set_check(&second, "unit-tests", CheckState::Success);
    s.forge.approve(number, "reviewer");
    let merge = s.forge.merge(number);
    let done = wait_for_task(&s.app, &id, status_is("completed")).await;
    assert_eq!(done["outcome"], json!({"kind": "landed", "commit": merge}));
    assert_eq!(done["pull_request"]["fix_rounds"], 1);
    // The workspace's base follows the forge's, so the next attempt starts from it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while git_repo::git(&s.path, &["rev-parse", "main"]) != merge {
        assert!(
            std::time::Instant::now() < deadline,
            "main never reached {merge}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(git_repo::git(&s.path, &["show", "main:a.txt"]), "two");
}

#[tokio::test]
async fn github_a_failing_check_is_fixed_then_the_merge_completes_the_task() {
    a_failing_check_is_fixed_then_the_merge_completes_the_task(ForgeKind::GitHub).await;
}

#[tokio::test]
async fn gitlab_a_failing_pipeline_is_fixed_then_the_merge_completes_the_task() {
    a_failing_check_is_fixed_then_the_merge_completes_the_task(ForgeKind::GitLab).await;
}

#[tokio::test]
async fn gitea_a_failing_status_is_fixed_then_the_merge_completes_the_task() {
    a_failing_check_is_fixed_then_the_merge_completes_the_task(ForgeKind::Gitea).await;
}

async fn closed_unmerged_blocks_the_task(kind: ForgeKind) {
    let s = setup(kind, false).await;
    let task = pull_request_task(&s).await;
    let id = task["id"].clone();
    let opened = opened_at(&s, &id, None).await;
    let number = opened["pull_request"]["number"].as_u64().unwrap();
    s.forge.close(number);
    let blocked = wait_for_task(&s.app, &id, status_is("blocked")).await;
    let why = blocked["last_failure"].as_str().unwrap();
    assert!(why.contains("closed without merging"), "{why}");
    assert_eq!(
        git_repo::git(
            &s.path,
            &["rev-parse", &format!("refs/heads/harness/T-{id}")]
        ),
        opened["pull_request"]["commit"].as_str().unwrap(),
        "the verified branch stays"
    );
}

#[tokio::test]
async fn github_a_pull_request_closed_unmerged_blocks_the_task() {
    closed_unmerged_blocks_the_task(ForgeKind::GitHub).await;
}

#[tokio::test]
async fn gitlab_a_merge_request_closed_unmerged_blocks_the_task() {
    closed_unmerged_blocks_the_task(ForgeKind::GitLab).await;
}

#[tokio::test]
async fn gitea_a_pull_request_closed_unmerged_blocks_the_task() {
    closed_unmerged_blocks_the_task(ForgeKind::Gitea).await;
}

#[tokio::test]
async fn with_auto_merge_the_harness_merges_once_checks_pass_and_it_is_approved() {
    let s = setup(ForgeKind::GitHub, true).await;
    let task = pull_request_task(&s).await;
    let id = task["id"].clone();
    let opened = opened_at(&s, &id, None).await;
    let number = opened["pull_request"]["number"].as_u64().unwrap();
    let head = opened["pull_request"]["commit"]
        .as_str()
        .unwrap()
        .to_owned();
    s.forge.set_check(&head, "ci", CheckState::Success);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let still = json_with(s.app.get(&format!("/api/tasks/{id}")).await, StatusCode::OK).await;
    assert_eq!(still["status"], "review", "no merge without the approval");
    s.forge.approve(number, "reviewer");
    let done = wait_for_task(&s.app, &id, status_is("completed")).await;
    let pull = s.forge.pulls().into_iter().next().unwrap();
    assert_eq!(pull.state, PullState::Merged);
    assert_eq!(
        done["outcome"]["commit"],
        pull.merge_commit.unwrap().as_str()
    );
    assert!(
        s.forge
            .requests()
            .iter()
            .any(|r| r.method == "PUT" && r.path.ends_with("/merge")),
        "merged through the API"
    );
}

#[tokio::test]
async fn a_forge_or_remote_that_refuses_loses_nothing_and_the_harness_tries_again() {
    let s = setup(ForgeKind::Gitea, false).await;
    s.forge.reject_pushes(true);
    s.forge.fail_next("POST", "/pulls", 401, 1);
    let task = pull_request_task(&s).await;
    let id = task["id"].clone();
    let waiting = wait_for_task(&s.app, &id, status_is("review")).await;
    let commit = waiting["outcome"]["commit"].as_str().unwrap().to_owned();
    let problem = crate::wait_for(&s.app, "/api/events?type=task.pull_request_problem", |e| {
        e["items"].as_array().is_some_and(|items| !items.is_empty())
    })
    .await;
    assert_eq!(problem["items"][0]["task_id"], id);
    let said = problem["items"][0]["payload"]["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(said.contains("push was refused"), "{said}");
    assert!(s.forge.pulls().is_empty());
    assert_eq!(
        git_repo::git(
            &s.path,
            &["rev-parse", &format!("refs/heads/harness/T-{id}")]
        ),
        commit,
        "the verified branch is kept"
    );

    // The remote takes pushes again; the forge refuses the token once, then opens it.
    s.forge.reject_pushes(false);
    let opened = opened_at(&s, &id, None).await;
    assert_eq!(opened["pull_request"]["commit"], commit.as_str());
    assert_eq!(s.forge.pulls().len(), 1);
    let events = json_with(
        s.app
            .get("/api/events?type=task.pull_request_problem")
            .await,
        StatusCode::OK,
    )
    .await;
    let reasons: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("refused the token")),
        "the 401 was said: {reasons:?}"
    );
}

#[tokio::test]
async fn the_webhook_is_believed_only_with_the_forges_signature() {
    let s = setup(ForgeKind::GitHub, false).await;
    let body = br#"{"action":"completed"}"#;
    let (name, value) = s.forge.webhook_signature(body);
    let post = |headers: Vec<(&'static str, String)>| {
        let request = s.app.client.post(s.app.url("/api/forge/webhook"));
        async move {
            let mut request = request.body(body.to_vec());
            for (k, v) in headers {
                request = request.header(k, v);
            }
            request.send().await.unwrap().status()
        }
    };
    assert_eq!(post(vec![]).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        post(vec![(name, "sha256=00".into())]).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(post(vec![(name, value)]).await, StatusCode::NO_CONTENT);
}

async fn a_reviewers_change_request_becomes_a_fix_round(kind: ForgeKind) {
    let s = setup(kind, false).await;
    let task = pull_request_task(&s).await;
    let id = task["id"].clone();
    let opened = opened_at(&s, &id, None).await;
    let first = opened["pull_request"]["commit"]
        .as_str()
        .unwrap()
        .to_owned();
    let number = opened["pull_request"]["number"].as_u64().unwrap();
    s.fake.push(write("one, politely\n"));
    s.forge.request_changes(
        number,
        "reviewer",
        "Please be more polite.",
        &[("a.txt", 1, "Say please here")],
    );
    let fixed = opened_at(&s, &id, Some(&first)).await;
    assert_eq!(fixed["pull_request"]["fix_rounds"], 1);
    let asked = s
        .fake
        .requests()
        .iter()
        .map(|r| r.body.to_string())
        .find(|b| b.contains("Say please here"))
        .unwrap_or_else(|| panic!("the line comment never reached the agent"));
    assert!(asked.contains("a.txt, line 1"), "{asked}");
    // The same request is not acted on twice: it was made before the new push.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let still = json_with(s.app.get(&format!("/api/tasks/{id}")).await, StatusCode::OK).await;
    assert_eq!(still["pull_request"]["fix_rounds"], 1, "{still}");
    assert_eq!(still["status"], "review");
}

#[tokio::test]
async fn github_a_reviewers_change_request_becomes_a_fix_round() {
    a_reviewers_change_request_becomes_a_fix_round(ForgeKind::GitHub).await;
}

#[tokio::test]
async fn gitlab_an_open_discussion_becomes_a_fix_round() {
    a_reviewers_change_request_becomes_a_fix_round(ForgeKind::GitLab).await;
}

#[tokio::test]
async fn gitea_a_reviewers_change_request_becomes_a_fix_round() {
    a_reviewers_change_request_becomes_a_fix_round(ForgeKind::Gitea).await;
}

#[tokio::test]
async fn a_pull_request_that_keeps_failing_blocks_the_task_after_its_fix_rounds() {
    let s = setup(ForgeKind::GitHub, false).await;
    let task = pull_request_task(&s).await;
    let id = task["id"].clone();
    let mut head: Option<String> = None;
    for round in 0..=2 {
        let opened = opened_at(&s, &id, head.as_deref()).await;
        assert_eq!(opened["pull_request"]["fix_rounds"], round);
        let commit = opened["pull_request"]["commit"]
            .as_str()
            .unwrap()
            .to_owned();
        s.fake.push(write(&format!("try {round}\n")));
        let red = CheckState::Failure {
            output: "still red".into(),
        };
        // A check run, or (round 1) a classic commit status from an older CI: both
        // count as failing checks.
        if round == 1 {
            s.forge.set_status(&commit, "ci/legacy", red);
        } else {
            s.forge.set_check(&commit, "ci", red);
        }
        head = Some(commit);
    }
    let blocked = wait_for_task(&s.app, &id, status_is("blocked")).await;
    let why = blocked["last_failure"].as_str().unwrap();
    assert!(why.contains("after 2 fix rounds"), "{why}");
}

#[tokio::test]
async fn a_forge_that_errs_or_rate_limits_is_waited_out_and_said_once_per_reason() {
    let s = setup(ForgeKind::GitLab, false).await;
    s.forge.fail_next("POST", "/merge_requests", 422, 1);
    s.forge.fail_next("GET", "/merge_requests/1", 500, 2);
    s.forge.rate_limit_next("GET", "/discussions", 1);
    let task = pull_request_task(&s).await;
    let id = task["id"].clone();
    let opened = opened_at(&s, &id, None).await;
    let head = opened["pull_request"]["commit"]
        .as_str()
        .unwrap()
        .to_owned();
    s.forge.set_check(&head, "build", CheckState::Success);
    let seen = wait_for_task(&s.app, &id, |t| t["pull_request"]["checks"] == "passed").await;
    assert!(seen["pull_request"]["problem"].is_null(), "{seen}");
    let events = json_with(
        s.app
            .get("/api/events?type=task.pull_request_problem")
            .await,
        StatusCode::OK,
    )
    .await;
    let reasons: Vec<String> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["reason"].as_str().unwrap().to_owned())
        .collect();
    assert!(reasons.iter().any(|r| r.contains("(422)")), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("rate limit")),
        "{reasons:?}"
    );
    assert_eq!(
        reasons.iter().filter(|r| r.contains("unavailable")).count(),
        1,
        "two 500s in a row are said once: {reasons:?}"
    );
    assert_eq!(s.forge.pulls().len(), 1);
    assert_eq!(seen["status"], "review");
}
