//! The Anthropic runtime end to end against the fake Messages API, on real temporary
//! git worktrees: tools edit files, complete_task ends the session, the change merges;
//! rate limits delay but never fail; confinement refuses escapes.

use harness_testkit::fake_anthropic;
use harness_testkit::git_repo;

use std::{sync::Arc, time::Duration};

use fake_anthropic::{API_KEY, FakeAnthropic, Reply, Scripted};
use harness::{
    config::Secret,
    engine::{
        LogKind,
        anthropic::{
            AgentLoop, AnthropicError, Client, ClientConfig, LoopConfig, LoopOutcome, PriceTable,
            RateGate, agent_loop::LoopReport,
        },
        confine::WorktreeRoot,
        git::{Author, BranchCleanup, Repo},
        landing::LandingGit,
        prompt::{self, TaskBrief},
        session::MemorySink,
        tools::{self, ToolLimits, Workspace},
        verify::{self, VerifyConfig},
    },
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn client(fake: &FakeAnthropic, gate: Arc<RateGate>, key: &str) -> Client {
    let mut config = ClientConfig::new(&fake.base_url, Secret::new(key));
    // Tests wait milliseconds, not seconds, when the server gives no reset time.
    config.backoff_base = Duration::from_millis(10);
    config.max_rate_limit_retries = 10;
    config.max_error_retries = 3;
    Client::new(config, gate).unwrap()
}

fn all_tools() -> Vec<Value> {
    let mut defs = tools::workspace_tool_definitions();
    defs.extend(tools::harness_tool_definitions(false));
    defs
}

async fn run(client: &Client, workspace: &Workspace, sink: &MemorySink, task: &str) -> LoopReport {
    let prices = PriceTable::default();
    let agent = AgentLoop {
        client,
        prices: &prices,
        executor: workspace,
        sink,
        config: LoopConfig::new("claude-sonnet-4-5"),
    };
    let system = prompt::system_prompt("You are a build agent.");
    agent
        .run(
            &system,
            &all_tools(),
            vec![harness::engine::anthropic::Message::user_text(task)],
            &CancellationToken::new(),
        )
        .await
}

fn scratch_workspace() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::new(
        WorktreeRoot::new(dir.path()).unwrap(),
        ToolLimits::default(),
    );
    (dir, ws)
}

#[tokio::test]
async fn an_agent_edits_a_file_through_tools_completes_and_the_change_merges() {
    let tmp = git_repo::init_repo(&[("greeting.txt", "hello world\n")]);
    let repo = Repo::open(git_repo::repo_path(&tmp)).unwrap();
    let base = repo.current_branch().unwrap();
    let worktree = repo
        .create_worktree("T-1", &base, &tmp.path().join("worktrees/T-1"))
        .unwrap();
    let workspace = Workspace::new(
        WorktreeRoot::new(&worktree.path).unwrap(),
        ToolLimits::default(),
    );
    let fake = FakeAnthropic::start(vec![
        Reply::tools(
            Some("Let me look at the file."),
            &[("read_file", json!({"path": "greeting.txt"}))],
        ),
        Reply::tool(
            "edit_file",
            json!({"path": "greeting.txt", "old_string": "world", "new_string": "harness"}),
        ),
        Reply::tool("run_command", json!({"command": "cat greeting.txt"})),
        Reply::tools(
            Some("Done."),
            &[("complete_task", json!({"summary": "greeting updated"}))],
        ),
    ])
    .await;
    let sink = MemorySink::default();
    let client = client(&fake, Arc::new(RateGate::new()), API_KEY);

    let report = run(&client, &workspace, &sink, "Task T-1: greet the harness").await;

    assert!(
        matches!(&report.outcome, LoopOutcome::Completed { summary, .. } if summary == "greeting updated"),
        "{:?}",
        report.outcome
    );
    assert_eq!(report.turns, 4);
    assert_eq!(report.usage.input_tokens, 4000);
    assert_eq!(report.usage.output_tokens, 800);
    assert_eq!(report.usage.cache_read_input_tokens, 1200);
    assert!(report.cost_usd > 0.0);
    assert_eq!(report.last_text, "Done.");

    // What reached the API: headers, caching, and each tool's real result.
    let requests = fake.requests();
    assert_eq!(requests.len(), 4);
    for r in &requests {
        assert_eq!(r.api_key.as_deref(), Some(API_KEY));
        assert_eq!(r.version.as_deref(), Some("2023-06-01"));
        assert_eq!(r.body["system"][0]["cache_control"]["type"], "ephemeral");
        let tools = r.body["tools"].as_array().unwrap();
        assert_eq!(tools.last().unwrap()["cache_control"]["type"], "ephemeral");
    }
    let read = requests[1].last_tool_results();
    assert_eq!(read[0]["content"], "hello world\n");
    let cat = requests[3].last_tool_results();
    assert!(
        cat[0]["content"]
            .as_str()
            .unwrap()
            .contains("hello harness")
    );
    assert!(
        cat[0]["content"]
            .as_str()
            .unwrap()
            .starts_with("exit code 0")
    );

    // The session log has every message, call and result.
    let lines = sink.snapshot();
    let count = |kind| lines.iter().filter(|(k, _)| *k == kind).count();
    assert_eq!(count(LogKind::Text), 2);
    assert_eq!(count(LogKind::ToolCall), 4);
    assert_eq!(count(LogKind::ToolResult), 3);
    let recorded_tokens = sink.usage.lock().unwrap().0.output_tokens;
    assert_eq!(recorded_tokens, 800);

    // Commit, verify with a real command, land: the file is on the base branch.
    let author = Author::default();
    let commit = repo
        .commit_all(&worktree.path, "T-1: greeting updated", &author)
        .unwrap();
    assert!(commit.is_some());
    let verification = verify::verify(
        &worktree.path,
        &VerifyConfig {
            commands: vec!["grep -q harness greeting.txt".into()],
            ..VerifyConfig::default()
        },
        &CancellationToken::new(),
        |_, _| {},
    )
    .await
    .unwrap();
    assert!(verification.passed(), "{}", verification.summary(2000));
    let landing = LandingGit {
        timeout: Duration::from_secs(60),
    };
    let base_commit = landing.base_head(repo.root(), &base).unwrap();
    let data = repo.worktree_git(&worktree).unwrap();
    landing
        .bring_up_to_date(&data, &base, &base_commit, &author)
        .unwrap();
    let head = landing.head(&data).unwrap();
    landing
        .fast_forward(repo.root(), &base, &base_commit, &head)
        .unwrap();
    let merged = git_repo::git(repo.root(), &["show", "main:greeting.txt"]);
    assert_eq!(merged, "hello harness");
    // The base checkout's files moved with the branch.
    let on_disk = std::fs::read_to_string(repo.root().join("greeting.txt")).unwrap();
    assert_eq!(on_disk, "hello harness\n");
    repo.remove_worktree(&worktree.path, false, BranchCleanup::IfMergedInto(&base))
        .unwrap();
    assert!(git_repo::git(repo.root(), &["branch", "--list", "harness/*"]).is_empty());
    assert!(repo.leftover_worktrees(&base).unwrap().is_empty());
}

