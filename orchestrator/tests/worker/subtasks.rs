//! A planning agent on a remote executor splits its task with `create_task`: the worker
//! forwards each call to the orchestrator on the attempt's credential, and the board
//! creates the subtask as it does for a local planning agent. A credential that is not
//! a live planning attempt's creates nothing. The browser group, which workers do not
//! offer, makes such an agent `unconfigured` instead of running without it.

use harness::{config::AgentOverride, executor::ExecutorKind, worker::WorkerKey};
use harness_domain::agent::RuntimeKind;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    fake_anthropic::{self, FakeAnthropic, Reply},
    git_repo,
    helpers::{json_with, spawn_with},
    remote_engine, running_worker, wait_for,
};

fn on_process(runtime: RuntimeKind) -> AgentOverride {
    AgentOverride {
        runtime: Some(runtime),
        executor: Some(ExecutorKind::Process),
        ..AgentOverride::default()
    }
}

async fn task_titles(app: &crate::helpers::TestApp) -> Vec<Value> {
    let page = json_with(app.get("/api/tasks").await, StatusCode::OK).await;
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_remote_planning_agent_creates_subtasks_on_the_board() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(vec![
        Reply::tools(
            None,
            &[
                ("create_task", json!({"title": "Sub A", "priority": "P1"})),
                (
                    "create_task",
                    json!({"title": "Sub B", "description": "after A", "depends_on": ["T-2"]}),
                ),
                // The board refuses this one: the agent reads why, the session goes on.
                (
                    "create_task",
                    json!({"title": "Sub C", "depends_on": ["T-999"]}),
                ),
            ],
        ),
        Reply::tool("complete_task", json!({"summary": "split into two"})),
    ])
    .await;
    let app = spawn_with(|s| {
        remote_engine(s, &path, "success", 10.0);
        s.engine.anthropic_base_url = fake.base_url.clone();
        s.engine.anthropic_api_key = Some(harness::config::Secret::new(fake_anthropic::API_KEY));
        s.engine
            .agents
            .insert("planning".into(), on_process(RuntimeKind::Anthropic));
    })
    .await;
    // Only the plan runs: the subtasks wait, so the test reads them as created.
    let agents = json_with(app.get("/api/agents").await, StatusCode::OK).await;
    for agent in agents["items"].as_array().unwrap() {
        if agent["id"] != "planning" {
            let path = format!("/api/agents/{}", agent["id"].as_str().unwrap());
            json_with(
                app.patch(&path, json!({"enabled": false})).await,
                StatusCode::OK,
            )
            .await;
        }
    }
    let plan = app
        .create_task(json!({"title": "Big feature", "category": "planning"}))
        .await;
    let plan = wait_for(&app, &format!("/api/tasks/{}", plan["id"]), |t| {
        t["status"] == "completed"
    })
    .await;
    let session = &crate::sessions_of(&app, &plan).await[0];
    assert_eq!(session["executor"], "process", "{session:#}");

    // The model was offered create_task, and read the board's answers.
    let requests = fake.requests();
    let offered: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(offered.contains(&"create_task"), "{offered:?}");
    let results = requests[1].last_tool_results();
    assert_eq!(results.len(), 3, "{results:#?}");
    assert!(
        results[0].to_string().contains("created task T-2"),
        "{results:#?}"
    );
    assert!(
        results[1].to_string().contains("created task T-3"),
        "{results:#?}"
    );
    assert_eq!(results[2]["is_error"], true, "{results:#?}");
    assert!(results[2].to_string().contains("999"), "{results:#?}");

    let tasks = task_titles(&app).await;
    assert_eq!(tasks.len(), 3, "the refused one is not there: {tasks:#?}");
    let a = json_with(app.get("/api/tasks/T-2").await, StatusCode::OK).await;
    let b = json_with(app.get("/api/tasks/T-3").await, StatusCode::OK).await;
    assert_eq!(
        (a["title"].as_str(), a["priority"].as_str()),
        (Some("Sub A"), Some("P1"))
    );
    assert_eq!(a["category"], "feature");
    assert_eq!(
        (b["title"].as_str(), b["description"].as_str()),
        (Some("Sub B"), Some("after A"))
    );
    assert_eq!(b["depends_on"], json!([2]));
    for id in ["T-2", "T-3"] {
        let history = json_with(
            app.get(&format!("/api/tasks/{id}/history")).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(history["items"][0]["actor"], "planning", "{history:#}");
    }
    let events = json_with(app.get("/api/events?limit=200").await, StatusCode::OK).await;
    let by_planner = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.to_string().contains("by a planning agent"))
        .count();
    assert_eq!(by_planner, 2, "{events:#}");
    crate::stop_with_workers(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_live_planning_attempts_credential_creates_tasks() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| remote_engine(s, &path, "sleep", 10.0)).await;
    let task = app.create_task(json!({"title": "Not a planner"})).await;
    let session = running_worker(&app, &task).await;
    let attempt = session["id"].as_i64().unwrap();
    let key = WorkerKey::load_or_create(&app.dir.path().join("data/worker.key")).unwrap();
    let later = chrono::Utc::now().timestamp() + 3600;
    let url = format!("http://{}/worker/v1/tasks", app.addr);
    let post = |token: Option<String>| {
        let request = app.client.post(&url).json(&json!({"title": "Sneaky"}));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move { request.send().await.unwrap() }
    };

    for (what, token) in [
        (
            "forged",
            Some(WorkerKey::random().unwrap().issue(attempt, later)),
        ),
        ("another attempt's", Some(key.issue(attempt + 1000, later))),
        ("no", None),
    ] {
        let response = post(token).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{what} credential"
        );
    }
    // The live attempt's own credential, but its role (build) has no create_task.
    let response = post(Some(key.issue(attempt, later))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("create_task"),
        "{body}"
    );
    let tasks = task_titles(&app).await;
    assert_eq!(tasks.len(), 1, "nothing was created: {tasks:#?}");
    crate::stop_with_workers(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_orchestrator_checks_a_planning_workers_request_again() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    // The planning agent's model hangs mid-turn: its attempt stays live while the test
    // speaks for its worker, as a tampered worker could.
    let fake = FakeAnthropic::start(vec![fake_anthropic::Scripted::Hang]).await;
    let app = spawn_with(|s| {
        remote_engine(s, &path, "success", 10.0);
        s.engine.anthropic_base_url = fake.base_url.clone();
        s.engine.anthropic_api_key = Some(harness::config::Secret::new(fake_anthropic::API_KEY));
        s.engine
            .agents
            .insert("planning".into(), on_process(RuntimeKind::Anthropic));
        s.engine.agents.remove("build-1");
    })
    .await;
    let plan = app
        .create_task(json!({"title": "Plan it", "category": "planning"}))
        .await;
    let session = running_worker(&app, &plan).await;
    let key = WorkerKey::load_or_create(&app.dir.path().join("data/worker.key")).unwrap();
    let token = key.issue(
        session["id"].as_i64().unwrap(),
        chrono::Utc::now().timestamp() + 3600,
    );
    let url = format!("http://{}/worker/v1/tasks", app.addr);
    let post = |body: Value| {
        let request = app.client.post(&url).bearer_auth(&token).json(&body);
        async move { request.send().await.unwrap() }
    };

    // What the domain refuses is refused here too, naming the field.
    let long = "x".repeat(201);
    for (body, field) in [
        (json!({"title": "  "}), "title"),
        (json!({"title": long}), "title"),
        (json!({"title": "ok", "priority": "P9"}), "priority"),
        (json!({"title": "ok", "depends_on": ["T-0"]}), "id"),
    ] {
        let response = post(body.clone()).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["field"], field, "{body}: {error}");
    }
    let response = post(json!({"no_title": true})).await;
    assert!(response.status().is_client_error(), "{}", response.status());

    // The board's refusal is an answer for the agent; a good request creates the task.
    let refused: Value = post(json!({"title": "late", "depends_on": ["T-404"]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(refused["outcome"], "refused", "{refused}");
    let created: Value = post(json!({"title": "Part one", "depends_on": ["T-1"]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["outcome"], "created", "{created}");
    let display_id = created["display_id"].as_str().unwrap();
    let task = json_with(
        app.get(&format!("/api/tasks/{display_id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(task["title"], "Part one");
    assert_eq!(task["depends_on"], json!([1]));
    let history = json_with(
        app.get(&format!("/api/tasks/{display_id}/history")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history["items"][0]["actor"], "planning", "{history:#}");
    assert_eq!(task_titles(&app).await.len(), 2);
    crate::stop_with_workers(app).await;
}

#[tokio::test]
async fn an_agent_with_the_browser_on_a_remote_executor_is_unconfigured() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        remote_engine(s, &path, "success", 10.0);
        s.engine.agents.get_mut("build-1").unwrap().tools = Some(vec!["browser".into()]);
    })
    .await;
    let agent = wait_for(&app, "/api/agents/build-1", |a| {
        a["status"] == "unconfigured"
    })
    .await;
    let reason = agent["status_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("only on the local executor") && reason.contains("process"),
        "{agent:#}"
    );
    app.stop().await;
}
