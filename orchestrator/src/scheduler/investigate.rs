//! Once per blocking, an investigator agent diagnoses why a task failed every attempt.

use std::{path::PathBuf, sync::Arc};

use harness_domain::{
    agent::{AgentRole, AgentStatus},
    event::{NewEvent, Severity},
    session::SessionStatus,
    task::Task,
};

use super::{Engine, roles::instructions, sink::StoreSink};
use crate::engine::{
    prompt::TaskBrief,
    runtime::{SessionOutcome, SessionRequest},
};

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
    let id = task.id;
    let worktree = engine
        .board
        .blocking(move |s| s.last_worktree(id))
        .await
        .map_err(|e| e.to_string())?
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .or_else(|| engine.settings.workspace.clone())
        .ok_or("no worktree to inspect")?;
    let (agent_id, model) = (agent.id.as_str().to_owned(), agent.model.clone());
    let session = engine
        .board
        .blocking(move |s| s.start_investigation(id, &agent_id, &model))
        .await
        .map_err(|e| e.to_string())?;
    engine.board.announce_session(&session);
    let cap = super::log_cap::LogCap::new(&engine.settings.reliability);
    let (sink, writer) = StoreSink::start(engine.board.clone(), session.id, cap);
    let request = SessionRequest {
        worktree,
        role_instructions: instructions(AgentRole::Investigator).to_owned(),
        brief: TaskBrief {
            display_id: task.display_id.clone(),
            title: format!(
                "Diagnose why {} is blocked: {}",
                task.display_id, task.title
            ),
            description: task.description.clone(),
            pass_criteria: task.pass_criteria.clone(),
            previous_failure: task.last_failure.clone(),
            attempt: task.attempts,
            max_attempts: task.max_attempts,
        },
        resume: None,
        timeout: engine.settings.session_timeout,
        cancel: engine.stop.child_token(),
        task_creator: None,
    };
    let report = runtime.run(request, sink.as_ref()).await;
    sink.finish(writer).await;
    let (status, result) = match report.outcome {
        SessionOutcome::Completed { summary } => (SessionStatus::Succeeded, Ok(summary)),
        other => (
            SessionStatus::Failed,
            Err(format!("the investigator did not finish: {other:?}")),
        ),
    };
    let reason = match &result {
        Ok(_) => "diagnosis recorded".to_owned(),
        Err(e) => e.clone(),
    };
    let _ = engine
        .board
        .finish_session(session.id, status, reason)
        .await;
    result
}
