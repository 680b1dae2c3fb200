//! Both runtimes through the one `AgentRuntime` interface the scheduler uses: outcomes
//! say whether an attempt was used, timeouts fire, planners can create tasks.

use harness_testkit::fake_anthropic;

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use fake_anthropic::{API_KEY, FakeAnthropic, Reply, Scripted};
use harness::{
    config::Secret,
    engine::{
        anthropic::{Client, ClientConfig, LoopConfig, PriceTable, RateGate},
        cli_runtime::{CliAgentConfig, CliRuntime},
        prompt::TaskBrief,
        runtime::{
            AgentRuntime, AnthropicRuntime, CreateTaskError, SessionOutcome, SessionRequest,
            TaskCreator,
        },
        session::MemorySink,
        tools::{ToolLimits, ToolSet},
    },
};
use harness_domain::task::{NewTask, Priority, TaskId};
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn anthropic(fake: &FakeAnthropic, key: &str, max_rate_retries: u32) -> AnthropicRuntime {
    let mut config = ClientConfig::new(&fake.base_url, Secret::new(key));
    config.backoff_base = Duration::from_millis(5);
    config.max_rate_limit_retries = max_rate_retries;
    config.wait_heartbeat = Duration::from_millis(200);
    AnthropicRuntime {
        client: Client::new(config, Arc::new(RateGate::new())).unwrap(),
        prices: Arc::new(PriceTable::default()),
        loop_config: LoopConfig::new("claude-haiku-4-5"),
        tool_limits: ToolLimits::default(),
    }
}

fn request(worktree: PathBuf, timeout: Duration) -> SessionRequest {
    SessionRequest {
        worktree,
        role_instructions: "You are a build agent.".into(),
        brief: TaskBrief {
            display_id: "T-1".into(),
            title: "Write hello.txt".into(),
            ..TaskBrief::default()
        },
        resume: None,
        timeout,
        cancel: CancellationToken::new(),
        task_creator: None,
        tools: ToolSet::full(),
        browser: None,
    }
}

#[tokio::test]
async fn the_anthropic_runtime_completes_and_reports_usage_and_model() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeAnthropic::start(vec![
        Reply::tool("write_file", json!({"path": "hello.txt", "content": "hi"})),
        Reply::tool("complete_task", json!({"summary": "wrote hello.txt"})),
    ])
    .await;
    let runtime = anthropic(&fake, API_KEY, 3);
    assert!(runtime.readiness().is_ok());
    let sink = MemorySink::default();
    let report = runtime
        .run(request(dir.path().into(), Duration::from_secs(30)), &sink)
        .await;
    assert!(
        matches!(&report.outcome, SessionOutcome::Completed { summary, .. } if summary == "wrote hello.txt"),
        "{:?}",
        report.outcome
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("hello.txt")).unwrap(),
        "hi"
    );
    assert_eq!(report.usage.input_tokens, 2000);
    assert!(report.cost_usd > 0.0);
    let first = &fake.requests()[0];
    assert!(first.all_text().contains("Task T-1: Write hello.txt"));
    assert!(first.all_text().contains("You are a build agent."));
}

#[tokio::test]
async fn a_read_only_session_sees_and_runs_only_the_reading_tools() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "the build broke\n").unwrap();
    let fake = FakeAnthropic::start(vec![
        Reply::tool("read_file", json!({"path": "notes.txt"})),
        Reply::tool("write_file", json!({"path": "planted.txt", "content": "x"})),
        Reply::tool("run_command", json!({"command": "touch ran.txt"})),
        Reply::tool("complete_task", json!({"summary": "diagnosed"})),
    ])
    .await;
    let mut req = request(dir.path().into(), Duration::from_secs(30));
    req.tools = ToolSet::read_only();
    let report = anthropic(&fake, API_KEY, 3)
        .run(req, &MemorySink::default())
        .await;
    assert!(
        matches!(&report.outcome, SessionOutcome::Completed { .. }),
        "{:?}",
        report.outcome
    );
    let requests = fake.requests();
    let offered: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(offered.contains(&"read_file") && offered.contains(&"search"));
    for writer in ["write_file", "edit_file", "run_command"] {
        assert!(!offered.contains(&writer), "{writer} offered: {offered:?}");
    }
    assert_eq!(
        requests[1].last_tool_results()[0]["content"],
        "the build broke\n"
    );
    for (request, name) in [(&requests[2], "write_file"), (&requests[3], "run_command")] {
        let result = &request.last_tool_results()[0];
        assert_eq!(result["is_error"], true, "{name}: {result}");
    }
    assert!(!dir.path().join("planted.txt").exists());
    assert!(!dir.path().join("ran.txt").exists());
}

