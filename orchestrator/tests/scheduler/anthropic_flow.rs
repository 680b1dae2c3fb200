//! Tasks run by `anthropic` agents against the fake Messages API.

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    fake_anthropic::{FakeAnthropic, Reply, Scripted},
    fast_engine, git_repo,
    helpers::{json_with, spawn_with},
    history_of, logs_of, scheduler_passed_over, sessions_of, status_is, wait_for_task,
};

#[tokio::test]
async fn a_task_goes_from_pending_through_tools_commit_and_verification_to_merged() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(vec![
        Reply::tool(
            "write_file",
            json!({"path": "src/greeting.txt", "content": "hi from the agent\n"}),
        ),
        Reply::tool("complete_task", json!({"summary": "added the greeting"})),
    ])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        s.engine.verify = vec!["grep 'hi from the agent' src/greeting.txt".into()];
    })
    .await;

    let task = app
        .create_task(
            json!({"title": "Add a greeting", "pass_criteria": ["src/greeting.txt exists"]}),
        )
        .await;
    let done = wait_for_task(&app, &task["id"], status_is("completed")).await;
    assert_eq!(done["attempts"], 1);

    let merged = git_repo::git(&path, &["show", "main:src/greeting.txt"]);
    assert_eq!(merged, "hi from the agent");
    assert_eq!(
        history_of(&app, &task).await,
        [
            ("", "pending"),
            ("pending", "in_progress"),
            ("in_progress", "verifying"),
            ("verifying", "completed")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );

    // The session is finished in a write after the task's transition (scheduler
    // settle), so wait for it as the cancel test does rather than read it at once.
    let sessions = crate::ended_sessions(&app, &task).await;
    assert_eq!(sessions.len(), 1);
    let session = &sessions[0];
    assert_eq!(session["status"], "succeeded");
    assert!(
        session["commit_sha"]
            .as_str()
            .is_some_and(|s| s.len() == 40)
    );
    assert!(session["input_tokens"].as_u64().unwrap() > 0);
    assert!(session["cost_usd"].as_f64().unwrap() > 0.0);
    let kinds: Vec<String> = logs_of(&app, session)
        .await
        .iter()
        .map(|l| l["kind"].as_str().unwrap().to_owned())
        .collect();
    for kind in ["tool_call", "tool_result", "commit", "diff", "output"] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "no {kind} line in {kinds:?}"
        );
    }
    // The system prompt was sent with prompt caching.
    let first = &fake.requests()[0].body;
    assert!(
        first.to_string().contains("ephemeral"),
        "no cache_control in {first}"
    );
    assert!(
        first.to_string().contains("src/greeting.txt exists"),
        "pass criteria missing from the prompt"
    );
}

#[tokio::test]
async fn failing_verification_is_retried_with_the_failure_then_blocked_and_investigated_once() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(vec![
        Reply::tool("write_file", json!({"path": "a.txt", "content": "one"})),
        Reply::tool("complete_task", json!({"summary": "first try"})),
        Reply::tool("write_file", json!({"path": "a.txt", "content": "two"})),
        Reply::tool("complete_task", json!({"summary": "second try"})),
        Reply::tool(
            "complete_task",
            json!({"summary": "ROOT CAUSE: the check looks for a file nobody writes"}),
        ),
    ])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        s.engine.verify = vec!["echo 'expected the-missing-file'; test -f the-missing-file".into()];
    })
    .await;

    let task = app
        .create_task(json!({"title": "Impossible", "max_attempts": 2}))
        .await;
    let blocked = wait_for_task(&app, &task["id"], |t| {
        t["status"] == "blocked" && !t["diagnosis"].is_null()
    })
    .await;
    assert_eq!(blocked["attempts"], 2);
    assert!(
        blocked["diagnosis"]
            .as_str()
            .unwrap()
            .contains("ROOT CAUSE")
    );
    assert!(
        blocked["last_failure"]
            .as_str()
            .unwrap()
            .contains("the-missing-file")
    );

    // The second attempt's prompt carried the first attempt's verification output.
    let requests = fake.requests();
    assert!(
        requests[2]
            .body
            .to_string()
            .contains("expected the-missing-file"),
        "the retry prompt lacks the failure: {}",
        requests[2].body
    );
    let steps = history_of(&app, &task).await;
    let failed = steps.iter().filter(|(_, to)| to == "failed").count();
    assert_eq!(failed, 2, "{steps:?}");
    assert_eq!(steps.last().unwrap().1, "blocked");

    let sessions = sessions_of(&app, &task).await;
    let investigations = sessions
        .iter()
        .filter(|s| s["purpose"] == "investigation")
        .count();
    assert_eq!(investigations, 1);
    let events = json_with(
        app.get("/api/events?type=task.blocked").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(events["items"].as_array().unwrap().len(), 1);
    scheduler_passed_over(&app).await;
    assert_eq!(fake.request_count(), 5, "nothing ran after blocking");
}

