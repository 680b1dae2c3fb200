//! Roles as data: a role from harness.toml gets its category's tasks with its prompt
//! and only its tools; `GET /api/roles` shows every role with its agents and status.

use harness::config::{AgentOverride, RoleSettings, RolesFile};
use harness_domain::role::RoleSpec;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    fake_anthropic::{FakeAnthropic, Reply},
    fast_engine, git_repo,
    helpers::{json_with, spawn_with},
    status_is, wait_for_task,
};

const DESIGN_PROMPT: &str = "You are a design agent. Sketch the screen in docs/design.md.";

fn designer_roles() -> RolesFile {
    let mut file = RolesFile::default();
    file.roles.insert(
        "designer".into(),
        RoleSpec {
            prompt: Some(DESIGN_PROMPT.into()),
            tools: Some(vec!["read_file".into(), "write_file".into()]),
            categories: Some(vec!["design".into()]),
            ..RoleSpec::default()
        },
    );
    file
}

fn tool_names(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_custom_role_gets_its_categorys_tasks_with_its_prompt_and_only_its_tools() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(vec![
        // Outside its tools: refused even though the model asks.
        Reply::tool("run_command", json!({"command": "touch escaped"})),
        Reply::tool(
            "write_file",
            json!({"path": "docs/design.md", "content": "a sketch\n"}),
        ),
        Reply::tool("complete_task", json!({"summary": "sketched"})),
    ])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        s.engine.roles = RoleSettings::load(designer_roles(), None).unwrap();
        s.engine.agents.insert(
            "designer-1".into(),
            AgentOverride {
                role: Some("designer".into()),
                ..AgentOverride::default()
            },
        );
    })
    .await;

    let task = app
        .create_task(json!({"title": "Sketch the settings screen", "category": "design"}))
        .await;
    let done = wait_for_task(&app, &task["id"], status_is("completed")).await;
    assert_eq!(done["assigned_agent"], "designer-1", "{done}");

    let requests = fake.requests();
    let first = &requests[0].body;
    assert!(
        first["system"].to_string().contains(DESIGN_PROMPT),
        "{}",
        first["system"]
    );
    assert_eq!(
        tool_names(first),
        [
            "read_file",
            "write_file",
            "complete_task",
            "fail_task",
            "ask_human"
        ]
    );
    let refused = requests[1].last_tool_results();
    assert_eq!(refused[0]["is_error"], true, "{refused:?}");
    assert!(!path.join("escaped").exists());
    assert_eq!(
        git_repo::git(&path, &["show", "main:docs/design.md"]),
        "a sketch"
    );
}