#[tokio::test]
async fn each_line_a_running_command_prints_is_a_sign_of_life_but_not_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeAnthropic::start(vec![
        Reply::tool(
            "run_command",
            json!({"command": "for i in 1 2 3 4 5; do echo step $i; done"}),
        ),
        Reply::tool("complete_task", json!({"summary": "built"})),
    ])
    .await;
    let sink = MemorySink::default();
    let report = anthropic(&fake, API_KEY, 3)
        .run(request(dir.path().into(), Duration::from_secs(30)), &sink)
        .await;
    assert!(
        matches!(&report.outcome, SessionOutcome::Completed { .. }),
        "{:?}",
        report.outcome
    );
    assert_eq!(sink.alive.load(std::sync::atomic::Ordering::Relaxed), 5);
    let logged_steps = sink
        .snapshot()
        .iter()
        .filter(|(_, line)| line.starts_with("step "))
        .count();
    assert_eq!(
        logged_steps, 0,
        "the output reaches the log in the tool result only"
    );
}

#[tokio::test]
async fn an_empty_key_is_unready_and_a_rejected_key_is_unconfigured_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeAnthropic::start(vec![]).await;
    let err = anthropic(&fake, "", 3).readiness().unwrap_err();
    assert!(err.to_string().contains("ANTHROPIC_API_KEY"));
    let report = anthropic(&fake, "wrong", 3)
        .run(
            request(dir.path().into(), Duration::from_secs(30)),
            &MemorySink::default(),
        )
        .await;
    assert!(matches!(
        report.outcome,
        SessionOutcome::Unconfigured { .. }
    ));
    assert!(!report.outcome.uses_attempt());
}

#[tokio::test]
async fn exhausted_rate_limit_retries_interrupt_without_using_an_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let limited = || Scripted::RateLimited {
        retry_after: Some("0".into()),
        reset_in: None,
    };
    let fake = FakeAnthropic::start(vec![limited(), limited()]).await;
    let report = anthropic(&fake, API_KEY, 1)
        .run(
            request(dir.path().into(), Duration::from_secs(30)),
            &MemorySink::default(),
        )
        .await;
    assert!(
        matches!(report.outcome, SessionOutcome::Interrupted { .. }),
        "{:?}",
        report.outcome
    );
    assert!(!report.outcome.uses_attempt());
}

#[tokio::test]
async fn the_session_timeout_kills_a_long_tool_and_ends_as_timed_out() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeAnthropic::start(vec![Reply::tool(
        "run_command",
        json!({"command": "sleep 30", "timeout_secs": 60}),
    )])
    .await;
    let started = std::time::Instant::now();
    let report = anthropic(&fake, API_KEY, 3)
        .run(
            request(dir.path().into(), Duration::from_millis(500)),
            &MemorySink::default(),
        )
        .await;
    assert!(
        matches!(report.outcome, SessionOutcome::TimedOut),
        "{:?}",
        report.outcome
    );
    assert!(report.outcome.uses_attempt());
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[derive(Default)]
struct Board(Mutex<Vec<NewTask>>);

impl TaskCreator for Board {
    fn create(
        &self,
        task: NewTask,
    ) -> futures_util::future::BoxFuture<'_, Result<String, CreateTaskError>> {
        let mut tasks = self.0.lock().unwrap();
        tasks.push(task);
        Box::pin(std::future::ready(Ok(format!("T-{}", 100 + tasks.len()))))
    }
}

