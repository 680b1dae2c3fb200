//! Sessions, their logs, events, the orchestrator flag, budget and the OpenAPI document.

use harness_domain::{
    agent::AgentId,
    session::{LogKind, SessionId, SessionStatus, Usage},
    task::TaskId,
};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, error_field, json_with, spawn_app, spawn_in, spawn_with};

async fn session_for(app: &TestApp, title: &str, agent: &str) -> SessionId {
    let task = app.task_titled(title).await;
    let id = TaskId::new(task["id"].as_i64().unwrap()).unwrap();
    let session = app
        .board
        .create_session(
            id,
            AgentId::parse(agent).unwrap(),
            "claude-sonnet-4-5".into(),
        )
        .await
        .unwrap();
    session.id
}

#[tokio::test]
async fn sessions_are_listed_read_and_their_logs_paged_by_seq() {
    let app = spawn_app().await;
    let first = session_for(&app, "one", "build-1").await;
    let second = session_for(&app, "two", "qa").await;
    for i in 1..=5 {
        app.board
            .append_log(second, LogKind::Output, format!("line {i}"))
            .await
            .unwrap();
    }
    app.board
        .finish_session(first, SessionStatus::Failed, "tests failed".into())
        .await
        .unwrap();

    let all = json_with(app.get("/api/sessions").await, StatusCode::OK).await;
    assert_eq!(all["total"], 2);
    assert_eq!(all["items"][0]["id"], second.get(), "newest first");
    let failed = json_with(app.get("/api/sessions?status=failed").await, StatusCode::OK).await;
    assert_eq!(failed["items"][0]["exit_reason"], "tests failed");
    assert!(failed["items"][0]["ended_at"].is_string());
    let by_agent = json_with(app.get("/api/sessions?agent_id=qa").await, StatusCode::OK).await;
    assert_eq!(by_agent["total"], 1);

    // Pages chain by the opaque cursor the previous page returned, as the task list's do.
    let page = json_with(app.get("/api/sessions?limit=1").await, StatusCode::OK).await;
    assert_eq!(page["items"][0]["id"], second.get());
    let cursor = page["next_cursor"].as_str().expect("a next_cursor string");
    let next = json_with(
        app.get(&format!("/api/sessions?limit=1&cursor={cursor}"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(next["items"][0]["id"], first.get());
    assert!(next["next_cursor"].is_null(), "{next}");
    for bad in ["nonsense", "0", "-3"] {
        let field = error_field(
            app.get(&format!("/api/sessions?cursor={bad}")).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(field.as_deref(), Some("cursor"), "cursor={bad}");
    }

    let one = json_with(
        app.get(&format!("/api/sessions/{second}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(one["status"], "running");
    let logs = json_with(
        app.get(&format!("/api/sessions/{second}/logs?after=3"))
            .await,
        StatusCode::OK,
    )
    .await;
    let seqs: Vec<i64> = logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [4, 5]);
    assert_eq!(logs["items"][1]["content"], "line 5");

    error_field(app.get("/api/sessions/999").await, StatusCode::NOT_FOUND).await;
    error_field(
        app.get("/api/sessions/999/logs").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    error_field(app.get("/api/sessions/abc").await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_finished_session_cannot_be_finished_again() {
    let app = spawn_app().await;
    let id = session_for(&app, "once", "build-1").await;
    app.board
        .finish_session(id, SessionStatus::Cancelled, "cancelled".into())
        .await
        .unwrap();
    let err = app
        .board
        .finish_session(id, SessionStatus::Succeeded, "late".into())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already ended"), "{err}");
}

#[tokio::test]
async fn events_are_filtered_by_type_and_paged_by_id() {
    let app = spawn_app().await;
    let a = app.task_titled("a").await;
    app.task_titled("b").await;
    app.post_empty(&format!("/api/tasks/{}/cancel", a["id"]))
        .await;

    let created = json_with(
        app.get("/api/events?type=task.created").await,
        StatusCode::OK,
    )
    .await;
    let items = created["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|e| e["type"] == "task.created" && e["at"].as_str().unwrap().ends_with('Z'))
    );
    let first_id = items[0]["id"].as_i64().unwrap();
    let after = json_with(
        app.get(&format!("/api/events?after={first_id}")).await,
        StatusCode::OK,
    )
    .await;
    assert!(
        after["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"].as_i64().unwrap() > first_id)
    );
    assert!(
        after["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "task.status_changed")
    );
}

#[tokio::test]
async fn the_paused_flag_survives_a_restart() {
    let app = spawn_app().await;
    let status = json_with(
        app.post_empty("/api/orchestrator/pause").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(status["paused"], true);
    let dir = app.stop().await;

    let app = spawn_in(dir, |_| {}).await;
    let status = json_with(app.get("/api/orchestrator/status").await, StatusCode::OK).await;
    assert_eq!(status["paused"], true);
    let status = json_with(
        app.post_empty("/api/orchestrator/resume").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(status["paused"], false);
}

#[tokio::test]
async fn a_restart_interrupts_sessions_left_running_and_requeues_their_tasks() {
    let app = spawn_app().await;
    let task = app.task_titled("in flight").await;
    let id = TaskId::new(task["id"].as_i64().unwrap()).unwrap();
    app.board
        .transition_task(
            id,
            harness_domain::task::TaskStatus::InProgress,
            "claimed",
            "test",
        )
        .await
        .unwrap();
    let session = app
        .board
        .create_session(id, AgentId::parse("build-1").unwrap(), "m".into())
        .await
        .unwrap();
    // Simulate a crash: the server goes away without its shutdown path.
    let dir = app.dir;

    let app = spawn_in(dir, |_| {}).await;
    let s = json_with(
        app.get(&format!("/api/sessions/{}", session.id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(s["status"], "interrupted");
    let t = json_with(app.get(&format!("/api/tasks/{id}")).await, StatusCode::OK).await;
    assert_eq!(
        (t["status"].as_str(), t["attempts"].as_i64()),
        (Some("pending"), Some(0))
    );
}

#[tokio::test]
async fn budget_reports_spend_per_agent_and_model_against_limits() {
    let app = spawn_with(|s| s.budget.daily_usd = Some(2.0)).await;
    let id = session_for(&app, "spend", "build-1").await;
    let usage = Usage {
        input_tokens: 1000,
        output_tokens: 500,
        ..Usage::default()
    };
    app.board.add_session_usage(id, usage, 1.5).await.unwrap();
    let budget = json_with(app.get("/api/budget").await, StatusCode::OK).await;
    assert_eq!(
        budget["today"],
        json!({"cost_usd": 1.5, "input_tokens": 1000, "output_tokens": 500})
    );
    assert_eq!(budget["percent_used"]["daily_usd"], 75.0);
    assert_eq!(budget["exceeded"], false);
    assert_eq!(budget["per_agent"][0]["key"], "build-1");
    assert_eq!(budget["per_model"][0]["key"], "claude-sonnet-4-5");

    app.board
        .add_session_usage(id, Usage::default(), 0.5)
        .await
        .unwrap();
    let budget = json_with(app.get("/api/budget").await, StatusCode::OK).await;
    assert_eq!(budget["exceeded"], true);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let doc = json_with(app.get("/api/openapi.json").await, StatusCode::OK).await;
    for path in [
        "/api/tasks",
        "/api/tasks/{id}",
        "/api/tasks/{id}/retry",
        "/api/agents/{id}",
        "/api/sessions/{id}/logs",
        "/api/events",
        "/api/orchestrator/pause",
        "/api/budget",
        "/health",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["Task"].is_object());
}

#[tokio::test]
async fn health_reports_ok_with_an_rfc3339_timestamp() {
    let app = spawn_app().await;
    let health = json_with(app.get("/health").await, StatusCode::OK).await;
    assert_eq!(health["status"], "ok");
    assert!(health["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
}

/// The lines of a logs page: (seq, content).
async fn log_page(app: &TestApp, session: SessionId, after: i64) -> Vec<(i64, String)> {
    let page = json_with(
        app.get(&format!(
            "/api/sessions/{session}/logs?after={after}&limit=5000"
        ))
        .await,
        StatusCode::OK,
    )
    .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let seq = l["seq"].as_i64().unwrap();
            (seq, l["content"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn a_logs_page_stops_at_its_byte_cap_and_the_next_page_goes_on_from_there() {
    let app = spawn_app().await;
    let session = session_for(&app, "chatty", "build-1").await;
    // 40 lines of 60 kB: 2.4 MB, well past one page's 1 MiB.
    for batch in 0..4 {
        let lines = (0..10)
            .map(|i| {
                let n = batch * 10 + i;
                (LogKind::Output, format!("{n:02}{}", "x".repeat(59_998)))
            })
            .collect();
        app.board
            .append_session_output(session, lines, None, None)
            .await
            .unwrap();
    }
    let cap = harness::store::LOG_PAGE_BYTES as usize;
    let mut after = 0;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = log_page(&app, session, after).await;
        let Some((last, last_text)) = page.last().cloned() else {
            break;
        };
        pages += 1;
        let bytes: usize = page.iter().map(|(_, c)| c.len()).sum();
        // Every line but the last started within the cap.
        assert!(bytes - last_text.len() < cap, "page of {bytes} bytes");
        seen.extend(page.iter().map(|(_, c)| c[..2].to_owned()));
        after = last;
    }
    assert!(pages >= 3, "{pages} pages");
    let expected: Vec<String> = (0..40).map(|n| format!("{n:02}")).collect();
    assert_eq!(seen, expected, "every line once, in order");
}

#[tokio::test]
async fn logs_of_sessions_ended_past_the_retention_are_pruned_and_running_ones_kept() {
    let app = spawn_with(|s| {
        // Everything that ended is past a retention of zero; prune on every tick.
        s.engine.reliability.session_log_retention = std::time::Duration::ZERO;
        s.engine.worktree_retention = std::time::Duration::ZERO;
        s.engine.tick = std::time::Duration::from_millis(50);
    })
    .await;
    let ended = session_for(&app, "ended", "build-1").await;
    let running = session_for(&app, "running", "qa").await;
    for session in [ended, running] {
        app.board
            .append_log(session, LogKind::Output, "kept until pruned".into())
            .await
            .unwrap();
    }
    app.board
        .finish_session(ended, SessionStatus::Succeeded, "done".into())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !log_page(&app, ended, 0).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ended session's logs were never pruned"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The same statement left the running session's logs alone.
    assert_eq!(log_page(&app, running, 0).await.len(), 1);
    let session = json_with(
        app.get(&format!("/api/sessions/{ended}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(session["status"], "succeeded", "the session itself is kept");
}
