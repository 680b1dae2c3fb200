//! Once per blocking, an investigator agent diagnoses why a task failed every attempt.

use std::{path::PathBuf, sync::Arc};

use harness_domain::{
    agent::{AgentRole, AgentStatus},
    session::SessionStatus,
    task::Task,
};

use super::{Engine, error::InvestigationError, roles::instructions, sink::StoreSink};
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
    if let Err(err) = engine.board.record_blocked(&task, diagnosis).await {
        tracing::warn!(%err, "cannot record the blocked task");
    }
}

async fn diagnose(engine: &Arc<Engine>, task: &Task) -> Result<String, InvestigationError> {
    let agents = engine
        .board
        .list_agents()
        .await
        .map_err(InvestigationError::ListAgents)?;
    let agent = agents
        .into_iter()
        .find(|a| {
            a.role == AgentRole::Investigator && a.enabled && a.status != AgentStatus::Unconfigured
        })
        .ok_or(InvestigationError::NoInvestigator)?;
    let runtime = engine
        .runtimes
        .for_agent(&agent)
        .map_err(InvestigationError::Runtime)?;
    let worktree = engine
        .board
        .last_worktree(task.id)
        .await
        .map_err(InvestigationError::Worktree)?
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .or_else(|| engine.settings.workspace.clone())
        .ok_or(InvestigationError::NoWorktree)?;
    let session = engine
        .board
        .start_investigation(task.id, &agent)
        .await
        .map_err(InvestigationError::Start)?;
    let (sink, writer) = StoreSink::start(engine.board.clone(), session.id);
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
            Err(InvestigationError::Unfinished(format!("{other:?}"))),
        ),
    };
    let reason = match &result {
        Ok(_) => "diagnosis recorded".to_owned(),
        Err(e) => e.to_string(),
    };
    let _ = engine
        .board
        .finish_session(session.id, status, reason)
        .await;
    result
}