#[tokio::test]
async fn a_storm_of_rate_limits_delays_the_session_but_does_not_fail_it() {
    let (_dir, workspace) = scratch_workspace();
    let reset = Duration::from_millis(150);
    let fake = FakeAnthropic::start(vec![
        Scripted::RateLimited {
            retry_after: Some("0".into()),
            reset_in: Some(reset),
        },
        Scripted::RateLimited {
            retry_after: Some("0".into()),
            reset_in: Some(reset),
        },
        Scripted::RateLimited {
            retry_after: Some("0".into()),
            reset_in: Some(reset),
        },
        Scripted::Overloaded,
        Scripted::OverloadedInStream,
        Reply::tool("complete_task", json!({"summary": "done despite limits"})),
    ])
    .await;
    let sink = MemorySink::default();
    let client = client(&fake, Arc::new(RateGate::new()), API_KEY);

    let report = run(&client, &workspace, &sink, "do it").await;

    assert!(
        matches!(report.outcome, LoopOutcome::Completed { .. }),
        "{:?}",
        report.outcome
    );
    let requests = fake.requests();
    let answered: Vec<&str> = requests.iter().map(|r| r.answered.as_str()).collect();
    assert_eq!(
        answered,
        ["429", "429", "429", "529", "stream-error", "reply"]
    );
    // After each 429 nobody asked again before the reset the headers gave.
    for pair in requests.windows(2).take(3) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= reset - Duration::from_millis(20), "gap {gap:?}");
    }
    let waits = sink
        .snapshot()
        .into_iter()
        .filter(|(k, c)| *k == LogKind::System && c.contains("rate limited"))
        .count();
    assert_eq!(waits, 5, "every pause is logged");
}