#[tokio::test]
async fn the_roles_endpoint_lists_each_role_with_its_agents_and_status() {
    // A workspace, so that what keeps the human-sim agent from running is its browser.
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        fast_engine(s, &path, None);
        let chromium = s.database_path.parent().unwrap().join("no-chromium");
        s.engine.roles = RoleSettings::load(designer_roles(), Some(chromium)).unwrap();
        s.engine.agents.insert(
            "designer-1".into(),
            AgentOverride {
                role: Some("designer".into()),
                ..AgentOverride::default()
            },
        );
        s.engine.agents.insert(
            "tester".into(),
            AgentOverride {
                role: Some("human-sim".into()),
                ..AgentOverride::default()
            },
        );
    })
    .await;
    let roles = json_with(app.get("/api/roles").await, StatusCode::OK).await;
    let items = roles["items"].as_array().unwrap();
    let role = |name: &str| {
        items
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no role {name} in {roles:#}"))
            .clone()
    };
    for name in [
        "build",
        "spec",
        "qa",
        "research",
        "planning",
        "clarification",
        "investigator",
        "evaluator",
        "architect",
        "validation",
        "sia",
        "human-sim",
    ] {
        role(name);
    }
    let designer = role("designer");
    assert_eq!(designer["prompt"], DESIGN_PROMPT);
    assert_eq!(designer["tools"], json!(["read_file", "write_file"]));
    assert_eq!(designer["categories"], json!(["design"]));
    assert_eq!(designer["agents"], json!(["designer-1"]));
    assert_eq!(designer["builtin"], false);
    assert_eq!(designer["status"], "ready");

    let build = role("build");
    assert_eq!(build["agents"], json!(["build-1", "build-2"]));
    assert!(
        build["categories"]
            .as_array()
            .unwrap()
            .contains(&json!("feature"))
    );

    let sim = role("human-sim");
    assert!(sim["tools"].as_array().unwrap().contains(&json!("browser")));
    assert_eq!(sim["status"], "unconfigured");
    assert!(
        sim["status_reason"].as_str().unwrap().contains("Chromium"),
        "{sim}"
    );
    // No agent has the evaluator role: it is shown, and says how to turn it on.
    let evaluator = role("evaluator");
    assert_eq!(evaluator["status"], "unconfigured");
    assert!(
        evaluator["status_reason"]
            .as_str()
            .unwrap()
            .contains("[agents.")
    );

    // The human-sim agent says why it cannot run: Chromium, and what to install.
    let tester = crate::wait_for(&app, "/api/agents/tester", |a| {
        a["status"] == "unconfigured"
    })
    .await;
    assert_eq!(tester["role"], "human-sim");
    let reason = tester["status_reason"].as_str().unwrap();
    assert!(
        reason.contains("needs Chromium") && reason.contains("HARNESS_CHROMIUM"),
        "{tester}"
    );
}

fn staff(s: &mut harness::config::Settings, agents: &[(&str, &str)]) {
    for (id, role) in agents {
        s.engine.agents.insert(
            (*id).into(),
            AgentOverride {
                role: Some((*role).into()),
                ..AgentOverride::default()
            },
        );
    }
}

#[tokio::test]
async fn the_evaluators_estimate_sets_the_timeout_of_the_attempts() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(vec![
        // The evaluator, before the first attempt.
        Reply::tool(
            "complete_task",
            json!({"summary": "small: one line of README", "no_changes_needed": "nothing to change for this test"}),
        ),
        // Attempt 1 outlives a small task's timeout (2 s; the session timeout is 60 s).
        Reply::tool("run_command", json!({"command": "sleep 20"})),
        // Attempt 2 finishes.
        Reply::tool(
            "complete_task",
            json!({"summary": "nothing to change", "no_changes_needed": "nothing to change for this test"})),
    ])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        let mut roles = RolesFile::default();
        roles.sizes.insert(
            "small".into(),
            harness::config::SizeFile {
                model: Some("claude-haiku-4-5".into()),
                timeout_secs: Some(2.0),
            },
        );
        s.engine.roles = RoleSettings::load(roles, None).unwrap();
        staff(s, &[("evaluator-1", "evaluator")]);
    })
    .await;
    let task = app
        .create_task(json!({"title": "Fix a typo", "max_attempts": 2}))
        .await;
    let done = wait_for_task(&app, &task["id"], status_is("completed")).await;
    assert_eq!(done["attempts"], 2, "{done}");

    let estimate = json_with(
        app.get(&format!("/api/tasks/{}/estimate", task["id"]))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(estimate["estimate"]["size"], "small", "{estimate}");
    assert_eq!(estimate["estimate"]["reason"], "one line of README");
    assert_eq!(estimate["estimate"]["agent_id"], "evaluator-1");

    let sessions = crate::sessions_of(&app, &task).await;
    let purposes: Vec<&str> = sessions
        .iter()
        .map(|s| s["purpose"].as_str().unwrap())
        .collect();
    assert_eq!(
        purposes.iter().filter(|p| **p == "estimate").count(),
        1,
        "{purposes:?}"
    );
    let first_attempt = sessions
        .iter()
        .filter(|s| s["purpose"] == "attempt")
        .min_by_key(|s| s["id"].as_i64())
        .unwrap();
    assert_eq!(
        first_attempt["exit_reason"], "the session timed out",
        "{first_attempt}"
    );

    let requests = fake.requests();
    // The evaluator reads only; the attempts run on the small tier's model.
    assert_eq!(
        tool_names(&requests[0].body),
        [
            "read_file",
            "list_dir",
            "search",
            "complete_task",
            "fail_task",
            "ask_human"
        ]
    );
    assert_eq!(requests[1].body["model"], "claude-haiku-4-5");
    assert_eq!(requests[2].body["model"], "claude-haiku-4-5");
}

