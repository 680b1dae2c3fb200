//! Roles as data: what an agent is for, the tools it may use, how it runs, and which
//! task categories are routed to it. Built-in roles ship with the binary
//! ([`builtin`]); `harness.toml` `[roles.NAME]` overrides fields of one or adds a new
//! one ([`RoleSpec`]). [`RoleRegistry::build`] is the one place a role is checked, so a
//! registry only ever holds roles that can be run.

mod builtin;
mod estimate;

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use estimate::{Size, SizeParseError, TaskEstimate};

use crate::{
    ValidationError,
    agent::{Concurrency, ModelName, RuntimeKind},
    task::Category,
    validation::slug,
};

/// A role's name, a slug such as `build` or `designer`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct RoleName(String);

impl RoleName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        slug("role", raw.trim(), 64).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn builtin(name: &str) -> Self {
        Self(name.to_owned())
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tool of the harness a role may be given. `complete_task`, `fail_task` and
/// `ask_human` end or steer a session and every role has them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    ReadFile,
    WriteFile,
    EditFile,
    ListDir,
    Search,
    RunCommand,
    /// Planning creates subtasks; SIA's calls become proposals.
    CreateTask,
    /// The tool group of the headless browser (`browser_open`, `browser_click`, …).
    Browser,
}

impl Tool {
    pub const ALL: [Tool; 8] = [
        Self::ReadFile,
        Self::WriteFile,
        Self::EditFile,
        Self::ListDir,
        Self::Search,
        Self::RunCommand,
        Self::CreateTask,
        Self::Browser,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadFile => "read_file",
            Self::WriteFile => "write_file",
            Self::EditFile => "edit_file",
            Self::ListDir => "list_dir",
            Self::Search => "search",
            Self::RunCommand => "run_command",
            Self::CreateTask => "create_task",
            Self::Browser => "browser",
        }
    }

    /// Whether the tool can change the worktree: a read-only role may not have it.
    /// `run_command` counts, since a command can write anything.
    pub fn writes(self) -> bool {
        matches!(self, Self::WriteFile | Self::EditFile | Self::RunCommand)
    }

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw.trim())
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
                ValidationError::new(
                    "tools",
                    format!("unknown tool '{raw}' (known: {})", known.join(", ")),
                )
            })
    }

    /// The tools that only read the worktree.
    pub const READ_ONLY: [Tool; 3] = [Self::ReadFile, Self::ListDir, Self::Search];
    /// Every worktree tool.
    pub const WORKSPACE: [Tool; 6] = [
        Self::ReadFile,
        Self::WriteFile,
        Self::EditFile,
        Self::ListDir,
        Self::Search,
        Self::RunCommand,
    ];
}

/// What the scheduler uses a role for. Roles added in `harness.toml` take tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    /// Works on the tasks whose category is routed to it.
    Tasks,
    /// Estimates a task's size before its first attempt (evaluator).
    Estimate,
    /// Writes a design note before a large task's build attempt (architect).
    Design,
    /// Reviews a verified diff against the pass criteria before the merge (validation).
    Validate,
    /// Diagnoses a blocked task (investigator).
    Investigate,
    /// Reviews the board and proposes tasks; arbitrates repeated rejections (SIA).
    Ideate,
}

/// A role that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: RoleName,
    /// One line for people: what the role is for.
    pub description: String,
    /// The start of the system prompt.
    pub prompt: String,
    pub tools: BTreeSet<Tool>,
    /// Cannot change the worktree: no tool that writes.
    pub read_only: bool,
    /// An attempt that finishes without changing the repository fails ("no changes"),
    /// as a build task that changed nothing did not do its job; roles that report
    /// (research, QA, spec) may finish without changes.
    pub requires_changes: bool,
    /// `None`: each agent's own runtime.
    pub runtime: Option<RuntimeKind>,
    /// Runtimes an attempt moves to, in order, when the agent's own cannot run now (no
    /// key, no binary, its API's rate limit closed): local attempts only.
    pub fallback: Vec<Fallback>,
    /// `None`: each agent's own model (or the size's model, for task roles).
    pub model: Option<ModelName>,
    pub categories: BTreeSet<String>,
    /// Sessions of this role at once, across its agents.
    pub concurrency: Concurrency,
    pub job: Job,
    /// Origins beyond loopback the role's browser may open (checked by the harness,
    /// which owns the origin rules).
    pub browser_origins: Vec<String>,
    /// Hosts its agents may reach through the egress proxy beyond the server's list
    /// (`HARNESS_AGENT_EGRESS`), in the proxy's own syntax (checked by the harness).
    pub egress: Vec<String>,
    /// What happens to its verified work: lands at once, or waits for a person's review.
    pub land: crate::review::LandPolicy,
    /// Shipped with the binary (possibly changed by `harness.toml`).
    pub builtin: bool,
}

