//! Agents: an operator's changes, the scheduler's status reports, harness.toml overrides.

use harness_domain::{
    agent::{Agent, AgentId, AgentPatch, AgentStatus, RuntimeKind},
    event::{NewEvent, Operation},
};

use super::Board;
use crate::live::LiveKind;
use harness_store::StoreError;

impl Board {
    pub async fn list_agents(&self) -> Result<Vec<Agent>, StoreError> {
        self.blocking(|s| s.list_agents()).await
    }

    pub async fn get_agent(&self, id: AgentId) -> Result<Agent, StoreError> {
        self.blocking(move |s| s.get_agent(&id)).await
    }

    pub async fn update_agent(&self, id: AgentId, patch: AgentPatch) -> Result<Agent, StoreError> {
        let (agent, event) = self
            .blocking(move |s| {
                s.update_agent(&id, &patch, |a| {
                    NewEvent::info(Operation::AgentUpdated, format!("agent {} updated", a.id))
                        .for_agent(a.id.as_str())
                })
            })
            .await?;
        self.publish(LiveKind::AgentUpdated(agent.clone()));
        self.published_event(event);
        self.runs.wake();
        Ok(agent)
    }

    pub async fn set_agent_status(
        &self,
        id: AgentId,
        status: AgentStatus,
        reason: Option<String>,
    ) -> Result<Agent, StoreError> {
        let agent = self
            .blocking(move |s| s.set_agent_status(&id, status, reason.as_deref()))
            .await?;
        self.publish(LiveKind::AgentUpdated(agent.clone()));
        Ok(agent)
    }

    /// `[agents.<id>] runtime = …` from harness.toml, applied at startup before anyone
    /// listens (so there is nothing to announce).
    pub async fn set_agent_runtime(
        &self,
        id: AgentId,
        runtime: RuntimeKind,
    ) -> Result<(), StoreError> {
        self.blocking(move |s| s.set_agent_runtime(&id, runtime))
            .await
    }
}