#[tokio::test]
async fn validation_rejections_feed_the_next_attempt_and_a_second_calls_sia_whose_proposals_wait() {
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
        write("hey you\n"),
        Reply::tool("fail_task", json!({"reason": "still not polite"})),
        // SIA arbitrates: one proposal, then its advice.
        Reply::tool(
            "create_task",
            json!({"title": "Define what a polite greeting is", "priority": "P1"}),
        ),
        Reply::tool(
            "complete_task",
            json!({"summary": "Validation is right: write 'Good morning'."}),
        ),
        write("Good morning\n"),
        Reply::tool("complete_task", json!({"summary": "polite now"})),
    ])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        staff(s, &[("validator", "validation"), ("sia-1", "sia")]);
    })
    .await;
    let task = app
        .create_task(json!({
            "title": "Write a greeting",
            "pass_criteria": ["greets politely"],
            "max_attempts": 3
        }))
        .await;
    let done = wait_for_task(&app, &task["id"], status_is("completed")).await;
    assert_eq!(done["attempts"], 3, "{done}");
    assert_eq!(
        git_repo::git(&path, &["show", "main:greeting.txt"]),
        "Good morning"
    );

    let requests = fake.requests();
    // build, validation, build, validation, SIA (2 turns), build, validation.
    assert_eq!(requests.len(), 8, "every scripted reply was used");
    // The rejection's own reasons reach attempt 2 (the criterion alone is in every
    // attempt's brief); the second rejection and SIA's advice reach attempt 3.
    assert!(
        requests[2]
            .all_text()
            .contains("not met: greeting.txt says hey"),
        "{}",
        requests[2].all_text()
    );
    assert!(!requests[0].all_text().contains("greeting.txt says hey"));
    assert!(requests[6].all_text().contains("still not polite"));
    assert!(requests[6].all_text().contains("write 'Good morning'"));
    assert!(
        requests[7].all_text().contains("Good morning"),
        "validation sees the diff"
    );
    // Validation reads only; SIA reads and proposes.
    assert_eq!(
        tool_names(&requests[1].body),
        [
            "read_file",
            "list_dir",
            "search",
            "complete_task",
            "fail_task",
            "ask_human"
        ]
    );
    assert!(tool_names(&requests[4].body).contains(&"create_task".to_owned()));

    // The proposal waits: no task was created for it.
    let proposals = json_with(
        app.get("/api/proposals?status=proposed").await,
        StatusCode::OK,
    )
    .await;
    let items = proposals["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{proposals}");
    assert_eq!(items[0]["title"], "Define what a polite greeting is");
    assert_eq!(items[0]["source"], "arbitration of T-1");
    let tasks = json_with(app.get("/api/tasks").await, StatusCode::OK).await;
    assert_eq!(tasks["items"].as_array().unwrap().len(), 1);

    // A person accepts it (paused, so nothing starts on it here): now it is a task.
    app.post_empty("/api/orchestrator/pause").await;
    let id = items[0]["id"].as_i64().unwrap();
    let accepted = json_with(
        app.post_empty(&format!("/api/proposals/{id}/accept")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        accepted["task"]["title"],
        "Define what a polite greeting is"
    );
    assert_eq!(accepted["task"]["priority"], "P1");
    assert_eq!(accepted["proposal"]["status"], "accepted");
    let again = app.post_empty(&format!("/api/proposals/{id}/reject")).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let missing = app.post_empty("/api/proposals/999/accept").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_bad_proposal_filter_names_the_field() {
    let app = crate::helpers::spawn_app().await;
    let response = app.get("/api/proposals?status=maybe").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["field"], "status", "{body}");
}

