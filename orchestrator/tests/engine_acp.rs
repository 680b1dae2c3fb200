//! The `acp` runtime with a real ACP agent: Zed's `claude-agent-acp` at the version
//! pinned in tests/agents (installed by `scripts/install-test-deps`), running Claude
//! Code against the Messages API stand-in, confined like every agent.

use harness_testkit::fake_anthropic;

use std::{path::PathBuf, time::Duration};

use fake_anthropic::{API_KEY, FakeAnthropic, HANG};
use harness::engine::{
    LogKind,
    acp::{AcpAgentConfig, AcpRuntime},
    prompt::TaskBrief,
    runtime::{AgentRuntime, SessionOutcome, SessionRequest},
    sandbox::SandboxConfig,
    session::MemorySink,
    tools::ToolSet,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn agents_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/agents")
}

/// The pinned agent; its absence is a failure, not a skip: the README's test command
/// installs it.
fn claude_acp(fake: &FakeAnthropic) -> AcpRuntime {
    let program = agents_dir().join("node_modules/.bin/claude-agent-acp");
    assert!(
        program.exists(),
        "{} is missing: run scripts/install-test-deps",
        program.display()
    );
    let mut config = AcpAgentConfig::claude_acp();
    config.program = program.to_string_lossy().into_owned();
    config.env.extend([
        ("ANTHROPIC_BASE_URL".to_owned(), fake.base_url.clone()),
        ("ANTHROPIC_API_KEY".to_owned(), API_KEY.to_owned()),
    ]);
    config.timeout = Duration::from_secs(120);
    config.kill_grace = Duration::from_secs(2);
    config.sandbox = SandboxConfig {
        read_paths: [SandboxConfig::default().read_paths, vec![agents_dir()]].concat(),
        ..SandboxConfig::default()
    };
    AcpRuntime { config }
}

fn request(worktree: PathBuf, title: &str, tools: ToolSet) -> SessionRequest {
    SessionRequest {
        worktree,
        role_instructions: "You are a build agent.".into(),
        brief: TaskBrief {
            display_id: "T-1".into(),
            title: title.into(),
            ..TaskBrief::default()
        },
        resume: None,
        timeout: Duration::from_secs(120),
        cancel: CancellationToken::new(),
        task_creator: None,
        tools,
        browser: None,
    }
}

async fn stand_in() -> FakeAnthropic {
    FakeAnthropic::start_on(
        "127.0.0.1:0".parse().unwrap(),
        Vec::new(),
        Some(fake_anthropic::claude_code),
    )
    .await
}

fn dump(sink: &MemorySink, fake: &FakeAnthropic) -> String {
    let tools: Vec<Value> = fake
        .requests()
        .iter()
        .map(|r| {
            json!(
                r.body["tools"]
                    .as_array()
                    .map(|t| t.iter().map(|t| t["name"].clone()).collect::<Vec<_>>())
            )
        })
        .collect();
    let last = fake
        .requests()
        .last()
        .map(|r| r.body["messages"].to_string())
        .unwrap_or_default();
    let system = fake
        .requests()
        .last()
        .map(|r| r.body["system"].to_string())
        .unwrap_or_default();
    format!(
        "log: {:#?}\nrequests' tools: {tools:?}\nlast messages: {last}\nsystem: {}",
        sink.snapshot(),
        &system[..system.len().min(3000)]
    )
}

#[tokio::test]
async fn an_acp_agent_writes_a_file_in_its_worktree_and_the_log_shows_its_calls() {
    let fake = stand_in().await;
    let dir = tempfile::tempdir().unwrap();
    let runtime = claude_acp(&fake);
    assert!(runtime.readiness().is_ok());
    let sink = MemorySink::default();
    let report = runtime
        .run(
            request(dir.path().into(), "Write widget.txt", ToolSet::full()),
            &sink,
        )
        .await;

    let SessionOutcome::Completed { summary, .. } = &report.outcome else {
        panic!("{:?}\n{}", report.outcome, dump(&sink, &fake));
    };
    assert_eq!(summary, "widget.txt is written.");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("widget.txt")).unwrap_or_default(),
        "made over ACP\n",
        "{}",
        dump(&sink, &fake)
    );
    let lines = sink.snapshot();
    let call = lines
        .iter()
        .find(|(kind, text)| *kind == LogKind::ToolCall && text.contains("widget.txt"))
        .unwrap_or_else(|| panic!("no tool call logged: {}", dump(&sink, &fake)));
    assert!(call.1.contains("made over ACP"), "{}", call.1);
    assert!(
        lines
            .iter()
            .any(|(kind, text)| *kind == LogKind::Text && text == "widget.txt is written."),
        "{}",
        dump(&sink, &fake)
    );
    assert!(
        report
            .model
            .as_deref()
            .is_some_and(|m| m.contains("claude-agent-acp")),
        "{:?}",
        report.model
    );
}

#[tokio::test]
async fn a_read_only_role_is_refused_the_write_and_nothing_is_written() {
    let fake = stand_in().await;
    let dir = tempfile::tempdir().unwrap();
    let runtime = claude_acp(&fake);
    let sink = MemorySink::default();
    let report = runtime
        .run(
            request(dir.path().into(), "Write widget.txt", ToolSet::read_only()),
            &sink,
        )
        .await;
    assert!(
        !dir.path().join("widget.txt").exists(),
        "a read-only role wrote: {:?}\n{}",
        report.outcome,
        dump(&sink, &fake)
    );
    assert!(
        sink.snapshot()
            .iter()
            .any(|(kind, text)| *kind == LogKind::System && text.contains("refused")),
        "{}",
        dump(&sink, &fake)
    );
}

#[tokio::test]
async fn cancelling_a_hung_acp_session_ends_it_and_its_processes() {
    let fake = stand_in().await;
    let dir = tempfile::tempdir().unwrap();
    let runtime = claude_acp(&fake);
    let req = request(dir.path().into(), HANG, ToolSet::full());
    let cancel = req.cancel.clone();
    let started = std::time::Instant::now();
    let run = tokio::spawn(async move {
        let sink = MemorySink::default();
        runtime.run(req, &sink).await
    });
    // Once the agent is mid-turn (its model request hangs), stop it.
    while fake
        .requests()
        .iter()
        .all(|r| !r.body.to_string().contains(HANG))
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the agent never asked the model"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cancel.cancel();
    let report = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the session ends soon after its cancel")
        .unwrap();
    assert!(
        matches!(report.outcome, SessionOutcome::Cancelled),
        "{:?}",
        report.outcome
    );
    let left = harness_testkit::procs::working_in(dir.path());
    assert!(left.is_empty(), "processes left in the worktree: {left:?}");
}
