//! Once per blocking, an investigator agent diagnoses why a task failed every attempt.

use std::sync::Arc;

use harness_domain::{role::Job, task::Task};

use super::{Engine, error::InvestigationError, investigation};

/// Runs the investigator (when one can run), stores its diagnosis on the task, and
/// raises `task.blocked` either way.
pub async fn investigate(engine: Arc<Engine>, task: Task) {
    let diagnosis = match diagnose(&engine, &task).await {
        Ok(text) => Some(text),
        Err(reason) => {
            tracing::warn!(task = %task.display_id, %reason, "no diagnosis");
            None
        }
    };
    if let Err(err) = engine.board.record_blocked(&task, diagnosis).await {
        tracing::warn!(%err, "cannot record the blocked task");
    }
    // Tasks blocking repeatedly: SIA reviews the board (sia.rs).
    super::sia::after_blocked(engine, task).await;
}

/// Whether an investigator agent is available now, so a blocking will get a diagnosis
/// (what the `task.failed` event tells a notification).
pub async fn staffed(engine: &Engine) -> bool {
    match engine.board.list_agents().await {
        Ok(agents) => {
            super::roles::agent_for_job(&engine.settings, &agents, Job::Investigate).is_some()
        }
        Err(_) => false,
    }
}

async fn diagnose(engine: &Arc<Engine>, task: &Task) -> Result<String, InvestigationError> {
    let agents = engine
        .board
        .list_agents()
        .await
        .map_err(InvestigationError::ListAgents)?;
    let (_, agent) = super::roles::agent_for_job(&engine.settings, &agents, Job::Investigate)
        .ok_or(InvestigationError::NoInvestigator)?;
    let runtime = engine
        .runtimes
        .for_agent(&agent)
        .await
        .map_err(InvestigationError::Runtime)?;
    // Scheduled like any session, in its own worktree (investigation.rs).
    let cancel = investigation::wait_for_slot(engine, task).await?;
    let result = investigation::run(engine, task, &agent, runtime, cancel).await;
    engine.board.runs().finished(task.id);
    engine.board.runs().wake();
    result
}
