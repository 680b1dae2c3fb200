//! How the scheduler uses the role registry: which agent does a job, what a session of
//! a role may use. The roles themselves are data (`harness_domain::role`, checked by
//! `config/roles.rs`).

use harness_domain::{
    agent::{Agent, AgentStatus, RuntimeKind},
    role::{Job, READ_ONLY_ON_CLI, Role, Tool},
};

use harness_config::EngineSettings;
use harness_engine::tools::ToolSet;

/// The agent's role, `None` when its role is not (or no longer) in the registry.
pub(crate) fn role_of<'a>(settings: &'a EngineSettings, agent: &Agent) -> Option<&'a Role> {
    settings.roles.registry.get(agent.role.as_str())
}

/// The tools a session of `role` may use.
pub(crate) fn session_tools(role: &Role) -> ToolSet {
    ToolSet::of(role.tools.iter().copied())
}

/// The investigator's tools: its role's, narrowed to reading. A diagnosis changes
/// nothing, so `[roles.investigator]` may take tools away but never add a writing one.
pub(crate) fn investigation_tools(role: Option<&Role>) -> ToolSet {
    match role {
        None => ToolSet::read_only(),
        Some(role) => ToolSet::of(
            role.tools
                .iter()
                .copied()
                .filter(|tool| Tool::READ_ONLY.contains(tool)),
        ),
    }
}

/// Whether `agent` may be given work now (its status, not its free slots).
pub fn available(agent: &Agent) -> bool {
    agent.enabled
        && agent.status != AgentStatus::Unconfigured
        && agent.status != AgentStatus::Disabled
}

/// The role that does `job` and an available agent of it.
pub(crate) fn agent_for_job<'a>(
    settings: &'a EngineSettings,
    agents: &[Agent],
    job: Job,
) -> Option<(&'a Role, Agent)> {
    let role = settings.roles.registry.for_job(job)?;
    let agent = agents
        .iter()
        .find(|a| a.role == role.name && available(a))?
        .clone();
    Some((role, agent))
}

/// The agent of `role` to start a session on, where `busy` counts each agent's sessions:
/// none while the role's concurrency is used up across its agents, else the first
/// available agent under its own `max_concurrency`.
pub(crate) fn pick_agent<'a>(
    role: &Role,
    agents: &'a [Agent],
    busy: impl Fn(&Agent) -> u32,
) -> Option<&'a Agent> {
    let role_busy: u32 = agents
        .iter()
        .filter(|a| a.role == role.name)
        .map(&busy)
        .sum();
    if role_busy >= role.concurrency.get() {
        return None;
    }
    agents
        .iter()
        .find(|a| a.role == role.name && available(a) && busy(a) < a.max_concurrency)
}

/// The runtime `agent_id` runs on: `[agents.X] runtime`, else its role's, else `stored`.
pub fn runtime_of(
    settings: &EngineSettings,
    agent_id: &str,
    role: &str,
    stored: RuntimeKind,
) -> RuntimeKind {
    settings
        .agents
        .get(agent_id)
        .and_then(|o| o.runtime)
        .or_else(|| settings.roles.registry.get(role).and_then(|r| r.runtime))
        .unwrap_or(stored)
}

/// A read-only role on the CLI runtime could write anyway (the CLI brings its own
/// tools): refused, naming the agent, its role and the field to change. One line.
pub fn refuse_read_only_on_cli(
    settings: &EngineSettings,
    agent_id: &str,
    role: &str,
    stored: RuntimeKind,
) -> Result<(), String> {
    let read_only = settings
        .roles
        .registry
        .get(role)
        .is_some_and(Role::refuses_cli);
    if read_only && runtime_of(settings, agent_id, role, stored).brings_own_tools() {
        return Err(format!(
            "agent '{agent_id}': runtime: its role '{role}' is read-only, and {READ_ONLY_ON_CLI}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use harness_domain::role::{RoleRegistry, RoleSpec};

    use super::*;

    fn investigator(spec: RoleSpec) -> Role {
        let registry = RoleRegistry::build([("investigator".to_owned(), spec)], Vec::new())
            .expect("a valid role");
        registry.for_job(Job::Investigate).unwrap().clone()
    }

    #[test]
    fn an_investigator_given_writing_tools_by_its_role_still_only_reads() {
        let role = investigator(RoleSpec {
            tools: Some(
                [
                    "read_file",
                    "write_file",
                    "edit_file",
                    "run_command",
                    "search",
                ]
                .map(String::from)
                .to_vec(),
            ),
            read_only: Some(false),
            ..RoleSpec::default()
        });
        assert!(
            role.tools.contains(&Tool::WriteFile),
            "the role asked for it"
        );
        let tools = investigation_tools(Some(&role));
        for name in [
            "write_file",
            "edit_file",
            "run_command",
            "create_task",
            "browser_open",
        ] {
            assert!(!tools.allows(name), "{name} is allowed");
        }
        assert!(tools.allows("read_file") && tools.allows("search"));
        assert!(!tools.allows("list_dir"), "the role left it out");
    }

    #[test]
    fn without_an_investigator_role_the_diagnosis_reads_only() {
        let tools = investigation_tools(None);
        assert!(tools.allows("read_file") && tools.allows("list_dir") && tools.allows("search"));
        assert!(!tools.allows("write_file") && !tools.allows("run_command"));
    }
}