impl Role {
    /// A read-only role whose sessions work in a worktree that lands (validation reviews
    /// the attempt's own) cannot run on the CLI runtime, which brings its own tools. The
    /// investigator is the exception: it works in a detached worktree of its own that is
    /// thrown away, so nothing a CLI investigator writes can land.
    pub fn refuses_cli(&self) -> bool {
        self.read_only && self.job != Job::Investigate
    }

    pub fn uses_browser(&self) -> bool {
        self.tools.contains(&Tool::Browser)
    }
}

/// One step of a role's fallback chain: a runtime, and the model to ask for on it
/// (else the agent's own). Written `"openai"` or `"openai:llama3.1:8b"`: the model is
/// everything after the first colon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    pub runtime: RuntimeKind,
    pub model: Option<ModelName>,
}

impl Fallback {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let (runtime, model) = match raw.trim().split_once(':') {
            Some((runtime, model)) => (runtime, Some(ModelName::parse(model)?)),
            None => (raw.trim(), None),
        };
        Ok(Self {
            runtime: runtime.parse()?,
            model,
        })
    }
}

/// `[roles.NAME]` in `harness.toml`, as written: every field optional, checked by
/// [`RoleRegistry::build`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    pub description: Option<String>,
    pub prompt: Option<String>,
    /// Appended to the prompt: who the agent acts as (human-sim).
    pub persona: Option<String>,
    pub tools: Option<Vec<String>>,
    pub read_only: Option<bool>,
    /// Whether finishing without a change fails the attempt (true for `build`).
    pub requires_changes: Option<bool>,
    pub runtime: Option<String>,
    /// Runtimes to move to, in order, when the agent's own cannot run now.
    pub fallback: Option<Vec<String>>,
    pub model: Option<String>,
    pub categories: Option<Vec<String>>,
    pub concurrency: Option<i64>,
    /// Origins beyond loopback its browser may open, like `["https://staging.example.com"]`.
    pub browser_origins: Option<Vec<String>>,
    /// Hosts its agents may reach beyond `HARNESS_AGENT_EGRESS`, like `["github.com",
    /// "*.githubusercontent.com"]`.
    pub egress: Option<Vec<String>>,
    /// `auto` (verified work lands at once) or `review` (it waits for a person).
    pub land: Option<String>,
}

/// A role that cannot be used, named with the field at fault. One line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role '{role}': {field}: {message}")]
pub struct RoleError {
    pub role: String,
    pub field: &'static str,
    pub message: String,
}

impl RoleError {
    fn new(role: &str, field: &'static str, message: impl Into<String>) -> Self {
        Self {
            role: role.to_owned(),
            field,
            message: message.into(),
        }
    }

    fn from_validation(role: &str, field: &'static str, e: ValidationError) -> Self {
        Self::new(role, field, e.message)
    }
}

/// Every role, and which role each category is routed to.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleRegistry {
    roles: BTreeMap<RoleName, Role>,
    routes: BTreeMap<String, RoleName>,
}

/// The role that takes a category no role lists.
pub(crate) const FALLBACK_ROLE: &str = "build";

impl Default for RoleRegistry {
    fn default() -> Self {
        Self::build(Vec::new(), Vec::new()).expect("the built-in roles are valid")
    }
}

