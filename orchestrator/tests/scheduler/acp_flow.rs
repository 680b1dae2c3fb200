//! Tasks run by `acp` agents: Zed's `claude-agent-acp` at its pinned version (tests/agents,
//! installed by `scripts/install-test-deps`), running Claude Code against the Messages
//! API stand-in, confined by the server's sandbox like every agent.

use std::path::{Path, PathBuf};

use harness::config::{AgentOverride, Settings};
use harness_domain::agent::RuntimeKind;
use serde_json::json;

use crate::{
    ended_sessions,
    fake_anthropic::{self, FakeAnthropic},
    fast_engine, git_repo,
    helpers::spawn_with,
    logs_of, status_is, wait_for, wait_for_task,
};

fn agents_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents")
}

/// Makes build-1 an `acp` agent: the pinned adapter, which gets the harness's Messages
/// API endpoint and key (the stand-in's).
fn acp_agent(s: &mut Settings) {
    let program = agents_dir().join("node_modules/.bin/claude-agent-acp");
    assert!(
        program.exists(),
        "{} is missing: run scripts/install-test-deps",
        program.display()
    );
    s.engine.sandbox.read_paths.push(agents_dir());
    let command = [program.display().to_string()];
    s.engine.agents.insert(
        "build-1".into(),
        AgentOverride {
            runtime: Some(RuntimeKind::Acp),
            command: Some(command.to_vec()),
            ..AgentOverride::default()
        },
    );
}

#[tokio::test]
async fn an_acp_agent_writes_its_file_and_the_task_lands_with_its_calls_in_the_log() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start_on(
        "127.0.0.1:0".parse().unwrap(),
        Vec::new(),
        Some(fake_anthropic::claude_code),
    )
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        acp_agent(s);
        s.engine.verify = vec!["grep -q 'made over ACP' widget.txt".into()];
    })
    .await;

    let agent = wait_for(&app, "/api/agents/build-1", |a| a["status"] == "idle").await;
    assert_eq!(agent["runtime"], "acp", "{agent}");
    let task = app.create_task(json!({"title": "Add the widget"})).await;
    let done = wait_for_task(&app, &task["id"], status_is("completed")).await;
    assert_eq!(done["attempts"], 1, "{done}");
    assert_eq!(
        git_repo::git(&path, &["show", "main:widget.txt"]),
        "made over ACP"
    );

    let session = &ended_sessions(&app, &task).await[0];
    assert_eq!(session["status"], "succeeded", "{session}");
    let logs = logs_of(&app, session).await;
    let of_kind = |kind: &str| -> Vec<String> {
        logs.iter()
            .filter(|l| l["kind"] == kind)
            .map(|l| l["content"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        of_kind("tool_call")
            .iter()
            .any(|c| c.contains("widget.txt")),
        "{logs:?}"
    );
    assert!(
        of_kind("text")
            .iter()
            .any(|t| t == "widget.txt is written."),
        "{logs:?}"
    );
}
