//! Agents: the seeded set and operator changes.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{error_field, json_with, spawn_app};

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