impl RoleRegistry {
    /// The built-in roles with `specs` applied, then `routing` (category → role, the
    /// older `[routing]` table: moves the category to that role).
    pub fn build(
        specs: impl IntoIterator<Item = (String, RoleSpec)>,
        routing: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, RoleError> {
        let mut roles: BTreeMap<RoleName, Role> = builtin::roles()
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        for (raw, spec) in specs {
            let name =
                RoleName::parse(&raw).map_err(|e| RoleError::from_validation(&raw, "name", e))?;
            let role = match roles.remove(&name) {
                Some(existing) => apply(existing, spec)?,
                None => new_role(name, spec)?,
            };
            roles.insert(role.name.clone(), role);
        }
        for (category, target) in routing {
            let name = RoleName::parse(&target)
                .ok()
                .filter(|n| roles.contains_key(n))
                .ok_or_else(|| {
                    RoleError::new(&target, "routing", format!("no such role for '{category}'"))
                })?;
            for role in roles.values_mut() {
                role.categories.remove(&category);
            }
            if let Some(role) = roles.get_mut(&name) {
                role.categories.insert(category);
            }
        }
        let mut routes = BTreeMap::new();
        for role in roles.values() {
            for category in &role.categories {
                if let Some(other) = routes.insert(category.clone(), role.name.clone()) {
                    return Err(RoleError::new(
                        role.name.as_str(),
                        "categories",
                        format!(
                            "category '{category}' is also routed to role '{other}'; \
                             a category goes to one role (set [roles.{other}] categories without it)"
                        ),
                    ));
                }
            }
        }
        Ok(Self { roles, routes })
    }

    pub fn get(&self, name: &str) -> Option<&Role> {
        RoleName::parse(name).ok().and_then(|n| self.roles.get(&n))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }

    /// The role a task of `category` goes to.
    pub fn route(&self, category: &str) -> &RoleName {
        self.routes
            .get(category)
            .unwrap_or_else(|| &self.roles[&RoleName::builtin(FALLBACK_ROLE)].name)
    }

    /// The built-in role that does `job` (there is one per job other than `Tasks`).
    pub fn for_job(&self, job: Job) -> Option<&Role> {
        self.roles.values().find(|r| r.job == job)
    }
}

fn apply(mut role: Role, spec: RoleSpec) -> Result<Role, RoleError> {
    let name = role.name.to_string();
    if let Some(description) = spec.description {
        role.description = description;
    }
    if let Some(prompt) = spec.prompt {
        role.prompt = prompt_text(&name, &prompt)?;
    }
    if let Some(persona) = spec.persona {
        role.prompt = format!("{}\n\nAct as this persona: {}", role.prompt, persona.trim());
    }
    if let Some(tools) = spec.tools {
        role.tools = tools
            .iter()
            .map(|t| Tool::parse(t).map_err(|e| RoleError::from_validation(&name, "tools", e)))
            .collect::<Result<_, _>>()?;
    }
    if let Some(read_only) = spec.read_only {
        role.read_only = read_only;
    }
    if let Some(requires_changes) = spec.requires_changes {
        role.requires_changes = requires_changes;
    }
    if let Some(runtime) = spec.runtime {
        role.runtime = Some(
            runtime
                .parse::<RuntimeKind>()
                .map_err(|e| RoleError::from_validation(&name, "runtime", e))?,
        );
    }
    if let Some(fallback) = spec.fallback {
        role.fallback = fallback
            .iter()
            .map(|r| {
                Fallback::parse(r).map_err(|e| RoleError::from_validation(&name, "fallback", e))
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(model) = spec.model {
        role.model = Some(
            ModelName::parse(&model).map_err(|e| RoleError::from_validation(&name, "model", e))?,
        );
    }
    if let Some(categories) = spec.categories {
        role.categories = categories
            .iter()
            .map(|c| {
                Category::parse(c)
                    .map(|c| c.as_str().to_owned())
                    .map_err(|e| RoleError::from_validation(&name, "categories", e))
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(origins) = spec.browser_origins {
        role.browser_origins = origins;
    }
    if let Some(hosts) = spec.egress {
        role.egress = hosts;
    }
    if let Some(land) = spec.land {
        role.land = land
            .parse()
            .map_err(|e| RoleError::from_validation(&name, "land", e))?;
    }
    if let Some(n) = spec.concurrency {
        role.concurrency = Concurrency::parse(n)
            .map_err(|e| RoleError::from_validation(&name, "concurrency", e))?;
    }
    if role.read_only
        && let Some(tool) = role.tools.iter().find(|t| t.writes())
    {
        return Err(RoleError::new(
            &name,
            "tools",
            format!("a read-only role cannot have '{}'", tool.as_str()),
        ));
    }
    if role.refuses_cli() && role.runtime.is_some_and(RuntimeKind::brings_own_tools) {
        return Err(RoleError::new(&name, "runtime", READ_ONLY_ON_CLI));
    }
    if role.refuses_cli() && role.fallback.iter().any(|f| f.runtime.brings_own_tools()) {
        return Err(RoleError::new(&name, "fallback", READ_ONLY_ON_CLI));
    }
    Ok(role)
}

/// Why a read-only role cannot run on the CLI runtime: the CLI agent brings its own
/// tools, which the harness cannot narrow to the role's.
pub const READ_ONLY_ON_CLI: &str = "a read-only role cannot run on the cli or acp runtime, whose agent \
     brings its own tools and is not held to its role's; use runtime = \"anthropic\" or \"openai\"";

fn new_role(name: RoleName, spec: RoleSpec) -> Result<Role, RoleError> {
    if spec.prompt.is_none() {
        return Err(RoleError::new(
            name.as_str(),
            "prompt",
            "a new role needs a prompt",
        ));
    }
    let blank = Role {
        description: format!("custom role {name}"),
        name,
        prompt: String::new(),
        tools: Tool::WORKSPACE.into_iter().collect(),
        read_only: false,
        requires_changes: false,
        runtime: None,
        fallback: Vec::new(),
        model: None,
        categories: BTreeSet::new(),
        concurrency: Concurrency::parse(1).expect("1 is a valid concurrency"),
        job: Job::Tasks,
        browser_origins: Vec::new(),
        egress: Vec::new(),
        land: crate::review::LandPolicy::Auto,
        builtin: false,
    };
    apply(blank, spec)
}

fn prompt_text(role: &str, raw: &str) -> Result<String, RoleError> {
    let text = raw.trim();
    if text.is_empty() || text.len() > 32 * 1024 {
        return Err(RoleError::new(
            role,
            "prompt",
            "prompt must be 1 to 32768 bytes",
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(f: impl FnOnce(&mut RoleSpec)) -> RoleSpec {
        let mut s = RoleSpec::default();
        f(&mut s);
        s
    }

    #[test]
    fn every_category_of_the_builtins_goes_to_one_role() {
        let registry = RoleRegistry::default();
        assert_eq!(registry.route("feature").as_str(), "build");
        assert_eq!(registry.route("docs").as_str(), "spec");
        assert_eq!(registry.route("never-heard-of").as_str(), "build");
    }

    #[test]
    fn a_new_role_takes_its_categories() {
        let registry = RoleRegistry::build(
            [(
                "designer".to_owned(),
                spec(|s| {
                    s.prompt = Some("You design.".into());
                    s.categories = Some(vec!["design".into()]);
                    s.tools = Some(vec!["read_file".into(), "write_file".into()]);
                }),
            )],
            [],
        )
        .unwrap();
        assert_eq!(registry.route("design").as_str(), "designer");
        let role = registry.get("designer").unwrap();
        assert_eq!(role.tools.len(), 2);
        assert_eq!(role.job, Job::Tasks);
    }

    #[test]
    fn an_unknown_tool_is_refused_naming_the_role_and_field() {
        let err = RoleRegistry::build(
            [(
                "designer".to_owned(),
                spec(|s| {
                    s.prompt = Some("x".into());
                    s.tools = Some(vec!["hammer".into()]);
                }),
            )],
            [],
        )
        .unwrap_err();
        assert_eq!((err.role.as_str(), err.field), ("designer", "tools"));
        assert!(err.to_string().contains("hammer"), "{err}");
    }

    #[test]
    fn an_unknown_runtime_is_refused() {
        let err = RoleRegistry::build(
            [("qa".to_owned(), spec(|s| s.runtime = Some("gpt".into())))],
            [],
        )
        .unwrap_err();
        assert_eq!((err.role.as_str(), err.field), ("qa", "runtime"));
    }

    #[test]
    fn a_category_routed_to_two_roles_is_refused() {
        let err = RoleRegistry::build(
            [(
                "designer".to_owned(),
                spec(|s| {
                    s.prompt = Some("x".into());
                    s.categories = Some(vec!["feature".into()]);
                }),
            )],
            [],
        )
        .unwrap_err();
        assert_eq!(err.field, "categories");
        assert!(err.to_string().contains("'feature'"), "{err}");
    }

    #[test]
    fn a_read_only_role_cannot_write() {
        let err = RoleRegistry::build(
            [(
                "validation".to_owned(),
                spec(|s| s.tools = Some(vec!["read_file".into(), "run_command".into()])),
            )],
            [],
        )
        .unwrap_err();
        assert_eq!((err.role.as_str(), err.field), ("validation", "tools"));
    }

    #[test]
    fn a_fallback_chain_names_runtimes_and_optional_models() {
        let registry = RoleRegistry::build(
            [(
                "build".to_owned(),
                spec(|s| s.fallback = Some(vec!["openai:llama3.1:8b".into(), "cli".into()])),
            )],
            [],
        )
        .unwrap();
        let fallback = &registry.get("build").unwrap().fallback;
        assert_eq!(fallback[0].runtime, RuntimeKind::OpenAi);
        assert_eq!(
            fallback[0].model.as_ref().map(|m| m.as_str()),
            Some("llama3.1:8b")
        );
        assert_eq!(
            (fallback[1].runtime, fallback[1].model.is_none()),
            (RuntimeKind::Cli, true)
        );
        let err = RoleRegistry::build(
            [(
                "build".to_owned(),
                spec(|s| s.fallback = Some(vec!["gpt".into()])),
            )],
            [],
        )
        .unwrap_err();
        assert_eq!((err.role.as_str(), err.field), ("build", "fallback"));
        let err = RoleRegistry::build(
            [(
                "validation".to_owned(),
                spec(|s| s.fallback = Some(vec!["cli".into()])),
            )],
            [],
        )
        .unwrap_err();
        assert_eq!((err.role.as_str(), err.field), ("validation", "fallback"));
    }

    #[test]
    fn a_read_only_role_cannot_run_on_the_cli_runtime() {
        let err = RoleRegistry::build(
            [(
                "validation".to_owned(),
                spec(|s| s.runtime = Some("cli".into())),
            )],
            [],
        )
        .unwrap_err();
        assert_eq!((err.role.as_str(), err.field), ("validation", "runtime"));
        let writer = RoleRegistry::build(
            [("build".to_owned(), spec(|s| s.runtime = Some("cli".into())))],
            [],
        );
        assert!(writer.is_ok(), "a role that may write can use the cli");
    }

    #[test]
    fn a_new_role_without_a_prompt_is_refused() {
        let err = RoleRegistry::build([("x".to_owned(), RoleSpec::default())], []).unwrap_err();
        assert_eq!(err.field, "prompt");
    }

    #[test]
    fn the_routing_table_moves_a_category() {
        let registry =
            RoleRegistry::build([], [("docs".to_owned(), "research".to_owned())]).unwrap();
        assert_eq!(registry.route("docs").as_str(), "research");
        assert!(!registry.get("spec").unwrap().categories.contains("docs"));
    }

    #[test]
    fn every_builtin_job_has_a_role() {
        let registry = RoleRegistry::default();
        for job in [
            Job::Estimate,
            Job::Design,
            Job::Validate,
            Job::Investigate,
            Job::Ideate,
        ] {
            assert!(registry.for_job(job).is_some(), "{job:?}");
        }
        assert!(registry.get("human-sim").unwrap().uses_browser());
    }
}
