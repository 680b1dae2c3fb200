//! Bad input gets a 4xx in our error format, naming the field, and never a 500.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{error_field, spawn_app, spawn_with};

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;
    let response = app
        .post_raw("/api/tasks", r#"{"title": "#, "application/json")
        .await;
    assert_eq!(error_field(response, StatusCode::BAD_REQUEST).await, None);
    let response = app.post_raw("/api/tasks", "", "application/json").await;
    error_field(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn each_bad_field_is_named_in_a_422() {
    let app = spawn_app().await;
    let cases = [
        (json!({"title": "ok", "colour": "red"}), "colour"),
        (json!({"title": 42}), "title"),
        (json!({}), "title"),
        (json!({"title": ""}), "title"),
        (json!({"title": "   "}), "title"),
        (json!({"title": "x".repeat(201)}), "title"),
        (json!({"title": "ok", "priority": "P7"}), "priority"),
        (json!({"title": "ok", "priority": 1}), "priority"),
        (json!({"title": "ok", "category": "Not A Slug"}), "category"),
        (
            json!({"title": "ok", "pass_criteria": "not a list"}),
            "pass_criteria",
        ),
        (
            json!({"title": "ok", "pass_criteria": [""]}),
            "pass_criteria",
        ),
        (json!({"title": "ok", "max_attempts": 0}), "max_attempts"),
        (json!({"title": "ok", "depends_on": [999]}), "depends_on"),
        (
            json!({"title": "ok", "depends_on": ["T-abc"]}),
            "depends_on",
        ),
        (
            json!({"title": "ok", "description": "d".repeat(20_001)}),
            "description",
        ),
    ];
    for (body, field) in cases {
        let response = app.post("/api/tasks", body.clone()).await;
        let got = error_field(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(got.as_deref(), Some(field), "for {body}");
    }
    let list = crate::helpers::json_with(app.get("/api/tasks").await, StatusCode::OK).await;
    assert_eq!(list["total"], 0, "nothing invalid was written");
}

#[tokio::test]
async fn a_dependency_cycle_is_a_422() {
    let app = spawn_app().await;
    let a = app.task_titled("a").await;
    let b = app
        .create_task(json!({"title": "b", "depends_on": [a["id"]]}))
        .await;
    let response = app
        .patch(
            &format!("/api/tasks/{}", a["id"]),
            json!({"depends_on": [b["id"]]}),
        )
        .await;
    assert_eq!(
        error_field(response, StatusCode::UNPROCESSABLE_ENTITY)
            .await
            .as_deref(),
        Some("depends_on")
    );
    let response = app
        .patch(
            &format!("/api/tasks/{}", a["id"]),
            json!({"depends_on": [a["id"]]}),
        )
        .await;
    assert_eq!(
        error_field(response, StatusCode::UNPROCESSABLE_ENTITY)
            .await
            .as_deref(),
        Some("depends_on")
    );
}

#[tokio::test]
async fn an_empty_patch_is_a_400() {
    let app = spawn_app().await;
    let a = app.task_titled("a").await;
    error_field(
        app.patch(&format!("/api/tasks/{}", a["id"]), json!({}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn bad_query_parameters_are_named() {
    let app = spawn_app().await;
    for (query, field) in [
        ("status=done", "status"),
        ("priority=urgent", "priority"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("offset=-1", "offset"),
    ] {
        let got = error_field(
            app.get(&format!("/api/tasks?{query}")).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(got.as_deref(), Some(field), "{query}");
    }
    let got = error_field(
        app.get("/api/events?after=x").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(got.as_deref(), Some("after"));
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let app = spawn_with(|s| s.max_body_bytes = 4096).await;
    let big = json!({"title": "big", "description": "x".repeat(8000)});
    error_field(
        app.post("/api/tasks", big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
}

#[tokio::test]
async fn unknown_routes_under_api_are_a_json_404_even_with_a_dashboard() {
    let app = spawn_with(|s| {
        let dist = s.database_path.parent().unwrap().join("dist");
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::write(
            dist.join("index.html"),
            "<!doctype html><title>dash</title>",
        )
        .unwrap();
        s.dashboard_dir = Some(dist);
    })
    .await;
    error_field(app.get("/api/nothing-here").await, StatusCode::NOT_FOUND).await;
    error_field(app.get("/api/tasks/1/nope").await, StatusCode::NOT_FOUND).await;
    let page = app.get("/tasks/board").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text().await.unwrap().contains("<title>dash</title>"),
        "SPA fallback serves index.html"
    );
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405() {
    let app = spawn_app().await;
    error_field(
        app.delete("/api/tasks").await,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
}

#[tokio::test]
async fn garbage_never_causes_a_server_error() {
    let app = spawn_app().await;
    let bodies: [&'static str; 10] = [
        "null",
        "[]",
        "\"title\"",
        "{\"title\":null}",
        "{\"title\":[1,2]}",
        "{\"title\":\"\\u0000\"}",
        "{\"title\":\"ok\",\"depends_on\":[-1]}",
        "{\"title\":\"ok\",\"depends_on\":[1e400]}",
        "\u{feff}{}",
        "{\"title\":\"ok\",\"max_attempts\":99999999999999999999}",
    ];
    for body in bodies {
        for path in ["/api/tasks", "/api/auth/login"] {
            let response = app.post_raw(path, body, "application/json").await;
            assert!(
                response.status().is_client_error(),
                "{path} {body} -> {}",
                response.status()
            );
        }
        let response = app
            .client
            .patch(app.url("/api/tasks/1"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_client_error(),
            "PATCH {body} -> {}",
            response.status()
        );
        let response = app
            .client
            .patch(app.url("/api/agents/qa"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_client_error(),
            "PATCH agent {body} -> {}",
            response.status()
        );
    }
}

#[tokio::test]
async fn the_settings_show_the_active_setup_with_absolute_paths_and_no_secrets() {
    let app = crate::helpers::spawn_with(|s| {
        s.engine.verify = vec!["python3 -m unittest".into()];
        s.engine.anthropic_api_key = crate::helpers::secret("sk-ant-do-not-show-0123456789");
    })
    .await;
    let response = app.get("/api/settings").await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(!text.contains("sk-ant-do-not-show"), "{text}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["anthropic_api_key_set"], true);
    assert_eq!(body["verify"][0], "python3 -m unittest");
    for path in ["database_path", "worktrees_dir"] {
        let p = body[path].as_str().unwrap();
        assert!(std::path::Path::new(p).is_absolute(), "{path}: {p}");
    }
    assert_eq!(body["sandbox"]["mode"], "require");
    assert!(
        body["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "build")
    );
}
