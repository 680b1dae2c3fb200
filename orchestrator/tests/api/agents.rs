//! Agents: the seeded set and operator changes.

use reqwest::StatusCode;
use serde_json::json;

use harness::config::{AgentOverride, Secret};
use harness_domain::agent::RuntimeKind;

use crate::helpers::{error_field, json_with, spawn_app, spawn_with};

#[tokio::test]
async fn a_default_set_of_agents_is_seeded_once() {
    let app = spawn_app().await;
    let agents = json_with(app.get("/api/agents").await, StatusCode::OK).await;
    let roles: Vec<&str> = agents["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["role"].as_str().unwrap())
        .collect();
    for role in [
        "build",
        "spec",
        "qa",
        "research",
        "planning",
        "investigator",
        "clarification",
    ] {
        assert!(roles.contains(&role), "missing {role}");
    }
    let agent = json_with(app.get("/api/agents/qa").await, StatusCode::OK).await;
    assert_eq!(
        (agent["runtime"].as_str(), agent["status"].as_str()),
        (Some("anthropic"), Some("idle"))
    );
}

#[tokio::test]
async fn an_agent_can_be_disabled_reconfigured_and_enabled() {
    let app = spawn_app().await;
    let off = json_with(
        app.patch("/api/agents/build-1", json!({"enabled": false}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (off["enabled"].as_bool(), off["status"].as_str()),
        (Some(false), Some("disabled"))
    );
    let changed = json_with(
        app.patch(
            "/api/agents/build-1",
            json!({"enabled": true, "model": "claude-opus-4-1", "max_concurrency": 3}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_ne!(changed["status"], "disabled");
    assert_eq!(changed["model"], "claude-opus-4-1");
    assert_eq!(changed["max_concurrency"], 3);
}

#[tokio::test]
async fn bad_agent_changes_are_refused_by_field() {
    let app = spawn_app().await;
    let field = error_field(
        app.patch("/api/agents/qa", json!({"max_concurrency": 0}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field.as_deref(), Some("max_concurrency"));
    let field = error_field(
        app.patch("/api/agents/qa", json!({"model": ""})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field.as_deref(), Some("model"));
    // A typo is not a model: refused by field, naming the way to allow another.
    let response = app
        .patch("/api/agents/qa", json!({"model": "claude-sonet-typo"}))
        .await;
    let body = json_with(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["error"]["field"], "model");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("HARNESS_EXTRA_MODELS"), "{message}");
    let agent = json_with(app.get("/api/agents/qa").await, StatusCode::OK).await;
    assert_ne!(agent["model"], "claude-sonet-typo", "nothing was written");
    let field = error_field(
        app.patch("/api/agents/qa", json!({"role": "build"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field.as_deref(), Some("role"));
    error_field(
        app.patch("/api/agents/nobody", json!({"enabled": true}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    error_field(
        app.get("/api/agents/Not%20Valid").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_model_listed_in_the_settings_is_accepted() {
    let app = crate::helpers::spawn_with(|s| {
        s.engine.extra_models = vec!["local-proxy-model".into()];
    })
    .await;
    let changed = json_with(
        app.patch("/api/agents/qa", json!({"model": "local-proxy-model"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["model"], "local-proxy-model");
}

#[tokio::test]
async fn each_runtime_says_whether_its_program_is_found_its_version_and_its_credentials() {
    let agents = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents");
    let acp = agents.join("node_modules/.bin/claude-agent-acp");
    assert!(
        acp.exists(),
        "{} is missing: run scripts/install-test-deps",
        acp.display()
    );
    let app = spawn_with(|s| {
        s.engine.sandbox.read_paths.push(agents.clone());
        s.engine.anthropic_api_key = Some(Secret::new("sk-runtime-test-secret"));
        for (id, runtime, command) in [
            ("build-1", RuntimeKind::Acp, acp.display().to_string()),
            ("build-2", RuntimeKind::Cli, "/nonexistent/codex".to_owned()),
        ] {
            s.engine.agents.insert(
                id.into(),
                AgentOverride {
                    runtime: Some(runtime),
                    command: Some(vec![command]),
                    ..AgentOverride::default()
                },
            );
        }
    })
    .await;
    let runtimes = json_with(app.get("/api/runtimes").await, StatusCode::OK).await;
    assert!(
        !runtimes.to_string().contains("sk-runtime-test-secret"),
        "the key is never served"
    );
    let items = runtimes["items"].as_array().unwrap();
    let on = |agent: &str| {
        items
            .iter()
            .find(|r| r["agents"].as_array().unwrap().iter().any(|a| a == agent))
            .unwrap_or_else(|| panic!("no runtime runs {agent}: {runtimes}"))
    };

    // The ACP agent answered its handshake in the sandbox with its name and version.
    let acp_state = on("build-1");
    assert_eq!(acp_state["runtime"], "acp");
    assert_eq!(acp_state["path"], acp.display().to_string());
    assert_eq!(
        acp_state["version"], "@zed-industries/claude-agent-acp 0.23.1",
        "{acp_state}"
    );
    assert!(acp_state["problem"].is_null(), "{acp_state}");
    assert!(
        acp_state["credentials"]
            .as_str()
            .unwrap()
            .contains("ANTHROPIC_API_KEY is set"),
        "{acp_state}"
    );

    // A CLI that is not installed says so, and has no version.
    let missing = on("build-2");
    assert!(
        missing["path"].is_null() && missing["version"].is_null(),
        "{missing}"
    );
    assert!(
        missing["problem"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/codex"),
        "{missing}"
    );

    // Every kind is listed, with or without agents on it.
    for kind in ["anthropic", "openai", "cli", "acp"] {
        assert!(
            items.iter().any(|r| r["runtime"] == kind),
            "{kind}: {runtimes}"
        );
    }
    let openai = items.iter().find(|r| r["runtime"] == "openai").unwrap();
    assert!(openai["command"].as_array().unwrap().is_empty());
    assert_eq!(
        openai["credentials"], "OPENAI_API_KEY is not set",
        "{openai}"
    );
    assert!(openai["problem"].is_string(), "{openai}");
}
