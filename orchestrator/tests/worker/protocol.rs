//! A remote attempt from claim to merge, and a worker that stops heart-beating.

use std::time::Duration;

use serde_json::json;

use crate::{
    alive, git_repo, helpers::spawn_with, remote_engine, running_worker, sessions_of, wait_for,
    worker_pid,
};

#[tokio::test]
async fn a_worker_process_runs_the_agent_verifies_pushes_and_the_orchestrator_merges() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        remote_engine(s, &path, "success", 10.0);
        s.engine.verify = vec!["test -s from-agent.txt".into()];
    })
    .await;
    let task = app.create_task(json!({"title": "Remote work"})).await;
    let done = wait_for(&app, &format!("/api/tasks/{}", task["id"]), |t| {
        t["status"] == "completed" || t["status"] == "failed" || t["status"] == "blocked"
    })
    .await;
    assert_eq!(done["status"], "completed", "{done:#}");

    // The agent's file reached the base through the worker's push and the landing.
    let landed = std::fs::read_to_string(path.join("from-agent.txt")).unwrap();
    assert!(landed.contains("Remote work"), "{landed}");
    let log = git_repo::git(&path, &["log", "--format=%s", "main"]);
    assert!(log.contains("Remote work"), "{log}");

    let sessions = sessions_of(&app, &task).await;
    let session = &sessions[0];
    assert_eq!(session["executor"], "process", "{session:#}");
    assert!(
        session["executor_name"]
            .as_str()
            .unwrap()
            .starts_with("pid "),
        "{session:#}"
    );
    // Lines the worker streamed are in the session's log.
    let logs = crate::helpers::json_with(
        app.get(&format!("/api/sessions/{}/logs", session["id"]))
            .await,
        reqwest::StatusCode::OK,
    )
    .await;
    let text = logs["items"].to_string();
    assert!(text.contains("verification passed in the worker"), "{text}");
    assert!(text.contains("fast-forwarded"), "{text}");
    // The worker is gone with its scratch directory.
    let pid = worker_pid(session);
    assert!(!alive(pid), "worker {pid} outlived its attempt");
    let scratch = app.dir.path().join("data/worktrees/.workers");
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn a_worker_that_stops_heart_beating_is_requeued_like_a_crash() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| remote_engine(s, &path, "sleep", 1.0)).await;
    let task = app.create_task(json!({"title": "Goes silent"})).await;
    let session = running_worker(&app, &task).await;
    let pid = worker_pid(&session);
    // Frozen, not dead: its container (here, its process) is still there.
    // SAFETY: kill(2) only sends a signal; no memory is touched.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let session = wait_for(&app, &format!("/api/sessions/{}", session["id"]), |s| {
        s["status"] != "running"
    })
    .await;
    assert_eq!(session["status"], "interrupted", "{session:#}");
    assert!(
        session["exit_reason"]
            .as_str()
            .is_some_and(|r| r.contains("no heartbeat")),
        "{session:#}"
    );
    // Back to pending with that reason (the scheduler may already have claimed it again).
    let history = crate::helpers::json_with(
        app.get(&format!("/api/tasks/{}/history", task["id"])).await,
        reqwest::StatusCode::OK,
    )
    .await;
    let requeued = history["items"].as_array().unwrap().iter().any(|h| {
        h["to_status"] == "pending"
            && h["reason"]
                .as_str()
                .is_some_and(|r| r.contains("no heartbeat"))
    });
    assert!(requeued, "{history:#}");
    let task_now = crate::helpers::json_with(
        app.get(&format!("/api/tasks/{}", task["id"])).await,
        reqwest::StatusCode::OK,
    )
    .await;
    // Requeued without using an attempt, and the frozen worker was removed.
    assert_ne!(task_now["status"], "failed", "{task_now:#}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while alive(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "worker {pid} not removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The requeued task's next worker.
    crate::stop_with_workers(app).await;
}
