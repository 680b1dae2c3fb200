//! A remote attempt's verified branch lands only on the base it was verified on. A base
//! that moves meanwhile requeues the task, up to `HARNESS_LAND_TRIES` rounds in a row;
//! then the attempt fails saying the base kept moving, instead of rerunning the agent
//! (and spending) for ever.

use std::{path::Path, time::Duration};

use serde_json::{Value, json};

use crate::{fixture, git_repo, helpers::spawn_with, remote_engine, sessions_of, wait_for};

/// The worker's clone of session `id`, where its agent runs.
fn clone_of(app_dir: &Path, id: &Value) -> std::path::PathBuf {
    app_dir.join(format!("data/worktrees/.workers/worker-{id}/work/repo"))
}

/// Waits for a running session of `task` with a worker that is not in `seen`.
async fn next_running(app: &crate::helpers::TestApp, task: &Value, seen: &[Value]) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let sessions = sessions_of(app, task).await;
        if let Some(s) = sessions.iter().find(|s| {
            s["status"] == "running"
                && s["executor_name"].as_str().is_some()
                && !seen.contains(&s["id"])
        }) {
            return s.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new worker started: {sessions:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_base_that_keeps_moving_under_remote_attempts_fails_after_the_landing_bound() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        remote_engine(s, &path, "gate", 10.0);
        // Each worker's agent waits for `gate-open` in its own clone, so the test moves
        // the base while that agent works, then lets it finish.
        s.engine.agents.get_mut("build-1").unwrap().command = Some(vec![
            "env".into(),
            "FAKE_CLAUDE_MODE=gate".into(),
            "FAKE_CLAUDE_GATE=gate-open".into(),
            fixture("fake-claude"),
        ]);
        s.engine.reliability.land_tries = 2;
    })
    .await;
    let task = app
        .create_task(json!({"title": "Chasing a moving base", "max_attempts": 1}))
        .await;

    let mut seen = Vec::new();
    for round in 1..=2 {
        let session = next_running(&app, &task, &seen).await;
        seen.push(session["id"].clone());
        let clone = clone_of(app.dir.path(), &session["id"]);
        wait_for(
            &app,
            &format!("/api/sessions/{}/logs", session["id"]),
            |l| l.to_string().contains("tick 1"),
        )
        .await;
        std::fs::write(path.join(format!("moved-{round}.txt")), "elsewhere\n").unwrap();
        git_repo::git(&path, &["add", "-A"]);
        git_repo::git(&path, &["commit", "-q", "-m", &format!("moved {round}")]);
        std::fs::write(clone.join("gate-open"), "").unwrap();
        let ended = wait_for(&app, &format!("/api/sessions/{}", session["id"]), |s| {
            s["status"] != "running"
        })
        .await;
        assert_eq!(ended["landing"], "base-moved", "{ended:#}");
        let reason = ended["exit_reason"].as_str().unwrap_or_default();
        if round == 1 {
            assert_eq!(ended["status"], "interrupted", "{ended:#}");
            assert!(reason.contains("round 1 of 2"), "{ended:#}");
        } else {
            assert_eq!(ended["status"], "failed", "{ended:#}");
            assert!(reason.contains("kept moving"), "{ended:#}");
        }
    }
    let task = wait_for(&app, &format!("/api/tasks/{}", task["id"]), |t| {
        t["status"] == "blocked"
    })
    .await;
    assert!(
        task["last_failure"]
            .as_str()
            .is_some_and(|f| f.contains("main kept moving") && f.contains("2 rounds")),
        "{task:#}"
    );
    assert_eq!(
        task["attempts"], 1,
        "the moved base used no attempt: {task:#}"
    );
    // Nothing of the agent's work landed.
    assert!(!path.join("from-agent.txt").exists());
    assert_eq!(sessions_of(&app, &task).await.len(), 2);
    crate::stop_with_workers(app).await;
}
