//! The helper roles around a remote attempt run in the orchestrator as for a local one:
//! the evaluator's estimate sets the worker's model and session timeout, and
//! validation reviews the pushed branch before it lands; a rejection stops the landing
//! and its reasons reach the next attempt. The worker's agent and the local helpers
//! talk to the same fake Messages API, in turn.

use harness::config::{AgentOverride, RoleSettings, RolesFile, Settings, SizeFile};
use harness::executor::ExecutorKind;
use harness_domain::agent::RuntimeKind;
use serde_json::{Value, json};

use crate::{
    fake_anthropic::{self, FakeAnthropic, Reply},
    git_repo,
    helpers::spawn_with,
    remote_engine, sessions_of, wait_for,
};

/// `build-1` on the anthropic runtime through a `harness worker` process, and the
/// helper agents `staff` (agent, role) running here.
fn remote_with_helpers(
    s: &mut Settings,
    path: &std::path::Path,
    url: &str,
    staff: &[(&str, &str)],
) {
    remote_engine(s, path, "success", 10.0);
    s.engine.anthropic_base_url = url.to_owned();
    s.engine.anthropic_api_key = Some(harness::config::Secret::new(fake_anthropic::API_KEY));
    s.engine.agents.insert(
        "build-1".into(),
        AgentOverride {
            runtime: Some(RuntimeKind::Anthropic),
            executor: Some(ExecutorKind::Process),
            ..AgentOverride::default()
        },
    );
    for (id, role) in staff {
        s.engine.agents.insert(
            (*id).into(),
            AgentOverride {
                role: Some((*role).into()),
                runtime: Some(RuntimeKind::Anthropic),
                ..AgentOverride::default()
            },
        );
    }
}

fn attempts(sessions: &[Value]) -> Vec<&Value> {
    let mut attempts: Vec<&Value> = sessions
        .iter()
        .filter(|s| s["purpose"] == "attempt")
        .collect();
    attempts.sort_by_key(|s| s["id"].as_i64());
    attempts
}

#[tokio::test]
async fn the_evaluators_estimate_sets_the_remote_attempts_model_and_timeout() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(vec![
        // The evaluator, here, before the worker starts.
        Reply::tool(
            "complete_task",
            json!({"summary": "small: one line of README"}),
        ),
        // The worker's agent.
        Reply::tool("complete_task", json!({"summary": "nothing to change", "no_changes_needed": "the typo was fixed already"})),
    ])
    .await;
    let app = spawn_with(|s| {
        remote_with_helpers(s, &path, &fake.base_url, &[("evaluator-1", "evaluator")]);
        let mut roles = RolesFile::default();
        roles.sizes.insert(
            "small".into(),
            SizeFile {
                model: Some("claude-haiku-4-5".into()),
                timeout_secs: Some(17.0),
            },
        );
        s.engine.roles = RoleSettings::load(roles, None).unwrap();
    })
    .await;
    let task = app
        .create_task(json!({"title": "Fix a typo far away", "max_attempts": 1}))
        .await;
    let done = wait_for(&app, &format!("/api/tasks/{}", task["id"]), |t| {
        t["status"] == "completed" || t["status"] == "blocked"
    })
    .await;
    assert_eq!(done["status"], "completed", "{done:#}");

    let sessions = sessions_of(&app, &task).await;
    let estimate = sessions
        .iter()
        .find(|s| s["purpose"] == "estimate")
        .unwrap_or_else(|| panic!("no estimate session: {sessions:#?}"));
    // A helper session here, not on a worker.
    assert_eq!(estimate["agent_id"], "evaluator-1", "{estimate:#}");
    assert!(estimate["executor_name"].is_null(), "{estimate:#}");
    let attempt = attempts(&sessions)[0].clone();
    assert_eq!(attempt["executor"], "process", "{attempt:#}");
    let logs = wait_for(
        &app,
        &format!("/api/sessions/{}/logs", attempt["id"]),
        |l| l.to_string().contains("the session may run 17s"),
    )
    .await;
    assert!(logs.to_string().contains("a small task"), "{logs:#}");

    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "every scripted reply was used");
    assert!(requests[0].all_text().contains("Estimate the size"));
    // The worker's request: on the small tier's model, not the agent's default.
    assert!(requests[1].all_text().contains("Fix a typo far away"));
    assert_eq!(requests[1].body["model"], "claude-haiku-4-5");
    crate::stop_with_workers(app).await;
}

