//! Tasks run by `openai` agents (the own agent loop on an OpenAI-compatible Chat
//! Completions endpoint) against the fake Chat Completions API over real HTTP.

use harness::config::{AgentOverride, RoleSettings, RolesFile, Secret, Settings};
use harness_domain::agent::RuntimeKind;
use harness_domain::role::RoleSpec;
use harness_testkit::fake_openai::{self, FakeOpenAi};
use serde_json::{Value, json};

use crate::{
    fake_anthropic::{FakeAnthropic, Reply, Scripted},
    fast_engine, git_repo,
    helpers::spawn_with,
    logs_of, sessions_of, status_is, wait_for, wait_for_task,
};

/// Makes build-1 an `openai` agent on `model`, against `base_url`.
fn openai_agent(s: &mut Settings, base_url: &str) {
    s.engine.openai_base_url = base_url.to_owned();
    s.engine.agents.insert(
        "build-1".into(),
        AgentOverride {
            runtime: Some(RuntimeKind::OpenAi),
            ..AgentOverride::default()
        },
    );
}

/// Gives the build role the fallback `step` (`runtime:model`), the OpenAI-compatible
/// endpoint being at `base_url`.
fn build_falls_back_to(s: &mut Settings, base_url: &str, step: &str) {
    s.engine.openai_base_url = base_url.to_owned();
    let mut roles = RolesFile::default();
    roles.roles.insert(
        "build".into(),
        RoleSpec {
            fallback: Some(vec![step.into()]),
            ..RoleSpec::default()
        },
    );
    s.engine.roles = RoleSettings::load(roles, None).unwrap();
}

#[tokio::test]
async fn an_openai_agent_on_a_local_model_server_writes_runs_a_command_and_lands() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeOpenAi::start(vec![
        // A rate limit first: waited out like Anthropic's, the same session goes on.
        Scripted::RateLimited {
            retry_after: Some("0".into()),
            reset_in: None,
        },
        Reply::tool(
            "write_file",
            json!({"path": "src/greeting.txt", "content": "hi from a local model\n"}),
        ),
        Reply::tool(
            "run_command",
            json!({"command": "wc -l < src/greeting.txt > src/lines.txt && cat src/lines.txt"}),
        ),
        Reply::tools(
            Some("done"),
            &[("complete_task", json!({"summary": "added the greeting"}))],
        ),
    ])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        openai_agent(s, &fake.base_url);
        s.engine.verify = vec!["grep -q 'local model' src/greeting.txt".into()];
    })
    .await;

    // Whatever the endpoint serves is a model name the openai runtime takes.
    let patched = app
        .patch("/api/agents/build-1", json!({"model": "llama3.1:8b"}))
        .await;
    assert_eq!(patched.status(), reqwest::StatusCode::OK);

    let task = app
        .create_task(
            json!({"title": "Add a greeting", "pass_criteria": ["src/greeting.txt exists"]}),
        )
        .await;
    let done = wait_for_task(&app, &task["id"], status_is("completed")).await;
    assert_eq!(done["attempts"], 1, "{done}");
    assert_eq!(
        git_repo::git(&path, &["show", "main:src/greeting.txt"]),
        "hi from a local model"
    );
    // The command ran in the worktree, inside the sandbox, and its output was committed.
    assert_eq!(git_repo::git(&path, &["show", "main:src/lines.txt"]), "1");

    let session = &crate::ended_sessions(&app, &task).await[0];
    assert_eq!(session["status"], "succeeded");
    // Counted, never free: the fake's model has no price, so the fallback's applies.
    assert!(session["input_tokens"].as_u64().unwrap() > 0, "{session}");
    assert!(session["cost_usd"].as_f64().unwrap() > 0.0, "{session}");
    let logs = logs_of(&app, session).await;
    let text = |kind: &str| -> Vec<String> {
        logs.iter()
            .filter(|l| l["kind"] == kind)
            .map(|l| l["content"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(text("tool_call").iter().any(|c| c.contains("run_command")));
    assert!(
        text("tool_result")
            .iter()
            .any(|r| r.contains("run_command") && r.contains("\"is_error\":false")),
        "{:?}",
        text("tool_result")
    );
    assert!(
        text("system")
            .iter()
            .any(|s| s.contains("no price is known for model")),
        "{:?}",
        text("system")
    );

    let requests = fake.requests();
    assert_eq!(requests[0].answered, "429");
    // A local server gets no key, and every turn gets the role's tools as functions.
    assert!(requests.iter().all(|r| r.authorization.is_none()));
    assert_eq!(requests[1].body["model"], "llama3.1:8b");
    let tools: Vec<&str> = requests[1].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"complete_task") && tools.contains(&"run_command"),
        "{tools:?}"
    );
    // The command's result went back as a `tool` message answering its call.
    let results = requests[3].last_tool_results();
    let called: Value = requests[3].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "assistant")
        .cloned()
        .unwrap();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["tool_call_id"], called["tool_calls"][0]["id"]);
    assert!(results[0]["content"].as_str().unwrap().contains('1'));
}