#[tokio::test]
async fn a_person_can_mark_a_tasks_size_and_a_bad_size_is_named() {
    let app = crate::helpers::spawn_app().await;
    let task = app.create_task(json!({"title": "Big one"})).await;
    let path = format!("/api/tasks/{}/estimate", task["id"]);
    let none = json_with(app.get(&path).await, StatusCode::OK).await;
    assert_eq!(none["estimate"], Value::Null);
    let bad = app.put(&path, json!({"size": "huge"})).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["field"], "size");
    let marked = app.put(&path, json!({"size": "large"})).await;
    assert_eq!(marked.status(), StatusCode::OK);
    let now = json_with(app.get(&path).await, StatusCode::OK).await;
    assert_eq!(now["estimate"]["size"], "large");
}

#[tokio::test]
async fn a_task_marked_large_gets_the_architects_design_note_before_it_is_built() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(vec![
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
        Reply::tool("complete_task", json!({"summary": "built to the design"})),
    ])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        staff(s, &[("architect-1", "architect")]);
    })
    .await;
    app.post_empty("/api/orchestrator/pause").await;
    let task = app
        .create_task(json!({"title": "Rewrite the parser"}))
        .await;
    let marked = app
        .put(
            &format!("/api/tasks/{}/estimate", task["id"]),
            json!({"size": "large"}),
        )
        .await;
    assert_eq!(marked.status(), StatusCode::OK);
    app.post_empty("/api/orchestrator/resume").await;
    wait_for_task(&app, &task["id"], status_is("completed")).await;

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].all_text().contains("docs/design/T-1.md"));
    assert!(
        requests[1]
            .all_text()
            .contains("Split parser from printer."),
        "the build agent receives the note"
    );
    assert_eq!(
        git_repo::git(&path, &["show", "main:docs/design/T-1.md"]),
        "Split parser from printer."
    );
}

#[tokio::test]
async fn a_second_blocked_task_calls_sia_whose_proposal_waits() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(vec![
        Reply::tool(
            "create_task",
            json!({"title": "Make the failing build reproducible"}),
        ),
        Reply::tool(
            "complete_task",
            json!({"summary": "two tasks fail the same way"}),
        ),
    ])
    .await;
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        crate::cli_agent(s, "build-1", &["sh", "-c", "cat > /dev/null; exit 1"]);
        crate::cli_agent(s, "build-2", &["sh", "-c", "cat > /dev/null; exit 1"]);
        staff(s, &[("sia-1", "sia")]);
        // Only SIA talks to the fake here.
        s.engine.roles.sia_every = None;
    })
    .await;
    let off = app
        .patch("/api/agents/investigator", json!({"enabled": false}))
        .await;
    assert_eq!(off.status(), StatusCode::OK);
    let first = app
        .create_task(json!({"title": "Fails once", "max_attempts": 1}))
        .await;
    wait_for_task(&app, &first["id"], status_is("blocked")).await;
    let second = app
        .create_task(json!({"title": "Fails too", "max_attempts": 1}))
        .await;
    wait_for_task(&app, &second["id"], status_is("blocked")).await;

    let proposals = crate::wait_for(&app, "/api/proposals", |p| {
        p["items"].as_array().is_some_and(|i| !i.is_empty())
    })
    .await;
    let proposal = &proposals["items"][0];
    assert_eq!(proposal["source"], "blocked");
    assert_eq!(proposal["status"], "proposed");
    assert_eq!(proposal["title"], "Make the failing build reproducible");
    // SIA saw the board: both blocked tasks were in its brief.
    let text = fake.requests()[0].all_text();
    assert!(
        text.contains("Fails once") && text.contains("Fails too"),
        "{text}"
    );
    let tasks = json_with(app.get("/api/tasks").await, StatusCode::OK).await;
    assert_eq!(
        tasks["items"].as_array().unwrap().len(),
        2,
        "a proposal is not a task"
    );
}