#[tokio::test]
async fn a_validation_rejection_stops_a_remote_attempt_from_landing_and_reaches_the_next() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let write = |text: &str| {
        Reply::tools(
            None,
            &[
                (
                    "write_file",
                    json!({"path": "greeting.txt", "content": text}),
                ),
                ("complete_task", json!({"summary": "wrote the greeting"})),
            ],
        )
    };
    let fake = FakeAnthropic::start(vec![
        write("hey\n"),
        Reply::tool(
            "fail_task",
            json!({"reason": "criterion 'greets politely' not met: greeting.txt says hey"}),
        ),
        write("Good morning\n"),
        Reply::tool("complete_task", json!({"summary": "polite now"})),
    ])
    .await;
    let app = spawn_with(|s| {
        remote_with_helpers(s, &path, &fake.base_url, &[("validator", "validation")]);
    })
    .await;
    let task = app
        .create_task(json!({
            "title": "Write a greeting far away",
            "pass_criteria": ["greets politely"],
            "max_attempts": 2
        }))
        .await;

    // The first attempt is rejected: it fails with the reasons, and nothing lands.
    let first = wait_for(
        &app,
        &format!("/api/sessions?task_id={}", task["id"]),
        |page| {
            page["items"].as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|s| s["purpose"] == "attempt" && s["status"] == "failed")
            })
        },
    )
    .await;
    let rejected = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["purpose"] == "attempt" && s["status"] == "failed")
        .unwrap()
        .clone();
    assert_eq!(rejected["executor"], "process", "{rejected:#}");
    let reason = rejected["exit_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("validation rejected"), "{rejected:#}");

    let done = wait_for(&app, &format!("/api/tasks/{}", task["id"]), |t| {
        t["status"] == "completed" || t["status"] == "blocked"
    })
    .await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(done["attempts"], 2, "{done:#}");
    assert_eq!(
        git_repo::git(&path, &["show", "main:greeting.txt"]),
        "Good morning"
    );
    // The rejected "hey" never reached main: no commit of main's history wrote it.
    let history = git_repo::git(&path, &["log", "-p", "main", "--", "greeting.txt"]);
    assert!(!history.contains("+hey"), "{history}");

    let requests = fake.requests();
    // build (worker), validation (here), build (worker), validation (here).
    assert_eq!(requests.len(), 4, "every scripted reply was used");
    assert!(
        requests[1].all_text().contains("hey"),
        "validation sees the pushed diff"
    );
    // The rejection's reasons reach the second remote attempt.
    assert!(requests[2].all_text().contains("greets politely"));
    assert!(requests[3].all_text().contains("Good morning"));

    let sessions = sessions_of(&app, &task).await;
    let reviews: Vec<&Value> = sessions
        .iter()
        .filter(|s| s["purpose"] == "validation")
        .collect();
    assert_eq!(reviews.len(), 2, "{sessions:#?}");
    assert!(
        reviews
            .iter()
            .all(|s| s["agent_id"] == "validator" && s["executor_name"].is_null()),
        "{reviews:#?}"
    );
    assert_eq!(attempts(&sessions).len(), 2, "{sessions:#?}");
    crate::stop_with_workers(app).await;
}

#[tokio::test]
async fn a_large_remote_task_gets_the_architects_note_on_its_branch_and_in_its_brief() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(vec![
        // The architect, here, in a checkout of the attempt's branch.
        Reply::tools(
            None,
            &[
                (
                    "write_file",
                    json!({"path": "docs/design/T-1.md", "content": "Split parser from printer.\n"}),
                ),
                ("complete_task", json!({"summary": "design written"})),
            ],
        ),
        // The worker's agent, in its clone of that branch.
        Reply::tool("read_file", json!({"path": "docs/design/T-1.md"})),
        Reply::tool("complete_task", json!({"summary": "built to the design"})),
    ])
    .await;
    let app = spawn_with(|s| {
        remote_with_helpers(s, &path, &fake.base_url, &[("architect-1", "architect")]);
    })
    .await;
    app.post_empty("/api/orchestrator/pause").await;
    let task = app
        .create_task(json!({"title": "Rewrite the parser far away", "max_attempts": 1}))
        .await;
    let marked = app
        .put(
            &format!("/api/tasks/{}/estimate", task["id"]),
            json!({"size": "large"}),
        )
        .await;
    assert_eq!(marked.status(), reqwest::StatusCode::OK);
    app.post_empty("/api/orchestrator/resume").await;
    let done = wait_for(&app, &format!("/api/tasks/{}", task["id"]), |t| {
        t["status"] == "completed" || t["status"] == "blocked"
    })
    .await;
    assert_eq!(done["status"], "completed", "{done:#}");

    let requests = fake.requests();
    assert!(requests[0].all_text().contains("docs/design/T-1.md"));
    assert!(
        requests[1]
            .all_text()
            .contains("Split parser from printer."),
        "the worker's agent receives the note in its brief"
    );
    // The note was on the branch the worker cloned, and landed with the work.
    let read = requests[2].last_tool_results();
    assert_ne!(read[0]["is_error"], true, "{read:?}");
    assert!(
        read[0].to_string().contains("Split parser from printer."),
        "{read:?}"
    );
    assert_eq!(
        git_repo::git(&path, &["show", "main:docs/design/T-1.md"]),
        "Split parser from printer."
    );
    crate::stop_with_workers(app).await;
}
