//! A remote agent's question (`ask_human`): the worker pushes the work so far and
//! passes the question on, the task waits for the answer like a local one, and the
//! next remote attempt resumes the conversation with the answer from that work. The
//! attempt that resumes may run on another executor than the one that asked, and the
//! answer outlives an attempt lost on the way.

use std::path::Path;

use harness::{
    config::{AgentOverride, Settings},
    executor::ExecutorKind,
};
use harness_domain::agent::RuntimeKind;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    fake_anthropic::{self, FakeAnthropic, Reply, Scripted},
    git_repo,
    helpers::{TestApp, json_with, spawn_in, spawn_with},
    remote_engine, sessions_of, wait_for,
};

/// `remote_engine` with `build-1` an Anthropic agent on `executor`, talking to `fake`.
fn anthropic_on(s: &mut Settings, workspace: &Path, fake: &FakeAnthropic, executor: ExecutorKind) {
    remote_engine(s, workspace, "success", 10.0);
    s.engine.anthropic_base_url = fake.base_url.clone();
    s.engine.anthropic_api_key = Some(harness::config::Secret::new(fake_anthropic::API_KEY));
    s.engine.agents.insert(
        "build-1".into(),
        AgentOverride {
            runtime: Some(RuntimeKind::Anthropic),
            executor: Some(executor),
            ..AgentOverride::default()
        },
    );
}

/// The agent's first turns: a draft, then the question.
fn draft_then_ask() -> Vec<Scripted> {
    vec![
        Reply::tool(
            "write_file",
            json!({"path": "draft.txt", "content": "half done"}),
        ),
        Reply::tool("ask_human", json!({"question": "Blue or green?"})),
    ]
}

/// The turns after the answer: the final file, then done.
fn finish() -> [Scripted; 2] {
    [
        Reply::tool(
            "write_file",
            json!({"path": "final.txt", "content": "green it is"}),
        ),
        Reply::tool("complete_task", json!({"summary": "went with green"})),
    ]
}

/// Waits until the task's question waits for an answer and no session runs.
async fn asked(app: &TestApp, task: &Value) -> Value {
    let waiting = wait_for(app, &format!("/api/tasks/{}", task["id"]), |t| {
        t["question"] == "Blue or green?" && t["status"] == "pending"
    })
    .await;
    wait_for(
        app,
        &format!("/api/sessions?task_id={}", task["id"]),
        |page| {
            page["items"]
                .as_array()
                .is_some_and(|items| items.iter().all(|s| s["status"] != "running"))
        },
    )
    .await;
    waiting
}

