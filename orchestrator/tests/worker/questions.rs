//! A remote agent's question (`ask_human`): the worker pushes the work so far and
//! passes the question on, the task waits for the answer like a local one, and the
//! next remote attempt resumes the conversation with the answer from that work.

use harness::{config::AgentOverride, executor::ExecutorKind};
use harness_domain::agent::RuntimeKind;
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    fake_anthropic::{self, FakeAnthropic, Reply},
    git_repo,
    helpers::{json_with, spawn_with},
    remote_engine, sessions_of, wait_for,
};

#[tokio::test]
async fn a_remote_agents_question_waits_for_the_answer_and_the_next_worker_resumes_from_its_work() {
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
    let app = spawn_with(|s| {
        remote_engine(s, &path, "success", 10.0);
        s.engine.anthropic_base_url = fake.base_url.clone();
        s.engine.anthropic_api_key = Some(harness::config::Secret::new(fake_anthropic::API_KEY));
        s.engine.agents.insert(
            "build-1".into(),
            AgentOverride {
                runtime: Some(RuntimeKind::Anthropic),
                executor: Some(ExecutorKind::Process),
                ..AgentOverride::default()
            },
        );
    })
    .await;
    let task = app.create_task(json!({"title": "Pick a colour"})).await;
    let task_path = format!("/api/tasks/{}", task["id"]);

    // The question is on the task (stored, then the task requeued to wait for the
    // answer), and the worker's attempt is over.
    let waiting = wait_for(&app, &task_path, |t| {
        t["question"] == "Blue or green?" && t["status"] != "in_progress"
    })
    .await;
    assert_eq!(waiting["status"], "pending", "{waiting:#}");
    let ended = wait_for(
        &app,
        &format!("/api/sessions?task_id={}", task["id"]),
        |page| {
            page["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|s| s["status"] != "running"))
        },
    )
    .await;
    let first = ended["items"][0].clone();
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

    fake.push([
        Reply::tool(
            "write_file",
            json!({"path": "final.txt", "content": "green it is"}),
        ),
        Reply::tool("complete_task", json!({"summary": "went with green"})),
    ]);
    let answered = json_with(
        app.post(
            &format!("/api/tasks/{}/answer", task["id"]),
            json!({"answer": "green, definitely"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answered["answer"], "green, definitely");

    let done = wait_for(&app, &task_path, |t| {
        t["status"] == "completed" || t["status"] == "failed" || t["status"] == "blocked"
    })
    .await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert!(done["question"].is_null(), "{done:#}");
    assert_eq!(done["attempts"], 1, "a question does not use an attempt");

    // The second worker continued the conversation: the earlier turns (the draft and
    // the question) and the answer as the `ask_human` result.
    let requests = fake.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    let resumed = &requests[2];
    let text = resumed.all_text();
    assert!(text.contains("draft.txt"), "earlier turns missing: {text}");
    assert!(
        text.contains("Blue or green?"),
        "earlier turns missing: {text}"
    );
    let results = resumed.last_tool_results();
    assert!(
        results
            .iter()
            .any(|r| r.to_string().contains("green, definitely")),
        "the answer is not the ask_human result: {results:#?}"
    );

    // Both workers' work landed: the draft from before the question, the file after.
    assert_eq!(
        git_repo::git(&path, &["show", "main:draft.txt"]),
        "half done"
    );
    assert_eq!(
        git_repo::git(&path, &["show", "main:final.txt"]),
        "green it is"
    );
    let sessions = sessions_of(&app, &task).await;
    assert_eq!(sessions.len(), 2, "{sessions:#?}");
    assert!(
        sessions.iter().all(|s| s["executor"] == "process"),
        "{sessions:#?}"
    );
    crate::stop_with_workers(app).await;
}
