//! Review before landing: verified work waits in `review`, a person comments on its
//! lines, asks for changes (the agent's conversation continues with them), approves
//! (it lands) or rejects (blocked, the branch kept).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    fake_anthropic::{FakeAnthropic, Reply, Scripted},
    fast_engine, git_repo,
    helpers::{TestApp, json_with, spawn_with},
    history_of, status_is, wait_for_task,
};

fn write_and_complete(content: &str, summary: &str) -> [Scripted; 2] {
    [
        Reply::tool(
            "write_file",
            json!({"path": "src/greeting.txt", "content": content}),
        ),
        Reply::tool("complete_task", json!({"summary": summary})),
    ]
}

async fn post_json(app: &TestApp, path: &str, body: Value, status: StatusCode) -> Value {
    json_with(app.post(path, body).await, status).await
}

#[tokio::test]
async fn reviewed_work_waits_then_a_change_request_continues_the_conversation_then_approval_lands()
{
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake =
        FakeAnthropic::start(write_and_complete("first draft\n", "wrote a draft").to_vec()).await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        s.engine.verify = vec!["test -s src/greeting.txt".into()];
    })
    .await;
    let task = app
        .create_task(json!({"title": "Add a greeting", "land": "review"}))
        .await;
    assert_eq!(task["land"], "review");
    let id = task["id"].clone();

    let waiting = wait_for_task(&app, &id, status_is("review")).await;
    assert_eq!(waiting["outcome"]["kind"], "in_review");
    let first_head = waiting["outcome"]["commit"].as_str().unwrap().to_owned();
    assert_eq!(waiting["outcome"]["branch"], format!("harness/T-{id}"));
    let main_files = git_repo::git(&path, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(
        !main_files.contains("greeting"),
        "work in review must not land: {main_files}"
    );

    // The diff a person reviews.
    let diff = json_with(
        app.get(&format!("/api/tasks/{id}/diff")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(diff["head_commit"], first_head.as_str());
    assert_eq!(diff["base"], "main");
    let files = diff["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{diff}");
    assert_eq!(files[0]["path"], "src/greeting.txt");
    assert_eq!(files[0]["status"], "added");
    assert_eq!(files[0]["additions"], 1);
    assert!(files[0]["patch"].as_str().unwrap().contains("+first draft"));

    // Comments: on a line that exists, and refused on one that does not.
    let comments = format!("/api/tasks/{id}/comments");
    let comment = post_json(
        &app,
        &comments,
        json!({"path": "src/greeting.txt", "line": 1, "body": "Say hello, not draft"}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(comment["line_text"], "first draft");
    assert_eq!(comment["side"], "new");
    assert_eq!(comment["commit"], first_head.as_str());
    for (body, field) in [
        (
            json!({"path": "src/greeting.txt", "line": 2, "body": "x"}),
            "line",
        ),
        (json!({"path": "README.md", "line": 1, "body": "x"}), "path"),
        (
            json!({"path": "../etc/passwd", "line": 1, "body": "x"}),
            "path",
        ),
        (
            json!({"path": "src/greeting.txt", "line": 0, "body": "x"}),
            "line",
        ),
        (
            json!({"path": "src/greeting.txt", "line": 1, "body": " "}),
            "body",
        ),
    ] {
        let refused = post_json(
            &app,
            &comments,
            body.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(refused["error"]["field"], field, "{body}: {refused}");
    }

    // Changes requested: the agent's conversation continues with the comment.
    let before = fake.request_count();
    fake.push(write_and_complete("hello, world\n", "said hello"));
    let sent_back = post_json(
        &app,
        &format!("/api/tasks/{id}/review"),
        json!({"action": "request_changes", "message": "Make it friendlier."}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(sent_back["status"], "pending");
    assert!(
        sent_back["follow_up"]
            .as_str()
            .unwrap()
            .contains("Say hello, not draft")
    );
    let again = wait_for_task(&app, &id, |t| {
        t["status"] == "review" && t["outcome"]["commit"] != first_head.as_str()
    })
    .await;
    let follow_up = fake.requests()[before].body.to_string();
    for expected in [
        "Make it friendlier.",
        "Say hello, not draft",
        "> first draft",
        "wrote a draft",
    ] {
        assert!(
            follow_up.contains(expected),
            "the follow-up request lacks {expected:?}: {follow_up}"
        );
    }
    assert!(again["follow_up"].is_null(), "the follow-up is used up");
    let listed = json_with(app.get(&comments).await, StatusCode::OK).await;
    assert_eq!(listed["items"][0]["outdated"], true, "{listed}");

    // Approved: it lands without the agent, as the reviewed commit.
    let asked = fake.request_count();
    post_json(
        &app,
        &format!("/api/tasks/{id}/review"),
        json!({"action": "approve"}),
        StatusCode::OK,
    )
    .await;
    let done = wait_for_task(&app, &id, status_is("completed")).await;
    assert_eq!(done["outcome"]["kind"], "landed");
    assert_eq!(done["attempts"], 2, "landing an approval uses no attempt");
    assert_eq!(
        fake.request_count(),
        asked,
        "no agent runs to land an approval"
    );
    assert_eq!(
        git_repo::git(&path, &["show", "main:src/greeting.txt"]),
        "hello, world"
    );
    let statuses: Vec<String> = history_of(&app, &task)
        .await
        .into_iter()
        .map(|(_, to)| to)
        .collect();
    assert_eq!(
        statuses,
        [
            "pending",
            "in_progress",
            "verifying",
            "review",
            "pending",
            "in_progress",
            "verifying",
            "review",
            "pending",
            "in_progress",
            "verifying",
            "completed"
        ]
    );
    let late = app
        .post(
            &format!("/api/tasks/{id}/review"),
            json!({"action": "approve"}),
        )
        .await;
    assert_eq!(late.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn rejected_work_blocks_the_task_and_keeps_its_branch_and_a_message_sends_it_back() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(write_and_complete("nope\n", "done").to_vec()).await;
    let app = spawn_with(|s| fast_engine(s, &path, Some(&fake.base_url))).await;
    let task = app
        .create_task(json!({"title": "Add a greeting", "land": "review"}))
        .await;
    let id = task["id"].clone();
    let review = format!("/api/tasks/{id}/review");

    let waiting = wait_for_task(&app, &id, status_is("review")).await;
    let head = waiting["outcome"]["commit"].as_str().unwrap().to_owned();

    let no_reason = post_json(
        &app,
        &review,
        json!({"action": "reject"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(no_reason["error"]["field"], "message");
    let nothing_asked = post_json(
        &app,
        &review,
        json!({"action": "request_changes"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(nothing_asked["error"]["field"], "message");
    let unknown = app.post(&review, json!({"action": "merge"})).await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let blocked = post_json(
        &app,
        &review,
        json!({"action": "reject", "message": "Wrong approach"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(blocked["status"], "blocked");
    assert!(
        blocked["last_failure"]
            .as_str()
            .unwrap()
            .contains("Wrong approach")
    );
    let branch = git_repo::git(&path, &["rev-parse", &format!("refs/heads/harness/T-{id}")]);
    assert_eq!(branch, head, "the rejected work stays on its branch");
    let again = app.post(&review, json!({"action": "approve"})).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    // A message to the blocked task's agent sends it back to work with it.
    fake.push(write_and_complete("better\n", "took another approach"));
    let before = fake.request_count();
    let sent = post_json(
        &app,
        &format!("/api/tasks/{id}/messages"),
        json!({"message": "Try a plain greeting instead."}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(sent["status"], "pending");
    wait_for_task(&app, &id, |t| {
        t["status"] == "review" && t["outcome"]["commit"] != head.as_str()
    })
    .await;
    let resumed = fake.requests()[before].body.to_string();
    assert!(
        resumed.contains("Try a plain greeting instead."),
        "{resumed}"
    );

    let pending_task = app.create_task(json!({"title": "Not started"})).await;
    let not_in_review = app
        .post(
            &format!("/api/tasks/{}/review", pending_task["id"]),
            json!({"action": "approve"}),
        )
        .await;
    assert_eq!(not_in_review.status(), StatusCode::CONFLICT);
    let not_finished = app
        .post(
            &format!("/api/tasks/{}/messages", pending_task["id"]),
            json!({"message": "hi"}),
        )
        .await;
    assert_eq!(not_finished.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_landing_policy_the_harness_does_not_have_is_refused_by_name() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| fast_engine(s, &path, None)).await;
    for land in ["pull_request", "merge"] {
        let refused = post_json(
            &app,
            "/api/tasks",
            json!({"title": "x", "land": land}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("land")
                || refused["error"]["field"] == "land",
            "{refused}"
        );
    }
    let task = app.create_task(json!({"title": "x"})).await;
    assert!(task["land"].is_null());
    let patched = json_with(
        app.patch(
            &format!("/api/tasks/{}", task["id"]),
            json!({"land": "review"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["land"], "review");
    let no_branch = app.get(&format!("/api/tasks/{}/diff", task["id"])).await;
    assert_eq!(no_branch.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn work_in_review_keeps_its_worktree_and_branch_past_the_retention() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(write_and_complete("kept\n", "done").to_vec()).await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        s.engine.worktree_retention = Duration::ZERO;
    })
    .await;
    let task = app
        .create_task(json!({"title": "Wait for me", "land": "review"}))
        .await;
    let id = task["id"].clone();
    let waiting = wait_for_task(&app, &id, status_is("review")).await;
    // Several prune passes (one per tick at a zero retention) go by.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        app.dir
            .path()
            .join(format!("data/worktrees/T-{id}"))
            .exists()
    );
    assert_eq!(
        git_repo::git(&path, &["rev-parse", &format!("refs/heads/harness/T-{id}")]),
        waiting["outcome"]["commit"].as_str().unwrap()
    );
    post_json(
        &app,
        &format!("/api/tasks/{id}/review"),
        json!({"action": "approve"}),
        StatusCode::OK,
    )
    .await;
    wait_for_task(&app, &id, status_is("completed")).await;
    assert_eq!(
        git_repo::git(&path, &["show", "main:src/greeting.txt"]),
        "kept"
    );
}