#[tokio::test]
async fn a_storm_of_rate_limits_delays_the_task_but_never_fails_it() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let mut script: Vec<Scripted> = (0..4)
        .map(|_| Scripted::RateLimited {
            retry_after: Some("0".into()),
            reset_in: None,
        })
        .collect();
    script.push(Scripted::Overloaded);
    script.push(Reply::tool(
        "complete_task",
        json!({"summary": "done despite the storm"}),
    ));
    let fake = FakeAnthropic::start(script).await;
    let app = spawn_with(|s| fast_engine(s, &path, Some(&fake.base_url))).await;

    let task = app
        .create_task(json!({"title": "Patient", "category": "docs"}))
        .await;
    let done = wait_for_task(&app, &task["id"], status_is("completed")).await;
    assert_eq!(done["attempts"], 1);
    assert!(
        history_of(&app, &task)
            .await
            .iter()
            .all(|(_, to)| to != "failed")
    );
    assert_eq!(fake.request_count(), 6);
}

#[tokio::test]
async fn ask_human_waits_for_an_answer_through_the_api_then_continues() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(vec![
        Reply::tool(
            "write_file",
            json!({"path": "draft.txt", "content": "half done"}),
        ),
        Reply::tool("ask_human", json!({"question": "Blue or green?"})),
    ])
    .await;
    let app = spawn_with(|s| fast_engine(s, &path, Some(&fake.base_url))).await;

    let task = app.create_task(json!({"title": "Pick a colour"})).await;
    let waiting = wait_for_task(&app, &task["id"], |t| {
        t["question"] == "Blue or green?" && t["status"] == "pending"
    })
    .await;
    assert_eq!(waiting["status"], "pending");
    scheduler_passed_over(&app).await;
    assert_eq!(
        fake.request_count(),
        2,
        "nothing runs while the question waits"
    );

    fake.push([Reply::tool(
        "complete_task",
        json!({"summary": "went with green"}),
    )]);
    let answered = json_with(
        app.post(
            &format!("/api/tasks/{}/answer", task["id"]),
            json!({"answer": "green"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answered["answer"], "green");
    let done = wait_for_task(&app, &task["id"], status_is("completed")).await;
    assert!(done["question"].is_null());
    assert_eq!(done["attempts"], 1, "a question does not use an attempt");
    let resumed = &fake.requests()[2].body;
    assert!(
        resumed.to_string().contains("green"),
        "the answer did not reach the model: {resumed}"
    );
    // The work from before the question survived into the merge.
    assert_eq!(
        git_repo::git(&path, &["show", "main:draft.txt"]),
        "half done"
    );

    let again = app
        .post(
            &format!("/api/tasks/{}/answer", task["id"]),
            json!({"answer": "again"}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_planning_agent_splits_a_task_into_subtasks_that_then_run() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(vec![
        Reply::tool("create_task", json!({"title": "Sub A", "priority": "P1"})),
        Reply::tool(
            "create_task",
            json!({"title": "Sub B", "depends_on": ["T-2"]}),
        ),
        Reply::tool(
            "complete_task",
            json!({"summary": "split into two", "no_changes_needed": "nothing to change for this test"})),
        Reply::tool(
            "complete_task",
            json!({"summary": "A done", "no_changes_needed": "nothing to change for this test"})),
        Reply::tool(
            "complete_task",
            json!({"summary": "B done", "no_changes_needed": "nothing to change for this test"})),
    ])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        s.engine.max_concurrent = 1;
    })
    .await;
    let plan = app
        .create_task(json!({"title": "Big feature", "category": "planning"}))
        .await;
    wait_for_task(&app, &plan["id"], status_is("completed")).await;
    let b = wait_for_task(&app, &json!(3), status_is("completed")).await;
    assert_eq!(b["title"], "Sub B");
    assert_eq!(b["depends_on"], json!([2]));
    let a = wait_for_task(&app, &json!(2), status_is("completed")).await;
    assert_eq!(a["priority"], "P1");
    assert!(a["updated_at"].as_str() < b["updated_at"].as_str());
}
