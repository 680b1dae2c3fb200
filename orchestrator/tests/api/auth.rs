//! Authentication on and off.

use reqwest::{StatusCode, header};
use serde_json::json;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue};

use crate::helpers::{error_field, json_with, secret, spawn_app, spawn_with};

const TOKEN: &str = "a-long-test-token-0123456789";

#[tokio::test]
async fn without_a_token_the_api_is_open_and_says_so() {
    let app = spawn_app().await;
    json_with(app.get("/api/tasks").await, StatusCode::OK).await;
    let status = json_with(app.get("/api/auth/status").await, StatusCode::OK).await;
    assert_eq!(
        status,
        json!({"auth_required": false, "authenticated": true})
    );
}

#[tokio::test]
async fn with_a_token_every_api_route_needs_it_but_health_does_not() {
    let app = spawn_with(|s| s.api_token = secret(TOKEN)).await;
    let anonymous = &app.client;
    for path in [
        "/api/tasks",
        "/api/agents",
        "/api/sessions",
        "/api/events",
        "/api/budget",
        "/api/orchestrator/status",
    ] {
        let response = anonymous.get(app.url(path)).send().await.unwrap();
        error_field(response, StatusCode::UNAUTHORIZED).await;
    }
    let response = anonymous
        .post(app.url("/api/tasks"))
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    error_field(response, StatusCode::UNAUTHORIZED).await;
    let response = anonymous
        .get(app.url("/api/tasks"))
        .bearer_auth("wrong-token-wrong-token")
        .send()
        .await
        .unwrap();
    error_field(response, StatusCode::UNAUTHORIZED).await;

    assert_eq!(
        anonymous
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    json_with(app.get("/api/tasks").await, StatusCode::OK).await; // helper sends the bearer token
}

#[tokio::test]
async fn login_sets_an_httponly_strict_cookie_that_authenticates() {
    let app = spawn_with(|s| s.api_token = secret(TOKEN)).await;
    let client = &app.client;
    let wrong = client
        .post(app.url("/api/auth/login"))
        .json(&json!({"token": "nope"}))
        .send()
        .await
        .unwrap();
    error_field(wrong, StatusCode::UNAUTHORIZED).await;

    let ok = client
        .post(app.url("/api/auth/login"))
        .json(&json!({"token": TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    let set_cookie = ok.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    assert!(
        !set_cookie.contains(TOKEN),
        "the cookie must not carry the token itself"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    let with_cookie = client
        .get(app.url("/api/tasks"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(with_cookie.status(), StatusCode::OK);
    let status = client
        .get(app.url("/api/auth/status"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_with(status, StatusCode::OK).await,
        json!({"auth_required": true, "authenticated": true})
    );

    let out = client
        .post(app.url("/api/auth/logout"))
        .send()
        .await
        .unwrap();
    assert!(
        out.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn the_websocket_needs_the_token_too() {
    let app = spawn_with(|s| s.api_token = secret(TOKEN)).await;
    let err = tokio_tungstenite::connect_async(app.ws_url("/ws"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");

    let mut request = app.ws_url("/ws").into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {TOKEN}")).unwrap(),
    );
    assert!(tokio_tungstenite::connect_async(request).await.is_ok());
}

#[tokio::test]
async fn a_websocket_from_a_foreign_origin_is_refused() {
    let app = spawn_app().await;
    let mut request = app.ws_url("/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_static("http://evil.example"));
    let err = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");

    let mut same = app.ws_url("/ws").into_client_request().unwrap();
    let origin = format!("http://{}", app.addr);
    same.headers_mut()
        .insert("origin", HeaderValue::from_str(&origin).unwrap());
    assert!(tokio_tungstenite::connect_async(same).await.is_ok());
}

#[tokio::test]
async fn no_response_ever_carries_the_token() {
    let app = spawn_with(|s| s.api_token = secret(TOKEN)).await;
    for path in [
        "/api/orchestrator/status",
        "/api/agents",
        "/api/openapi.json",
        "/api/auth/status",
        "/health",
    ] {
        let text = app.get(path).await.text().await.unwrap();
        assert!(!text.contains(TOKEN), "{path} leaked the token");
    }
}

#[tokio::test]
async fn there_is_no_wildcard_cors() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/tasks"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