async fn answer(app: &TestApp, task: &Value, text: &str) {
    let answered = json_with(
        app.post(
            &format!("/api/tasks/{}/answer", task["id"]),
            json!({ "answer": text }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answered["answer"], text);
}

async fn finished(app: &TestApp, task: &Value) -> Value {
    wait_for(app, &format!("/api/tasks/{}", task["id"]), |t| {
        t["status"] == "completed" || t["status"] == "failed" || t["status"] == "blocked"
    })
    .await
}

/// The conversation the agent resumed: the earlier turns, and the answer as the
/// `ask_human` result.
fn assert_resumed_with(request: &fake_anthropic::Recorded, answer: &str) {
    let text = request.all_text();
    assert!(text.contains("draft.txt"), "earlier turns missing: {text}");
    assert!(
        text.contains("Blue or green?"),
        "earlier turns missing: {text}"
    );
    let results = request.last_tool_results();
    assert!(
        results.iter().any(|r| r.to_string().contains(answer)),
        "the answer is not the ask_human result: {results:#?}"
    );
}

/// Both halves of the work landed: the draft from before the question, the file after.
fn assert_both_landed(path: &Path) {
    assert_eq!(
        git_repo::git(path, &["show", "main:draft.txt"]),
        "half done"
    );
    assert_eq!(
        git_repo::git(path, &["show", "main:final.txt"]),
        "green it is"
    );
}

#[tokio::test]
async fn a_remote_agents_question_waits_for_the_answer_and_the_next_worker_resumes_from_its_work() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(draft_then_ask()).await;
    let app = spawn_with(|s| anthropic_on(s, &path, &fake, ExecutorKind::Process)).await;
    let task = app.create_task(json!({"title": "Pick a colour"})).await;

    // The question is on the task (stored, then the task requeued to wait for the
    // answer), and the worker's attempt is over.
    asked(&app, &task).await;
    let first = sessions_of(&app, &task).await[0].clone();
    assert_eq!(first["executor"], "process", "{first:#}");
    assert_eq!(first["status"], "interrupted", "{first:#}");
    assert!(
        first["exit_reason"]
            .as_str()
            .is_some_and(|r| r.contains("waiting for a human answer")),
        "{first:#}"
    );
    // The work from before the question is pushed to the attempt's branch.
    let branch = first["branch"].as_str().unwrap().to_owned();
    assert_eq!(
        git_repo::git(&path, &["show", &format!("{branch}:draft.txt")]),
        "half done"
    );
    assert_eq!(
        fake.request_count(),
        2,
        "nothing runs while the question waits"
    );

    fake.push(finish());
    answer(&app, &task, "green, definitely").await;
    let done = finished(&app, &task).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert!(done["question"].is_null(), "{done:#}");
    assert_eq!(done["attempts"], 1, "a question does not use an attempt");

    // The second worker continued the conversation: the earlier turns (the draft and
    // the question) and the answer as the `ask_human` result.
    let requests = fake.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    assert_resumed_with(&requests[2], "green, definitely");
    assert_both_landed(&path);
    let sessions = sessions_of(&app, &task).await;
    assert_eq!(sessions.len(), 2, "{sessions:#?}");
    assert!(
        sessions.iter().all(|s| s["executor"] == "process"),
        "{sessions:#?}"
    );
    crate::stop_with_workers(app).await;
}

/// The agent asks on `asks`; the orchestrator restarts with the agent moved to
/// `resumes`, and the attempt that resumes there finds the work from before the
/// question on the attempt's branch.
async fn ask_on_then_resume_on(asks: ExecutorKind, resumes: ExecutorKind) {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(draft_then_ask()).await;
    let app = spawn_with(|s| anthropic_on(s, &path, &fake, asks)).await;
    let task = app.create_task(json!({"title": "Pick a colour"})).await;
    asked(&app, &task).await;
    // Committed (locally) or pushed (by a worker) on the attempt's branch.
    assert_eq!(
        git_repo::git(&path, &["show", "harness/T-1:draft.txt"]),
        "half done"
    );

    let dir = app.stop().await;
    // Only a local attempt leaves a worktree: a local resume after a worker's question
    // checks out the branch, a worker's after a local one clones it.
    let worktree = dir.path().join("data/worktrees/T-1");
    assert_eq!(worktree.exists(), asks == ExecutorKind::Local);
    let app = spawn_in(dir, |s| anthropic_on(s, &path, &fake, resumes)).await;
    fake.push(finish());
    answer(&app, &task, "green, definitely").await;
    let done = finished(&app, &task).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert!(done["question"].is_null(), "{done:#}");
    assert_eq!(done["attempts"], 1, "a question does not use an attempt");
    assert_resumed_with(&fake.requests()[2], "green, definitely");
    assert_both_landed(&path);
    let sessions = sessions_of(&app, &task).await;
    let executors: Vec<&str> = sessions
        .iter()
        .map(|s| s["executor"].as_str().unwrap())
        .collect();
    assert_eq!(
        executors,
        [resumes.as_str(), asks.as_str()],
        "{sessions:#?}"
    );
    crate::stop_with_workers(app).await;
}

#[tokio::test]
async fn a_question_asked_locally_is_resumed_on_a_worker_from_the_committed_work() {
    ask_on_then_resume_on(ExecutorKind::Local, ExecutorKind::Process).await;
}

#[tokio::test]
async fn a_question_asked_on_a_worker_is_resumed_locally_from_the_pushed_work() {
    ask_on_then_resume_on(ExecutorKind::Process, ExecutorKind::Local).await;
}

#[tokio::test]
async fn an_answer_outlives_the_attempt_that_resumed_with_it_when_that_attempt_is_lost() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(draft_then_ask()).await;
    let app = spawn_with(|s| anthropic_on(s, &path, &fake, ExecutorKind::Local)).await;
    let task = app.create_task(json!({"title": "Pick a colour"})).await;
    asked(&app, &task).await;

    // The attempt that resumes with the answer hangs in its first turn, and the
    // orchestrator stops under it (an upgrade): that attempt ends without a result.
    fake.push([Scripted::Hang]);
    answer(&app, &task, "green, definitely").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while fake.request_count() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent did not resume"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let dir = app.stop().await;

    // The answer is still on the task, and the next attempt resumes with it.
    let app = spawn_in(dir, |s| anthropic_on(s, &path, &fake, ExecutorKind::Local)).await;
    fake.push(finish());
    let done = finished(&app, &task).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert!(done["question"].is_null(), "{done:#}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 5, "{requests:#?}");
    assert_resumed_with(&requests[2], "green, definitely");
    assert_resumed_with(&requests[3], "green, definitely");
    assert_both_landed(&path);
    let sessions = sessions_of(&app, &task).await;
    assert_eq!(sessions.len(), 3, "{sessions:#?}");
    assert_eq!(sessions[1]["status"], "interrupted", "{sessions:#?}");
    crate::stop_with_workers(app).await;
}