#[tokio::test]
async fn a_rate_limit_pauses_every_session_sharing_the_gate() {
    let (_dir_a, ws_a) = scratch_workspace();
    let (_dir_b, ws_b) = scratch_workspace();
    let reset = Duration::from_millis(400);
    let fake = FakeAnthropic::start(vec![
        Scripted::RateLimited {
            retry_after: None,
            reset_in: Some(reset),
        },
        Reply::tool("complete_task", json!({"summary": "one"})),
        Reply::tool("complete_task", json!({"summary": "two"})),
    ])
    .await;
    let gate = Arc::new(RateGate::new());
    let client_a = client(&fake, gate.clone(), API_KEY);
    let client_b = client(&fake, gate.clone(), API_KEY);
    let (sink_a, sink_b) = (MemorySink::default(), MemorySink::default());

    let session_a = run(&client_a, &ws_a, &sink_a, "a");
    let session_b = async {
        // Start B only once A has been rate limited.
        for _ in 0..400 {
            if fake.request_count() >= 1 && gate.paused_until().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(gate.paused_until().is_some(), "A was never rate limited");
        run(&client_b, &ws_b, &sink_b, "b").await
    };
    let (a, b) = tokio::join!(session_a, session_b);

    assert!(matches!(a.outcome, LoopOutcome::Completed { .. }));
    assert!(matches!(b.outcome, LoopOutcome::Completed { .. }));
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    for later in &requests[1..] {
        let gap = later.at - requests[0].at;
        assert!(
            gap >= reset - Duration::from_millis(30),
            "a session went ahead during the pause: {gap:?}"
        );
    }
}

#[tokio::test]
async fn running_out_of_rate_limit_retries_is_a_rate_limit_not_a_task_failure() {
    let (_dir, workspace) = scratch_workspace();
    let limited = || Scripted::RateLimited {
        retry_after: Some("0".into()),
        reset_in: None,
    };
    let fake = FakeAnthropic::start(vec![limited(), limited(), limited()]).await;
    let mut config = ClientConfig::new(&fake.base_url, Secret::new(API_KEY));
    config.backoff_base = Duration::from_millis(5);
    config.max_rate_limit_retries = 2;
    let client = Client::new(config, Arc::new(RateGate::new())).unwrap();
    let sink = MemorySink::default();

    let report = run(&client, &workspace, &sink, "x").await;

    match report.outcome {
        LoopOutcome::Api(error) => {
            assert!(error.is_rate_limit(), "{error}");
            assert!(!error.counts_as_task_failure());
        }
        other => panic!("expected a rate-limit error, got {other:?}"),
    }
    assert_eq!(fake.request_count(), 3, "bounded: one try plus two retries");
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error_that_names_the_variable() {
    let (_dir, workspace) = scratch_workspace();
    let fake = FakeAnthropic::start(vec![]).await;
    let client = client(&fake, Arc::new(RateGate::new()), "wrong-key");
    let report = run(&client, &workspace, &MemorySink::default(), "x").await;
    match report.outcome {
        LoopOutcome::Api(error @ AnthropicError::Auth { .. }) => {
            assert!(error.to_string().contains("ANTHROPIC_API_KEY"));
            assert!(!error.to_string().contains("wrong-key"));
            assert!(!error.counts_as_task_failure());
        }
        other => panic!("expected an auth error, got {other:?}"),
    }
    assert_eq!(fake.request_count(), 1, "auth errors are not retried");
}

#[tokio::test]
async fn tools_refuse_dot_dot_and_absolute_escapes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("worktree");
    std::fs::create_dir(&root).unwrap();
    let outside = tmp.path().join("escaped.txt");
    let workspace = Workspace::new(WorktreeRoot::new(&root).unwrap(), ToolLimits::default());
    std::os::unix::fs::symlink(tmp.path(), root.join("link-out")).unwrap();
    let fake = FakeAnthropic::start(vec![
        Reply::tools(
            None,
            &[
                (
                    "write_file",
                    json!({"path": "../escaped.txt", "content": "x"}),
                ),
                (
                    "write_file",
                    json!({"path": outside.to_str().unwrap(), "content": "x"}),
                ),
                ("read_file", json!({"path": "/etc/passwd"})),
                (
                    "write_file",
                    json!({"path": "link-out/escaped.txt", "content": "x"}),
                ),
                ("list_dir", json!({"path": "../.."})),
            ],
        ),
        Reply::tool("complete_task", json!({"summary": "tried"})),
    ])
    .await;
    let sink = MemorySink::default();
    let client = client(&fake, Arc::new(RateGate::new()), API_KEY);

    let report = run(&client, &workspace, &sink, "escape").await;

    assert!(matches!(report.outcome, LoopOutcome::Completed { .. }));
    let results = fake.requests()[1].last_tool_results();
    assert_eq!(results.len(), 5);
    for result in &results {
        assert_eq!(result["is_error"], true, "{result}");
    }
    let text = |i: usize| results[i]["content"].as_str().unwrap().to_owned();
    assert!(text(0).contains("leaves the worktree"), "{}", text(0));
    assert!(text(1).contains("outside the worktree"), "{}", text(1));
    assert!(text(2).contains("outside the worktree"), "{}", text(2));
    assert!(text(3).contains("symlink"), "{}", text(3));
    assert!(
        !outside.exists(),
        "nothing was written outside the worktree"
    );
}

#[tokio::test]
async fn the_previous_failure_reaches_the_first_prompt() {
    let (_dir, workspace) = scratch_workspace();
    let fake =
        FakeAnthropic::start(vec![Reply::tool("complete_task", json!({"summary": "ok"}))]).await;
    let client = client(&fake, Arc::new(RateGate::new()), API_KEY);
    let brief = TaskBrief {
        display_id: "T-9".into(),
        title: "Make the tests pass".into(),
        previous_failure: Some("verification failed: `cargo test` ended with exit code 101".into()),
        attempt: 2,
        max_attempts: 3,
        ..TaskBrief::default()
    };
    let report = run(
        &client,
        &workspace,
        &MemorySink::default(),
        &prompt::task_message(&brief),
    )
    .await;
    assert!(matches!(report.outcome, LoopOutcome::Completed { .. }));
    let first = &fake.requests()[0];
    assert!(first.all_text().contains("ended with exit code 101"));
    assert!(first.all_text().contains("attempt 2 of 3"));
}

#[tokio::test]
async fn ask_human_pauses_and_the_answer_resumes_the_conversation() {
    let (_dir, workspace) = scratch_workspace();
    let fake = FakeAnthropic::start(vec![Reply::tools(
        None,
        &[
            (
                "write_file",
                json!({"path": "notes.txt", "content": "draft"}),
            ),
            ("ask_human", json!({"question": "Which colour?"})),
        ],
    )])
    .await;
    let client = client(&fake, Arc::new(RateGate::new()), API_KEY);
    let sink = MemorySink::default();
    let report = run(&client, &workspace, &sink, "paint").await;
    let LoopOutcome::AskHuman { question, paused } = report.outcome else {
        panic!("expected ask_human, got {:?}", report.outcome);
    };
    assert_eq!(question, "Which colour?");
    // The pause survives a round trip through the store (JSON).
    let stored = serde_json::to_string(&paused).unwrap();
    let paused: harness::engine::anthropic::PausedConversation =
        serde_json::from_str(&stored).unwrap();

    fake.push([Reply::tool(
        "complete_task",
        json!({"summary": "painted blue"}),
    )]);
    let prices = PriceTable::default();
    let agent = AgentLoop {
        client: &client,
        prices: &prices,
        executor: &workspace,
        sink: &sink,
        config: LoopConfig::new("claude-sonnet-4-5"),
    };
    let resumed = agent
        .run(
            "system",
            &all_tools(),
            paused.resume("blue"),
            &CancellationToken::new(),
        )
        .await;
    assert!(matches!(resumed.outcome, LoopOutcome::Completed { .. }));
    let results = fake.requests()[1].last_tool_results();
    assert_eq!(results.len(), 2, "write_file's result and the answer");
    assert!(results[1]["content"].as_str().unwrap().contains("blue"));
}

#[tokio::test]
async fn a_model_that_stops_without_a_harness_tool_is_nudged_then_failed() {
    let (_dir, workspace) = scratch_workspace();
    let fake = FakeAnthropic::start(vec![
        Reply::text("I think I'm done"),
        Reply::text("Really done"),
        Reply::text("Still done"),
    ])
    .await;
    let client = client(&fake, Arc::new(RateGate::new()), API_KEY);
    let report = run(&client, &workspace, &MemorySink::default(), "x").await;
    match report.outcome {
        LoopOutcome::Failed { reason } => assert!(reason.contains("Still done"), "{reason}"),
        other => panic!("expected failure, got {other:?}"),
    }
    assert_eq!(fake.request_count(), 3);
    assert!(
        fake.requests()[1]
            .all_text()
            .contains("without calling a tool")
    );
}

#[tokio::test]
async fn cancelling_stops_a_session_waiting_on_a_rate_limit() {
    let (_dir, workspace) = scratch_workspace();
    let fake = FakeAnthropic::start(vec![Scripted::RateLimited {
        retry_after: Some("60".into()),
        reset_in: None,
    }])
    .await;
    let client = client(&fake, Arc::new(RateGate::new()), API_KEY);
    let prices = PriceTable::default();
    let sink = MemorySink::default();
    let agent = AgentLoop {
        client: &client,
        prices: &prices,
        executor: &workspace,
        sink: &sink,
        config: LoopConfig::new("claude-sonnet-4-5"),
    };
    let cancel = CancellationToken::new();
    let canceller = {
        let cancel = cancel.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            cancel.cancel();
        }
    };
    let started = std::time::Instant::now();
    let tools = all_tools();
    let messages = vec![harness::engine::anthropic::Message::user_text("x")];
    let (report, ()) = tokio::join!(agent.run("s", &tools, messages, &cancel), canceller);
    assert!(matches!(report.outcome, LoopOutcome::Cancelled));
    assert!(started.elapsed() < Duration::from_secs(5));
}
