//! Task CRUD, actions and history over HTTP.

use harness_domain::task::{TaskId, TaskStatus};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, error_field, json_with, spawn_app};

async fn move_to(app: &TestApp, id: i64, path: &[TaskStatus]) {
    for &to in path {
        app.board
            .transition_task(TaskId::new(id).unwrap(), to, "test", "test")
            .await
            .unwrap();
    }
}

const TO_FAILED: [TaskStatus; 3] = [
    TaskStatus::InProgress,
    TaskStatus::Verifying,
    TaskStatus::Failed,
];

#[tokio::test]
async fn creating_a_task_returns_201_with_a_display_id_and_defaults() {
    let app = spawn_app().await;
    let task = app.task_titled("  Write the parser  ").await;
    assert_eq!(task["title"], "Write the parser");
    assert_eq!(task["display_id"], format!("T-{}", task["id"]));
    assert_eq!(task["status"], "pending");
    assert_eq!(task["priority"], "P2");
    assert_eq!(task["category"], "feature");
    assert_eq!(task["attempts"], 0);
    assert_eq!(task["max_attempts"], 3);
    assert!(task["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn a_json_body_sent_as_curl_form_data_is_accepted() {
    let app = spawn_app().await;
    let response = app
        .post_raw(
            "/api/tasks",
            r#"{"title":"from curl -d"}"#,
            "application/x-www-form-urlencoded",
        )
        .await;
    let task = json_with(response, StatusCode::CREATED).await;
    assert_eq!(task["title"], "from curl -d");
}

#[tokio::test]
async fn a_task_can_be_read_by_id_or_display_id() {
    let app = spawn_app().await;
    let task = app.task_titled("find me").await;
    let id = task["id"].as_i64().unwrap();
    for path in [
        format!("/api/tasks/{id}"),
        format!("/api/tasks/T-{id}"),
        format!("/api/tasks/t-{id}"),
    ] {
        let got = json_with(app.get(&path).await, StatusCode::OK).await;
        assert_eq!(got, task, "{path}");
    }
    error_field(app.get("/api/tasks/9999").await, StatusCode::NOT_FOUND).await;
    error_field(app.get("/api/tasks/banana").await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn the_list_filters_sorts_by_priority_and_paginates() {
    let app = spawn_app().await;
    app.create_task(json!({"title": "low", "priority": "P4", "category": "docs"}))
        .await;
    let urgent = app
        .create_task(json!({"title": "urgent fix", "priority": "P0", "category": "bug"}))
        .await;
    app.create_task(json!({"title": "normal"})).await;
    move_to(
        &app,
        urgent["id"].as_i64().unwrap(),
        &[TaskStatus::InProgress],
    )
    .await;

    let all = json_with(app.get("/api/tasks").await, StatusCode::OK).await;
    let titles: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["urgent fix", "normal", "low"]);
    assert_eq!(all["total"], 3);

    let app = &app;
    let by = |q: &'static str| async move {
        json_with(app.get(&format!("/api/tasks?{q}")).await, StatusCode::OK).await
    };
    assert_eq!(by("status=in_progress").await["total"], 1);
    assert_eq!(by("priority=P4").await["items"][0]["title"], "low");
    assert_eq!(by("category=bug").await["items"][0]["title"], "urgent fix");
    assert_eq!(by("q=FIX").await["total"], 1);
    assert_eq!(by("agent=build-1").await["total"], 0);
    let page = by("limit=1&offset=1").await;
    assert_eq!(
        (
            page["total"].as_u64(),
            page["items"].as_array().unwrap().len()
        ),
        (Some(3), 1)
    );
    assert_eq!(page["items"][0]["title"], "normal");
}

#[tokio::test]
async fn patch_changes_only_the_fields_sent() {
    let app = spawn_app().await;
    let dep = app.task_titled("dependency").await;
    let task = app
        .create_task(json!({"title": "t", "description": "keep me"}))
        .await;
    let id = task["id"].as_i64().unwrap();
    let patched = json_with(
        app.patch(
            &format!("/api/tasks/{id}"),
            json!({"title": "renamed", "priority": "P1", "category": "bug",
                   "pass_criteria": ["cargo test passes"], "depends_on": [dep["display_id"]]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["title"], "renamed");
    assert_eq!(patched["description"], "keep me");
    assert_eq!(patched["priority"], "P1");
    assert_eq!(patched["pass_criteria"], json!(["cargo test passes"]));
    assert_eq!(patched["depends_on"], json!([dep["id"]]));
    let dependents = json_with(
        app.get(&format!("/api/tasks/{}/dependents", dep["id"]))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(dependents["items"][0]["id"], id);
}

#[tokio::test]
async fn patch_sets_the_cost_cap_and_names_the_field_when_it_is_bad() {
    let app = spawn_app().await;
    let task = app
        .create_task(json!({"title": "t", "max_cost_usd": 2.5}))
        .await;
    assert_eq!(task["crash_interruptions"], 0, "{task}");
    let path = format!("/api/tasks/{}", task["id"]);
    let patched = json_with(
        app.patch(&path, json!({"max_cost_usd": 0.75})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["max_cost_usd"], 0.75);
    assert_eq!(patched["title"], "t");
    for bad in [json!(0), json!(-1), json!(2_000_000), json!("lots")] {
        let response = app.patch(&path, json!({"max_cost_usd": bad})).await;
        let field = error_field(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(field.as_deref(), Some("max_cost_usd"), "{bad}");
    }
    let stored = json_with(app.get(&path).await, StatusCode::OK).await;
    assert_eq!(
        stored["max_cost_usd"], 0.75,
        "a refused patch changes nothing"
    );
}

#[tokio::test]
async fn a_finished_task_cannot_be_edited() {
    let app = spawn_app().await;
    let task = app.task_titled("done soon").await;
    let id = task["id"].as_i64().unwrap();
    json_with(
        app.post_empty(&format!("/api/tasks/{id}/cancel")).await,
        StatusCode::OK,
    )
    .await;
    error_field(
        app.patch(&format!("/api/tasks/{id}"), json!({"title": "x"}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
}

#[tokio::test]
async fn delete_removes_a_task_but_not_one_that_runs_or_is_depended_on() {
    let app = spawn_app().await;
    let base = app.task_titled("base").await;
    let child = app
        .create_task(json!({"title": "child", "depends_on": [base["id"]]}))
        .await;
    let (base_id, child_id) = (base["id"].as_i64().unwrap(), child["id"].as_i64().unwrap());

    error_field(
        app.delete(&format!("/api/tasks/{base_id}")).await,
        StatusCode::CONFLICT,
    )
    .await;

    move_to(&app, child_id, &[TaskStatus::InProgress]).await;
    error_field(
        app.delete(&format!("/api/tasks/{child_id}")).await,
        StatusCode::CONFLICT,
    )
    .await;

    move_to(&app, child_id, &[TaskStatus::Cancelled]).await;
    assert_eq!(
        app.delete(&format!("/api/tasks/{child_id}")).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&format!("/api/tasks/{base_id}")).await.status(),
        StatusCode::NO_CONTENT
    );
    error_field(
        app.get(&format!("/api/tasks/{base_id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    error_field(
        app.delete(&format!("/api/tasks/{base_id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn retry_puts_a_failed_task_back_in_the_queue() {
    let app = spawn_app().await;
    let id = app.task_titled("flaky").await["id"].as_i64().unwrap();
    error_field(
        app.post_empty(&format!("/api/tasks/{id}/retry")).await,
        StatusCode::CONFLICT,
    )
    .await;
    move_to(&app, id, &TO_FAILED).await;
    let task = json_with(
        app.post_empty(&format!("/api/tasks/{id}/retry")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(task["status"], "pending");
}

#[tokio::test]
async fn unblock_gives_a_blocked_task_a_fresh_start() {
    let app = spawn_app().await;
    let id = app.task_titled("stuck").await["id"].as_i64().unwrap();
    error_field(
        app.post_empty(&format!("/api/tasks/T-{id}/unblock")).await,
        StatusCode::CONFLICT,
    )
    .await;
    move_to(&app, id, &TO_FAILED).await;
    move_to(&app, id, &[TaskStatus::Blocked]).await;
    let task = json_with(
        app.post_empty(&format!("/api/tasks/T-{id}/unblock")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (task["status"].as_str(), task["attempts"].as_i64()),
        (Some("pending"), Some(0))
    );
}

#[tokio::test]
async fn of_concurrent_unblocks_exactly_one_wins_and_the_rest_say_why() {
    let app = spawn_app().await;
    let id = app.task_titled("contended").await["id"].as_i64().unwrap();
    move_to(&app, id, &TO_FAILED).await;
    move_to(&app, id, &[TaskStatus::Blocked]).await;
    let path = format!("/api/tasks/{id}/unblock");
    let answers = futures_util::future::join_all((0..8).map(|_| app.post_empty(&path))).await;
    let mut won = 0;
    for response in answers {
        if response.status() == StatusCode::OK {
            won += 1;
            continue;
        }
        let body = json_with(response, StatusCode::CONFLICT).await;
        assert_eq!(
            body["error"]["message"],
            format!("task T-{id} is pending; only a blocked task can be unblocked")
        );
    }
    assert_eq!(won, 1);
    let history = json_with(
        app.get(&format!("/api/tasks/{id}/history")).await,
        StatusCode::OK,
    )
    .await;
    let unblocks = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["reason"] == "unblocked by a user")
        .count();
    assert_eq!(unblocks, 1);
}

#[tokio::test]
async fn an_empty_answer_is_rejected_in_the_answers_own_words() {
    let app = spawn_app().await;
    let id = app.task_titled("asks").await["id"].as_i64().unwrap();
    let body = json_with(
        app.post(&format!("/api/tasks/{id}/answer"), json!({"answer": "  "}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["error"]["field"], "answer");
    assert_eq!(body["error"]["message"], "answer must not be empty");
}

#[tokio::test]
async fn cancel_works_from_any_unfinished_state_and_never_twice() {
    let app = spawn_app().await;
    for path in [&[][..], &[TaskStatus::InProgress][..], &TO_FAILED[..]] {
        let id = app.task_titled("to cancel").await["id"].as_i64().unwrap();
        move_to(&app, id, path).await;
        let task = json_with(
            app.post_empty(&format!("/api/tasks/{id}/cancel")).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(task["status"], "cancelled");
        let body = json_with(
            app.post_empty(&format!("/api/tasks/{id}/cancel")).await,
            StatusCode::CONFLICT,
        )
        .await;
        assert_eq!(
            body["error"]["message"],
            "a task cannot go from cancelled to cancelled"
        );
    }
}

#[tokio::test]
async fn a_cancelled_task_is_reopened_with_fresh_attempts_and_nothing_else_is() {
    let app = spawn_app().await;
    let id = app.task_titled("to reopen").await["id"].as_i64().unwrap();
    let body = json_with(
        app.post_empty(&format!("/api/tasks/{id}/reopen")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("reopened"),
        "{body}"
    );
    move_to(&app, id, &TO_FAILED).await;
    app.post_empty(&format!("/api/tasks/{id}/cancel")).await;
    let task = json_with(
        app.post_empty(&format!("/api/tasks/{id}/reopen")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (task["status"].as_str(), task["attempts"].as_i64()),
        (Some("pending"), Some(0))
    );
    let history = json_with(
        app.get(&format!("/api/tasks/{id}/history")).await,
        StatusCode::OK,
    )
    .await;
    let last = history["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            last["from_status"].as_str(),
            last["to_status"].as_str(),
            last["reason"].as_str()
        ),
        (
            Some("cancelled"),
            Some("pending"),
            Some("reopened by a user")
        )
    );
    let events = json_with(app.get("/api/events").await, StatusCode::OK).await;
    assert!(
        events["items"].as_array().unwrap().iter().any(|e| {
            e["task_id"] == id && e["message"].as_str().unwrap_or("").contains("reopened")
        }),
        "{events}"
    );
}

#[tokio::test]
async fn actions_on_a_missing_task_are_404() {
    let app = spawn_app().await;
    for action in ["retry", "unblock", "cancel", "reopen"] {
        error_field(
            app.post_empty(&format!("/api/tasks/404/{action}")).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    error_field(
        app.get("/api/tasks/404/history").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn history_records_every_transition_with_reason_and_actor() {
    let app = spawn_app().await;
    let id = app.task_titled("tracked").await["id"].as_i64().unwrap();
    move_to(&app, id, &TO_FAILED).await;
    app.post_empty(&format!("/api/tasks/{id}/retry")).await;
    let history = json_with(
        app.get(&format!("/api/tasks/{id}/history")).await,
        StatusCode::OK,
    )
    .await;
    let steps: Vec<(Option<&str>, &str, &str)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["from_status"].as_str(),
                h["to_status"].as_str().unwrap(),
                h["actor"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (None, "pending", "api"),
            (Some("pending"), "in_progress", "test"),
            (Some("in_progress"), "verifying", "test"),
            (Some("verifying"), "failed", "test"),
            (Some("failed"), "pending", "api"),
        ]
    );
}

#[tokio::test]
async fn an_illegal_transition_is_refused_and_never_written() {
    let app = spawn_app().await;
    let id = app.task_titled("strict").await["id"].as_i64().unwrap();
    let err = app
        .board
        .transition_task(
            TaskId::new(id).unwrap(),
            TaskStatus::Completed,
            "skip",
            "test",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("pending to completed"), "{err}");
    let task = json_with(app.get(&format!("/api/tasks/{id}")).await, StatusCode::OK).await;
    assert_eq!(task["status"], "pending");
    let history = json_with(
        app.get(&format!("/api/tasks/{id}/history")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn retry_skips_the_backoff_of_a_task_waiting_to_retry() {
    let app = spawn_app().await;
    let id = app.task_titled("backing off").await["id"].as_i64().unwrap();
    move_to(&app, id, &[TaskStatus::InProgress]).await;
    let later = harness_domain::time::Timestamp::now().plus(chrono::TimeDelta::minutes(30));
    let failure = harness::store::Failure {
        reason: "tests failed".into(),
        summary: "1 failed".into(),
        retry_at: Some(later),
        investigate: false,
    };
    let tid = TaskId::new(id).unwrap();
    app.board
        .settle_failure(tid, failure, None, "test")
        .await
        .unwrap();
    let waiting = json_with(app.get(&format!("/api/tasks/{id}")).await, StatusCode::OK).await;
    assert_eq!(
        (waiting["status"].as_str(), waiting["retry_at"].is_string()),
        (Some("pending"), true)
    );

    let now = json_with(
        app.post_empty(&format!("/api/tasks/{id}/retry")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (now["status"].as_str(), now["retry_at"].is_null()),
        (Some("pending"), true)
    );
    // Without a backoff left, there is nothing to retry.
    error_field(
        app.post_empty(&format!("/api/tasks/{id}/retry")).await,
        StatusCode::CONFLICT,
    )
    .await;
}

#[tokio::test]
async fn cursor_pages_walk_the_whole_list_in_order_and_totals_follow_every_change() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (i, priority) in ["P3", "P0", "P2", "P0", "P1"].iter().enumerate() {
        let task = app
            .create_task(json!({"title": format!("task {i}"), "priority": priority}))
            .await;
        ids.push(task["id"].as_i64().unwrap());
    }
    let listed = json_with(app.get("/api/tasks?limit=500").await, StatusCode::OK).await;
    let in_order: Vec<i64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();

    let mut walked = Vec::new();
    let mut path = "/api/tasks?limit=2".to_owned();
    loop {
        let page = json_with(app.get(&path).await, StatusCode::OK).await;
        assert_eq!(page["total"], 5);
        walked.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/tasks?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(walked, in_order);

    move_to(&app, ids[0], &[TaskStatus::Cancelled]).await;
    app.delete(&format!("/api/tasks/{}", ids[1])).await;
    let total = |q: &'static str| {
        let app = &app;
        async move {
            json_with(app.get(&format!("/api/tasks?{q}")).await, StatusCode::OK).await["total"]
                .clone()
        }
    };
    assert_eq!(total("").await, 4);
    assert_eq!(total("status=cancelled").await, 1);
    assert_eq!(total("status=pending&priority=P0").await, 1);
    let status: serde_json::Value =
        json_with(app.get("/api/orchestrator/status").await, StatusCode::OK).await;
    assert_eq!(status["task_counts"]["pending"], 3, "{status}");

    assert_eq!(
        error_field(
            app.get("/api/tasks?cursor=nonsense").await,
            StatusCode::UNPROCESSABLE_ENTITY
        )
        .await
        .as_deref(),
        Some("cursor")
    );
}
