//! Spend limits hold for a remote session as for a local one: the worker's usage is
//! stored as it streams, and a session crossing its cap is stopped mid-run (its worker
//! cancelled through the executor backend) and says so.

use serde_json::json;

use crate::{
    alive, git_repo, helpers::spawn_with, remote_engine, running_worker, sessions_of, wait_for,
    worker_pid,
};

#[tokio::test]
async fn a_remote_session_crossing_its_cost_cap_is_stopped_and_says_so() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        // The agent's one message costs $0.0105, then it waits five minutes.
        remote_engine(s, &path, "sleep", 10.0);
        s.engine.reliability.session_max_usd = Some(0.001);
    })
    .await;
    let task = app
        .create_task(json!({"title": "Expensive far away", "max_attempts": 1}))
        .await;
    let pid = worker_pid(&running_worker(&app, &task).await);

    let page = wait_for(
        &app,
        &format!("/api/sessions?task_id={}", task["id"]),
        |p| {
            p["items"][0]["status"]
                .as_str()
                .is_some_and(|s| s != "running")
        },
    )
    .await;
    let session = &page["items"][0];
    assert_eq!(session["executor"], "process", "{session}");
    assert_eq!(session["status"], "failed", "{session}");
    let reason = session["exit_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("session cost limit"), "{session}");
    assert!(
        session["cost_usd"].as_f64().unwrap_or_default() >= 0.001,
        "{session}"
    );

    let blocked = wait_for(&app, &format!("/api/tasks/{}", task["id"]), |t| {
        t["status"] == "blocked"
    })
    .await;
    assert!(
        blocked["last_failure"]
            .as_str()
            .is_some_and(|f| f.contains("session cost limit")),
        "{blocked}"
    );
    let events = wait_for(&app, "/api/events?type=session.stopped", |e| {
        e["items"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    assert_eq!(events["items"][0]["session_id"], session["id"], "{events}");
    // The worker was cancelled through the backend, not left running.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while alive(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "worker {pid} still runs"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(sessions_of(&app, &task).await.len(), 1);
    crate::stop_with_workers(app).await;
}
