//! Once per blocking, an investigator agent diagnoses why a task failed every attempt.

use std::sync::Arc;

use harness_domain::{
    agent::{AgentRole, AgentStatus},
    event::{NewEvent, Severity},
    task::Task,
};

use super::{Engine, investigation};

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
    let id = task.id;
    if let Some(text) = diagnosis.clone()
        && let Ok(updated) = engine
            .board
            .blocking(move |s| s.set_diagnosis(id, &text))
            .await
    {
        engine.board.announce_task(&updated);
    }
    engine
        .board
        .note(
            NewEvent::info(
                "task.blocked",
                format!(
                    "{} is blocked after {} attempts: {}",
                    task.display_id, task.attempts, task.title
                ),
            )
            .with_severity(Severity::Error)
            .for_task(id.get())
            .with_payload(serde_json::json!({ "diagnosis": diagnosis })),
        )
        .await;
}

async fn diagnose(engine: &Arc<Engine>, task: &Task) -> Result<String, String> {
    let agents = engine
        .board
        .list_agents()
        .await
        .map_err(|e| e.to_string())?;
    let agent = agents
        .into_iter()
        .find(|a| {
            a.role == AgentRole::Investigator && a.enabled && a.status != AgentStatus::Unconfigured
        })
        .ok_or("no enabled investigator agent")?;
    let runtime = engine.runtimes.for_agent(&agent)?;
    // Scheduled like any session, in its own worktree (investigation.rs).
    let cancel = investigation::wait_for_slot(engine, task).await?;
    let result = investigation::run(engine, task, &agent, runtime, cancel).await;
    engine.board.runs().finished(task.id);
    engine.board.runs().wake();
    result
}
