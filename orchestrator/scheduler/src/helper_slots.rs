//! How many helper sessions (evaluator, architect, validation, SIA) run at once: a
//! helper role's `concurrency` caps its sessions across its agents, and each agent's
//! `max_concurrency` caps its own, as for task roles (`Scheduler::pick_agent`). A
//! helper waits for a slot, announced once with a `helper.waiting` event and bounded
//! by the session timeout, rather than piling sessions onto one agent.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use harness_domain::{
    agent::Agent,
    role::{Job, Role},
    task::Task,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Engine, error::ConsultError, roles::available};

/// Helper sessions held per agent, by this process.
#[derive(Default)]
pub struct HelperSlots {
    held: Mutex<HashMap<String, u32>>,
    freed: Notify,
}

/// One helper session's slot on its agent; dropping it frees the slot.
pub(crate) struct HelperSlot {
    slots: Arc<HelperSlots>,
    agent: String,
}

impl Drop for HelperSlot {
    fn drop(&mut self) {
        if let Some(n) = self.slots.lock().get_mut(&self.agent) {
            *n = n.saturating_sub(1);
        }
        self.slots.freed.notify_waiters();
    }
}

impl HelperSlots {
    /// Takes a slot on an available agent of `role` with room, if the role has room.
    /// `running`: the board's running sessions per agent.
    pub(crate) fn try_take(
        self: &Arc<Self>,
        role: &Role,
        agents: &[Agent],
        running: &HashMap<String, u32>,
    ) -> Option<(Agent, HelperSlot)> {
        let mut held = self.lock();
        let agent = {
            // The board counts a helper session once its row exists; its slot is held
            // from before that until after, so the larger count is the agent's load.
            let busy = |a: &Agent| {
                let id = a.id.as_str();
                let held = held.get(id).copied().unwrap_or(0);
                held.max(running.get(id).copied().unwrap_or(0))
            };
            super::roles::pick_agent(role, agents, busy)?.clone()
        };
        *held.entry(agent.id.as_str().to_owned()).or_default() += 1;
        let slot = HelperSlot {
            slots: self.clone(),
            agent: agent.id.as_str().to_owned(),
        };
        Some((agent, slot))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        // A panic while holding this lock leaves plain counters behind: still usable.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Waits for a slot of the role doing `job`, for a session on `task` whose purpose is
/// `purpose`. Fails at once when no agent of the role is available at all, and after
/// the session timeout when every one stays busy.
pub(crate) async fn wait_for_slot<'a>(
    engine: &'a Engine,
    job: Job,
    task: &Task,
    purpose: &'static str,
    cancel: &CancellationToken,
) -> Result<(&'a Role, Agent, HelperSlot), ConsultError> {
    let role = engine
        .settings
        .roles
        .registry
        .for_job(job)
        .ok_or(ConsultError::NoAgent(job))?;
    let limit = engine.settings.session_timeout;
    let deadline = tokio::time::Instant::now() + limit;
    let mut announced = false;
    loop {
        // Registered before looking, so a slot freed in between still wakes this.
        let freed = engine.helper_slots.freed.notified();
        tokio::pin!(freed);
        freed.as_mut().enable();
        let agents = engine
            .board
            .list_agents()
            .await
            .map_err(ConsultError::ListAgents)?;
        if !agents.iter().any(|a| a.role == role.name && available(a)) {
            return Err(ConsultError::NoAgent(job));
        }
        let running = engine
            .board
            .running_by_agent()
            .await
            .map_err(ConsultError::ListAgents)?;
        if let Some((agent, slot)) = engine.helper_slots.try_take(role, &agents, &running) {
            return Ok((role, agent, slot));
        }
        if !announced {
            announced = true;
            tracing::info!(task = %task.display_id, role = %role.name, purpose, "helper waits for a slot");
            engine
                .board
                .record_helper_waiting(task, role.name.as_str(), purpose)
                .await;
        }
        tokio::select! {
            () = &mut freed => {}
            // Sessions of other kinds on the same agents end without a notice.
            () = tokio::time::sleep(engine.settings.tick.min(Duration::from_secs(1))) => {}
            () = tokio::time::sleep_until(deadline) => {
                return Err(ConsultError::NoSlot { role: role.name.to_string(), waited: limit });
            }
            () = cancel.cancelled() => {
                return Err(ConsultError::Cancelled(role.name.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use harness_domain::{
        agent::{AgentId, AgentStatus, RuntimeKind},
        role::RoleRegistry,
        time::Timestamp,
    };

    use super::*;

    fn agent(id: &str, role: &str, max: u32) -> Agent {
        Agent {
            id: AgentId::parse(id).unwrap(),
            name: id.into(),
            role: harness_domain::role::RoleName::parse(role).unwrap(),
            model: "m".into(),
            runtime: RuntimeKind::Anthropic,
            max_concurrency: max,
            enabled: true,
            status: AgentStatus::Idle,
            status_reason: None,
            last_heartbeat: None,
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
        }
    }

    #[test]
    fn an_agent_takes_no_more_helper_sessions_than_its_max_concurrency() {
        let registry = RoleRegistry::default();
        let role = registry.get("validation").unwrap();
        assert_eq!(role.concurrency.get(), 2);
        let slots = Arc::new(HelperSlots::default());
        let agents = [agent("v1", "validation", 1)];
        let none = HashMap::new();
        let (_, first) = slots.try_take(role, &agents, &none).unwrap();
        assert!(slots.try_take(role, &agents, &none).is_none());
        drop(first);
        assert!(slots.try_take(role, &agents, &none).is_some());
    }

    #[test]
    fn a_role_takes_no_more_helper_sessions_than_its_concurrency() {
        let registry = RoleRegistry::default();
        let role = registry.get("evaluator").unwrap();
        assert_eq!(role.concurrency.get(), 1);
        let slots = Arc::new(HelperSlots::default());
        let agents = [agent("e1", "evaluator", 4), agent("e2", "evaluator", 4)];
        let none = HashMap::new();
        let _held = slots.try_take(role, &agents, &none).unwrap();
        assert!(slots.try_take(role, &agents, &none).is_none());
        // Sessions the board counts (another process's, an attempt's) count too.
        let fresh = Arc::new(HelperSlots::default());
        let busy = HashMap::from([("e1".to_owned(), 1)]);
        assert!(fresh.try_take(role, &agents, &busy).is_none());
    }
}