#[tokio::test]
async fn a_planning_agent_creates_subtasks_through_the_task_creator() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeAnthropic::start(vec![
        Reply::tools(
            None,
            &[
                (
                    "create_task",
                    json!({"title": "Part one", "priority": "P1"}),
                ),
                (
                    "create_task",
                    json!({"title": "Part two", "depends_on": ["T-101"]}),
                ),
            ],
        ),
        Reply::tool("complete_task", json!({"summary": "split"})),
    ])
    .await;
    let board = Arc::new(Board::default());
    let mut req = request(dir.path().into(), Duration::from_secs(30));
    req.task_creator = Some(board.clone());
    let report = anthropic(&fake, API_KEY, 3)
        .run(req, &MemorySink::default())
        .await;
    assert!(matches!(report.outcome, SessionOutcome::Completed { .. }));
    let created = board.0.lock().unwrap().clone();
    assert_eq!(created.len(), 2);
    assert_eq!(created[0].priority, Priority::P1);
    assert_eq!(created[1].depends_on.ids(), [TaskId::new(101).unwrap()]);
    let requests = fake.requests();
    let tool_names: Vec<String> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(tool_names.contains(&"create_task".to_owned()));
    let results = requests[1].last_tool_results();
    assert_eq!(results[1]["content"], "created task T-102");
}

fn fake_claude(mode: &str) -> CliRuntime {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake-claude");
    let mut config = CliAgentConfig::claude_code();
    config.program = script.to_string_lossy().into_owned();
    config.env = vec![("FAKE_CLAUDE_MODE".into(), mode.into())];
    // The sandbox lets agents read only what it is told to: here, the fixture.
    config
        .sandbox
        .read_paths
        .push(script.parent().unwrap().to_path_buf());
    CliRuntime { config }
}

#[tokio::test]
async fn the_cli_runtime_completes_with_the_result_and_cost() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = fake_claude("success");
    assert!(runtime.readiness().is_ok());
    let report = runtime
        .run(
            request(dir.path().into(), Duration::from_secs(30)),
            &MemorySink::default(),
        )
        .await;
    assert!(
        matches!(report.outcome, SessionOutcome::Completed { .. }),
        "{:?}",
        report.outcome
    );
    assert_eq!(report.cost_usd, 0.0123);
    let prompt = std::fs::read_to_string(dir.path().join("from-agent.txt")).unwrap();
    assert!(prompt.contains("Task T-1: Write hello.txt"));
}

#[tokio::test]
async fn a_failing_cli_agent_uses_an_attempt_and_a_missing_one_is_unconfigured() {
    let dir = tempfile::tempdir().unwrap();
    let report = fake_claude("error")
        .run(
            request(dir.path().into(), Duration::from_secs(30)),
            &MemorySink::default(),
        )
        .await;
    assert!(
        matches!(&report.outcome, SessionOutcome::Failed { reason } if reason.contains("tests fail"))
    );
    let mut missing = fake_claude("success");
    missing.config.program = "/nonexistent/agent".into();
    let report = missing
        .run(
            request(dir.path().into(), Duration::from_secs(30)),
            &MemorySink::default(),
        )
        .await;
    assert!(matches!(
        report.outcome,
        SessionOutcome::Unconfigured { .. }
    ));
}

#[tokio::test]
async fn waiting_out_a_rate_limit_past_the_session_timeout_is_not_a_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeAnthropic::start(vec![
        Scripted::RateLimited {
            retry_after: Some("2".into()),
            reset_in: None,
        },
        Reply::tool("complete_task", json!({"summary": "made it"})),
    ])
    .await;
    let sink = MemorySink::default();
    let report = anthropic(&fake, API_KEY, 3)
        .run(
            request(dir.path().into(), Duration::from_millis(800)),
            &sink,
        )
        .await;
    assert!(
        matches!(report.outcome, SessionOutcome::Completed { .. }),
        "{:?}",
        report.outcome
    );
    let heartbeats = sink
        .snapshot()
        .into_iter()
        .filter(|(_, line)| line.contains("still waiting for the API rate limit"))
        .count();
    assert!(
        heartbeats >= 3,
        "the wait shows as alive: {heartbeats} heartbeats"
    );
}