#[tokio::test]
async fn an_openai_agent_on_openai_itself_sends_its_key_and_without_one_is_unconfigured() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    // Without OPENAI_API_KEY on OpenAI's own endpoint, the agent says what to set.
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        openai_agent(s, harness::config::OPENAI_BASE_URL);
    })
    .await;
    let agent = wait_for(&app, "/api/agents/build-1", |a| {
        a["status"] == "unconfigured"
    })
    .await;
    assert!(
        agent["status_reason"]
            .as_str()
            .unwrap()
            .contains("OPENAI_API_KEY"),
        "{agent}"
    );
    drop(app);

    let fake = FakeOpenAi::start_with_key(vec![Reply::tool(
        "complete_task",
        json!({"summary": "nothing to change", "no_changes_needed": "the README is right"}),
    )])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        openai_agent(s, &fake.base_url);
        s.engine.openai_api_key = Some(Secret::new(fake_openai::API_KEY));
    })
    .await;
    let task = app.create_task(json!({"title": "Check the README"})).await;
    wait_for_task(&app, &task["id"], status_is("completed")).await;
    let requests = fake.requests();
    assert_eq!(requests[0].answered, "reply");
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some(format!("Bearer {}", fake_openai::API_KEY).as_str())
    );
}

#[tokio::test]
async fn an_agent_whose_runtime_cannot_run_moves_to_its_roles_fallback_with_its_model() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeOpenAi::start(vec![
        Reply::tool(
            "write_file",
            json!({"path": "fallback.txt", "content": "ran\n"}),
        ),
        Reply::tool("complete_task", json!({"summary": "wrote it"})),
    ])
    .await;
    let app = spawn_with(|s| {
        // No ANTHROPIC_API_KEY: the agents' own runtime (anthropic) cannot run.
        fast_engine(s, &path, None);
        build_falls_back_to(s, &fake.base_url, "openai:qwen2.5-coder:7b");
    })
    .await;
    // Ready through its fallback: not marked unconfigured.
    let agent = wait_for(&app, "/api/agents/build-1", |a| a["status"] == "idle").await;
    assert_eq!(agent["runtime"], "anthropic");

    let task = app
        .create_task(json!({"title": "Write through the fallback"}))
        .await;
    wait_for_task(&app, &task["id"], status_is("completed")).await;
    assert_eq!(git_repo::git(&path, &["show", "main:fallback.txt"]), "ran");
    // The fallback's own model was asked for, not the agent's Claude model.
    assert_eq!(fake.requests()[0].body["model"], "qwen2.5-coder:7b");
    let session = &crate::ended_sessions(&app, &task).await[0];
    let said = logs_of(&app, session).await;
    assert!(
        said.iter().any(|l| l["content"]
            .as_str()
            .unwrap()
            .contains("this attempt runs on openai, its role's fallback")),
        "{said:?}"
    );
}

#[tokio::test]
async fn while_anthropics_rate_limit_holds_sessions_back_a_new_attempt_runs_on_the_fallback() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    // Anthropic closes its gate for a minute on the first request.
    let anthropic = FakeAnthropic::start(vec![Scripted::RateLimited {
        retry_after: Some("60".into()),
        reset_in: None,
    }])
    .await;
    let openai = FakeOpenAi::start(vec![
        Reply::tool(
            "write_file",
            json!({"path": "second.txt", "content": "moved on\n"}),
        ),
        Reply::tool("complete_task", json!({"summary": "wrote it"})),
    ])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&anthropic.base_url));
        build_falls_back_to(s, &openai.base_url, "openai:llama3.1:8b");
    })
    .await;
    let first = app
        .create_task(json!({"title": "Waits for Anthropic"}))
        .await;
    // The session says it waits once the gate has closed (the client closes it first).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let sessions = sessions_of(&app, &first).await;
        if let Some(session) = sessions.first() {
            let logs = logs_of(&app, session).await;
            if logs.iter().any(|l| {
                l["content"]
                    .as_str()
                    .is_some_and(|c| c.contains("all sessions wait"))
            }) {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first session never waited"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The gate is closed now: the next attempt does not queue behind it.
    let second = app.create_task(json!({"title": "Runs elsewhere"})).await;
    wait_for_task(&app, &second["id"], status_is("completed")).await;
    assert_eq!(
        git_repo::git(&path, &["show", "main:second.txt"]),
        "moved on"
    );
    assert_eq!(openai.requests()[0].body["model"], "llama3.1:8b");
    // The first still waits on Anthropic's limit, on its own runtime.
    let waiting = app.get(&format!("/api/tasks/{}", first["id"])).await;
    let waiting: Value = waiting.json().await.unwrap();
    assert_eq!(waiting["status"], "in_progress", "{waiting}");
    assert_eq!(anthropic.request_count(), 1);
}

#[tokio::test]
async fn a_model_priced_in_harness_toml_costs_what_its_price_says() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeOpenAi::start(vec![Reply::tool(
        "complete_task",
        json!({"summary": "nothing to change", "no_changes_needed": "the README is right"}),
    )])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        openai_agent(s, &fake.base_url);
        // `[prices."llama3.1:8b"] input = 1.0, output = 2.0, cache_read = 0.5`
        s.engine.prices.models.insert(
            "llama3.1:8b".into(),
            harness::engine::anthropic::ModelPrice::new(1.0, 2.0, 1.0, 0.5),
        );
    })
    .await;
    let patched = app
        .patch("/api/agents/build-1", json!({"model": "llama3.1:8b"}))
        .await;
    assert_eq!(patched.status(), reqwest::StatusCode::OK);
    let task = app.create_task(json!({"title": "Check the README"})).await;
    wait_for_task(&app, &task["id"], status_is("completed")).await;
    let session = &crate::ended_sessions(&app, &task).await[0];
    // 1000 input, 200 output and 300 cached tokens (the stand-in's usage) at those prices.
    assert_eq!(session["input_tokens"], 1000, "{session}");
    let cost = session["cost_usd"].as_f64().unwrap();
    assert!((cost - 0.00155).abs() < 1e-9, "{session}");
    let logs = logs_of(&app, session).await;
    assert!(
        logs.iter()
            .all(|l| !l["content"].as_str().unwrap().contains("no price is known")),
        "{logs:?}"
    );
}
