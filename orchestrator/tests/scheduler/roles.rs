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
    let app = spawn_with(|s| {
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

    // The human-sim agent says why it cannot run.
    let tester = json_with(app.get("/api/agents/tester").await, StatusCode::OK).await;
    assert_eq!(tester["role"], "human-sim");
}
