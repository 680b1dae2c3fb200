//! The `cli` runtime with a script that behaves like Claude Code: stream-json on stdout,
//! a file edit, an exit code. Cancelling kills the script and its child.

use harness_testkit::procs;

use std::{path::PathBuf, time::Duration};

use harness::engine::{
    LogKind,
    cli_runtime::{CliAgentConfig, run_cli_agent},
    process::Termination,
    sandbox::SandboxConfig,
    session::MemorySink,
};
use tokio_util::sync::CancellationToken;

fn fake_claude(mode: &str) -> CliAgentConfig {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake-claude");
    CliAgentConfig {
        program: script.to_string_lossy().into_owned(),
        args: vec!["-p".into(), "--output-format".into(), "stream-json".into()],
        env: vec![("FAKE_CLAUDE_MODE".into(), mode.into())],
        timeout: Duration::from_secs(30),
        kill_grace: Duration::from_millis(500),
        sandbox: SandboxConfig {
            read_paths: vec![script.parent().unwrap().to_path_buf()],
            ..SandboxConfig::default()
        },
    }
}

#[tokio::test]
async fn a_successful_cli_agent_edits_a_file_and_reports_result_and_cost() {
    let dir = tempfile::tempdir().unwrap();
    let sink = MemorySink::default();
    let report = run_cli_agent(
        &fake_claude("success"),
        dir.path(),
        "Write the prompt to a file",
        &CancellationToken::new(),
        &sink,
    )
    .await
    .unwrap();

    assert!(report.success, "{report:?}");
    assert_eq!(report.termination, Termination::Exited(0));
    assert_eq!(report.summary, "Wrote from-agent.txt with the prompt.");
    assert_eq!(report.cost_usd, Some(0.0123));
    assert_eq!(report.usage.cache_read_input_tokens, 400);
    assert_eq!(report.model.as_deref(), Some("claude-sonnet-4-5"));
    let written = std::fs::read_to_string(dir.path().join("from-agent.txt")).unwrap();
    assert_eq!(
        written, "Write the prompt to a file\n",
        "the prompt arrived on stdin"
    );

    let lines = sink.snapshot();
    let kinds: Vec<LogKind> = lines.iter().map(|(k, _)| *k).collect();
    for kind in [
        LogKind::System,
        LogKind::Output,
        LogKind::Text,
        LogKind::ToolCall,
        LogKind::ToolResult,
    ] {
        assert!(kinds.contains(&kind), "no {kind:?} line in {lines:?}");
    }
    let result = lines
        .iter()
        .find(|(k, _)| *k == LogKind::ToolResult)
        .unwrap();
    let result: serde_json::Value = serde_json::from_str(&result.1).unwrap();
    assert_eq!(result["name"], "Write");
    assert_eq!(sink.usage.lock().unwrap().1, 0.0123);
}

#[tokio::test]
async fn an_error_result_and_exit_code_fail_the_session_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_cli_agent(
        &fake_claude("error"),
        dir.path(),
        "x",
        &CancellationToken::new(),
        &MemorySink::default(),
    )
    .await
    .unwrap();
    assert!(!report.success);
    assert_eq!(report.termination, Termination::Exited(1));
    assert!(
        report.summary.contains("could not finish: tests fail"),
        "{}",
        report.summary
    );
    assert_eq!(report.cost_usd, Some(0.0042));
}

#[tokio::test]
async fn cancelling_a_running_cli_session_kills_the_script_and_its_child() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let path = dir.path().to_path_buf();
    let session = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            let sink = MemorySink::default();
            run_cli_agent(&fake_claude("sleep"), &path, "sleep", &cancel, &sink).await
        }
    });
    let parent = procs::read_pid(&dir.path().join("parent.pid")).await;
    let child = procs::read_pid(&dir.path().join("child.pid")).await;
    assert!(procs::running(parent) && procs::running(child));

    cancel.cancel();
    let report = session.await.unwrap().unwrap();

    assert_eq!(report.termination, Termination::Cancelled);
    assert!(!report.success);
    assert!(procs::gone(parent).await, "script {parent} survived");
    assert!(procs::gone(child).await, "child {child} survived");
}

#[tokio::test]
async fn a_missing_cli_is_an_error_at_start_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fake_claude("success");
    config.program = "/nonexistent/claude".into();
    let result = run_cli_agent(
        &config,
        dir.path(),
        "x",
        &CancellationToken::new(),
        &MemorySink::default(),
    )
    .await;
    assert!(result.is_err());
}