#[tokio::test]
async fn an_agent_whose_role_was_removed_is_unconfigured_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = crate::helpers::spawn_in(dir, |s| {
        s.engine.roles = RoleSettings::load(designer_roles(), None).unwrap();
        staff(s, &[("designer-1", "designer")]);
    })
    .await;
    let dir = app.stop().await;
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = crate::helpers::spawn_in(dir, |s| {
        fast_engine(s, &path, Some("http://127.0.0.1:9"));
    })
    .await;
    let agent = crate::wait_for(&app, "/api/agents/designer-1", |a| {
        a["status"] == "unconfigured"
    })
    .await;
    assert_eq!(agent["role"], "designer");
    assert!(
        agent["status_reason"]
            .as_str()
            .unwrap()
            .contains("no role named 'designer'"),
        "{agent}"
    );
}

#[tokio::test]
async fn validation_sessions_wait_for_their_agents_concurrency_instead_of_piling_up() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let fake = FakeAnthropic::start(vec![
        // The first review hangs until the stuck watchdog ends it; the other waits.
        crate::fake_anthropic::Scripted::Hang,
        Reply::tool("complete_task", json!({"summary": "criteria met"})),
        Reply::tool("complete_task", json!({"summary": "criteria met"})),
    ])
    .await;
    // Named after the worktree: in its own PID namespace every agent is pid 2.
    let build = "cat > /dev/null; echo built > built-$(basename \"$PWD\").txt";
    let app = spawn_with(|s| {
        fast_engine(s, &path, Some(&fake.base_url));
        s.engine.stuck_after = std::time::Duration::from_secs(4);
        crate::cli_agent(s, "build-1", &["sh", "-c", build]);
        crate::cli_agent(s, "build-2", &["sh", "-c", build]);
        // The validation role allows two sessions; its one agent allows one.
        staff(s, &[("validator", "validation")]);
    })
    .await;
    let validator = json_with(app.get("/api/agents/validator").await, StatusCode::OK).await;
    assert_eq!(validator["max_concurrency"], 1);
    let a = app.create_task(json!({"title": "Build A"})).await;
    let b = app.create_task(json!({"title": "Build B"})).await;

    let events = crate::wait_for(&app, "/api/events?type=helper.waiting", |e| {
        e["items"].as_array().is_some_and(|i| !i.is_empty())
    })
    .await;
    let waiting = &events["items"][0];
    assert_eq!(waiting["payload"]["role"], "validation", "{waiting}");
    assert_eq!(waiting["payload"]["purpose"], "validation");
    let running_reviews = |sessions: Vec<Value>| {
        sessions
            .iter()
            .filter(|s| s["purpose"] == "validation" && s["status"] == "running")
            .count()
    };
    // One review runs while the other waits: never two. Polled, because the event can
    // come before the first review's session row, or (on a slow machine) after the
    // watchdog ended the hanging one and the second took its place.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let running = running_reviews(crate::sessions_of(&app, &a).await)
            + running_reviews(crate::sessions_of(&app, &b).await);
        assert!(running <= 1, "{running} reviews ran at once");
        if running == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no review ran while the other waited"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    wait_for_task(&app, &a["id"], status_is("completed")).await;
    wait_for_task(&app, &b["id"], status_is("completed")).await;
    let mut reviews: Vec<Value> = [
        crate::sessions_of(&app, &a).await,
        crate::sessions_of(&app, &b).await,
    ]
    .concat()
    .into_iter()
    .filter(|s| s["purpose"] == "validation")
    .collect();
    reviews.sort_by_key(|s| s["id"].as_i64());
    assert_eq!(reviews.len(), 3, "{reviews:#?}");
    // Never two at once on the one agent: each starts after the one before ended.
    for pair in reviews.windows(2) {
        let ended = pair[0]["ended_at"].as_str().unwrap();
        let started = pair[1]["started_at"].as_str().unwrap();
        assert!(ended <= started, "{pair:#?}");
    }
    assert_eq!(fake.remaining_script(), 0);
}
