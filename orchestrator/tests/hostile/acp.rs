//! The hostile suite through an ACP agent: Claude Code under `claude-agent-acp` (pinned
//! in tests/agents), told by the Messages API stand-in to try the suite's ways out with
//! its own Bash tool. What an agent process runs itself is confined as the harness's
//! own `run_command` is: the database, the data directory, the server's port and
//! everything outside the worktree stay out of reach.

use std::path::Path;

use harness::config::AgentOverride;
use harness_domain::agent::RuntimeKind;
use serde_json::json;

use crate::{
    attempt, completes, data_dir, engine,
    fake_anthropic::{FakeAnthropic, Reply},
    git_repo,
    helpers::spawn_with,
};

#[tokio::test]
async fn an_acp_agents_own_commands_are_confined_like_every_agent_process() {
    let agents = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents");
    let program = agents.join("node_modules/.bin/claude-agent-acp");
    assert!(
        program.exists(),
        "{} is missing: run scripts/install-test-deps",
        program.display()
    );
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let outside = tempfile::tempdir().unwrap();
    let probes = [
        attempt("read the database", "cat ../../harness.db"),
        attempt("plant in the data directory", "touch ../../planted"),
        attempt(
            "write outside the worktree",
            &format!("touch {}/escaped", outside.path().display()),
        ),
        attempt(
            "reach the harness port",
            "curl -s -m 3 -o /dev/null http://127.0.0.1:$(cat port.txt)/health",
        ),
    ];
    let fake = FakeAnthropic::start(vec![
        Reply::tool(
            "Bash",
            json!({"command": probes.join("; "), "description": "probe the sandbox"}),
        ),
        Reply::text("probed"),
    ])
    .await;
    let app = spawn_with(|s| {
        engine(s, &path, Some(&fake.base_url));
        s.engine.sandbox.read_paths.push(agents.clone());
        s.engine.agents.insert(
            "build-1".into(),
            AgentOverride {
                runtime: Some(RuntimeKind::Acp),
                command: Some(vec![program.display().to_string()]),
                ..AgentOverride::default()
            },
        );
    })
    .await;
    std::fs::write(path.join("port.txt"), app.addr.port().to_string()).unwrap();
    git_repo::git(&path, &["add", "port.txt"]);
    git_repo::git(&path, &["commit", "-qm", "the port"]);

    let task = app.create_task(json!({"title": "Hostile"})).await;
    let task = completes(&app, &task).await;
    let log = crate::session_output(&app, &task).await;
    let requests = fake.requests();
    let result = requests
        .get(1)
        .map(|r| r.last_tool_results())
        .unwrap_or_default();
    let output = result.first().map(|r| r.to_string()).unwrap_or_default();
    for probe in [
        "read the database",
        "plant in the data directory",
        "write outside the worktree",
        "reach the harness port",
    ] {
        assert!(
            output.contains(&format!("BLOCKED {probe}")),
            "{probe}: {output}\n{log}"
        );
    }
    assert!(!output.contains("ESCAPED"), "{output}");
    assert!(!data_dir(&app).join("planted").exists());
    assert!(!outside.path().join("escaped").exists());
}
