//! The agents of a `harness worker` on this machine (the `process` executor) are kept off
//! the orchestrator's port as the server's own agents are: with no token on loopback, an
//! agent that reached it would own the API.

use serde_json::json;

use crate::{fixture, git_repo, helpers::spawn_with, remote_engine, stop_with_workers, wait_for};

#[tokio::test]
async fn a_process_workers_agent_cannot_reach_the_orchestrators_port() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    // The port is known once the server listens; the agent reads it from its clone.
    let probe = "port=$(cat port.txt); \
                 if bash -c \"exec 3<>/dev/tcp/127.0.0.1/$port\"; then echo REACHED $port; \
                 else echo REFUSED $port; fi";
    let app = spawn_with(|s| {
        remote_engine(s, &path, "probe", 10.0);
        let agent = s.engine.agents.get_mut("build-1").unwrap();
        agent.command = Some(vec![
            "env".into(),
            "FAKE_CLAUDE_MODE=probe".into(),
            format!("FAKE_CLAUDE_PROBE={probe}"),
            fixture("fake-claude"),
        ]);
    })
    .await;
    let port = app.url("").rsplit(':').next().unwrap().to_owned();
    std::fs::write(path.join("port.txt"), &port).unwrap();
    git_repo::git(&path, &["add", "port.txt"]);
    git_repo::git(&path, &["commit", "-qm", "the orchestrator's port"]);

    let task = app.create_task(json!({"title": "Probe"})).await;
    let done = wait_for(&app, &format!("/api/tasks/{}", task["id"]), |t| {
        t["status"] == "completed" || t["status"] == "blocked"
    })
    .await;
    assert_eq!(done["status"], "completed", "{done:#}");
    let seen = git_repo::git(&path, &["show", "main:probe.txt"]);
    assert_eq!(
        seen.lines().last(),
        Some(format!("REFUSED {port}").as_str()),
        "{seen}"
    );
    stop_with_workers(app).await;
}
