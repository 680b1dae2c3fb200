//! How the scheduler uses the role registry: which agent does a job, what a session of
//! a role may use. The roles themselves are data (`harness_domain::role`, checked by
//! `config/roles.rs`).

use harness_domain::{
    agent::{Agent, AgentStatus, RuntimeKind},
    role::{Job, READ_ONLY_ON_CLI, Role},
};

use crate::{config::EngineSettings, engine::tools::ToolSet};

/// The agent's role, `None` when its role is not (or no longer) in the registry.
pub fn role_of<'a>(settings: &'a EngineSettings, agent: &Agent) -> Option<&'a Role> {
    settings.roles.registry.get(agent.role.as_str())
}

/// The tools a session of `role` may use.
pub fn session_tools(role: &Role) -> ToolSet {
    ToolSet::of(role.tools.iter().copied())
}

/// Whether `agent` may be given work now (its status, not its free slots).
pub fn available(agent: &Agent) -> bool {
    agent.enabled
        && agent.status != AgentStatus::Unconfigured
        && agent.status != AgentStatus::Disabled
}

/// The role that does `job` and an available agent of it.
pub fn agent_for_job<'a>(
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
        .is_some_and(|r| r.read_only);
    if read_only && runtime_of(settings, agent_id, role, stored) == RuntimeKind::Cli {
        return Err(format!(
            "agent '{agent_id}': runtime: its role '{role}' is read-only, and {READ_ONLY_ON_CLI}"
        ));
    }
    Ok(())
}
