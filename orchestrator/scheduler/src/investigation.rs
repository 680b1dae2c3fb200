//! The investigator as a scheduled session like any other: it waits for pause, the
//! budget and a free slot under `HARNESS_MAX_CONCURRENT`; it is registered with the
//! task's runs, so the API's cancel stops it and the task's next attempt waits for it
//! (an unblock stops it too);
//! the stuck watchdog, the spend guard and the log cap apply; and it works in its own
//! throwaway worktree (`<display_id>.investigation`, detached at the failed branch),
//! never in the user's checkout and never on a path a later attempt uses.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use harness_domain::{
    agent::Agent,
    role::Job,
    session::SessionStatus,
    task::{Task, TaskId, TaskStatus},
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{
    Engine,
    error::InvestigationError,
    runtimes::workspace_repo,
    supervise::{Supervised, finish_helper_session, run_helper},
};
use harness_board::budget::{BudgetLimits, BudgetReport};
use harness_engine::{
    landing::LandingGit,
    prompt::TaskBrief,
    runtime::{AgentRuntime, SessionOutcome, SessionRequest},
};

/// Waits until the investigation may start, then registers it as the task's run.
/// Each reason it waits for is announced once (`investigation.waiting`).
pub(crate) async fn wait_for_slot(
    engine: &Arc<Engine>,
    task: &Task,
) -> Result<CancellationToken, InvestigationError> {
    let board = &engine.board;
    let mut announced: Option<&'static str> = None;
    loop {
        if engine.stop.is_cancelled() {
            return Err(InvestigationError::Stopping);
        }
        let current = board
            .get_task(task.id)
            .await
            .map_err(InvestigationError::ReadTask)?;
        if current.status != TaskStatus::Blocked {
            return Err(InvestigationError::NotBlocked);
        }
        // The failed attempt's run is deregistered just after it settled; registering
        // before that would let its deregistration drop the investigation's run.
        if board.runs().is_running(task.id) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        }
        let held = if board.paused().await.unwrap_or(true) {
            Some("the orchestrator is paused")
        } else if over_budget(engine).await {
            Some("a budget limit is reached")
        } else if board.runs().count() >= engine.settings.max_concurrent as usize {
            Some("every session slot is busy")
        } else {
            None
        };
        let Some(why) = held else {
            return Ok(board.runs().register(task.id));
        };
        if announced != Some(why) {
            announced = Some(why);
            board.record_investigation_waiting(task, why).await;
        }
        tokio::select! {
            () = tokio::time::sleep(engine.settings.tick) => {}
            () = engine.stop.cancelled() => {}
        }
    }
}

async fn over_budget(engine: &Engine) -> bool {
    if engine.budget == BudgetLimits::default() {
        return false;
    }
    match engine.board.budget_totals().await {
        Ok(totals) => BudgetReport::new(totals, engine.budget).exceeded,
        Err(_) => true,
    }
}

/// Runs the investigator session in its own worktree. `Ok` holds the diagnosis.
pub async fn run(
    engine: &Arc<Engine>,
    task: &Task,
    agent: &Agent,
    runtime: Arc<dyn AgentRuntime>,
    cancel: CancellationToken,
) -> Result<String, InvestigationError> {
    let git = LandingGit {
        timeout: engine.settings.reliability.git_timeout,
    };
    let (root, path) = open_worktree(engine, task, &git).await?;
    let result = run_session(engine, task, agent, runtime, cancel, &path).await;
    let removed = tokio::task::spawn_blocking(move || git.remove_worktree(&root, &path)).await;
    if !matches!(removed, Ok(Ok(()))) {
        tracing::warn!(task = %task.display_id, "the investigation worktree was not removed");
    }
    result
}

/// A task unblocked (or cancelled) while it is investigated: the investigation stops,
/// so the next attempt starts after it ended.
async fn cancel_when_unblocked(engine: Arc<Engine>, id: TaskId, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(engine.settings.tick.min(std::time::Duration::from_millis(500))) => {}
            () = cancel.cancelled() => return,
        }
        if !still_blocked(&engine, id).await {
            cancel.cancel();
            return;
        }
    }
}

async fn still_blocked(engine: &Engine, id: TaskId) -> bool {
    engine
        .board
        .get_task(id)
        .await
        .map_or(true, |t| t.status == TaskStatus::Blocked)
}

/// A detached checkout of the failed branch (or the base when there is none).
async fn open_worktree(
    engine: &Arc<Engine>,
    task: &Task,
    git: &LandingGit,
) -> Result<(PathBuf, PathBuf), InvestigationError> {
    let settings = engine.settings.clone();
    let path = settings
        .worktrees_dir
        .join(format!("{}.investigation", task.display_id));
    let branch = format!("harness/{}", task.display_id);
    let git = git.clone();
    tokio::task::spawn_blocking(move || {
        let workspace = settings
            .workspace
            .clone()
            .ok_or(InvestigationError::NoWorkspace)?;
        let repo = workspace_repo(&workspace)?;
        let root = repo.root().to_path_buf();
        let base = super::attempt::base_branch(settings.base_branch.as_deref(), &repo)
            .map_err(InvestigationError::BaseBranch)?;
        let rev = git
            .base_head(&root, &branch)
            .or_else(|_| git.base_head(&root, &base))
            .map_err(InvestigationError::OpenWorktree)?;
        if path.exists() {
            // Left by a crash.
            clear_leftover_checkout(&git, &root, &path);
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(InvestigationError::WorktreeDir)?;
        }
        git.add_detached_worktree(&root, &path, &rev)
            .map_err(InvestigationError::OpenWorktree)?;
        Ok((root, path))
    })
    .await?
}

async fn run_session(
    engine: &Arc<Engine>,
    task: &Task,
    agent: &Agent,
    runtime: Arc<dyn AgentRuntime>,
    cancel: CancellationToken,
    worktree: &std::path::Path,
) -> Result<String, InvestigationError> {
    let session = engine
        .board
        .start_investigation(task.id, agent)
        .await
        .map_err(InvestigationError::Start)?;
    let recorded = engine
        .board
        .record_investigation_worktree(session.id, worktree.display().to_string())
        .await;
    if let Err(err) = recorded {
        tracing::warn!(%err, "cannot record the investigation's worktree");
    }
    let request = SessionRequest {
        worktree: worktree.to_path_buf(),
        role_instructions: engine
            .settings
            .roles
            .registry
            .for_job(Job::Investigate)
            .map(|r| r.prompt.clone())
            .unwrap_or_default(),
        brief: TaskBrief {
            title: format!(
                "Diagnose why {} is blocked: {}",
                task.display_id, task.title
            ),
            ..TaskBrief::for_attempt(task)
        },
        resume: None,
        timeout: engine.settings.session_timeout,
        cancel: cancel.clone(),
        task_creator: None,
        // A diagnosis reads; it changes nothing, whatever its role lists.
        tools: super::roles::investigation_tools(
            engine.settings.roles.registry.for_job(Job::Investigate),
        ),
        browser: None,
    };
    let unblocked = tokio::spawn(
        cancel_when_unblocked(engine.clone(), task.id, cancel.clone()).in_current_span(),
    );
    let Supervised {
        report,
        stuck,
        spend_stop: stopped,
    } = run_helper(
        engine,
        session.id,
        task.id,
        &cancel,
        runtime.as_ref(),
        request,
        vec![unblocked],
    )
    .await;
    let (status, result) = match report.outcome {
        SessionOutcome::Completed { summary, .. } => (SessionStatus::Succeeded, Ok(summary)),
        SessionOutcome::Cancelled => {
            let why = match stopped {
                Some(stop) => InvestigationError::SpendStopped(stop.reason),
                None if stuck => InvestigationError::Stuck,
                None if !still_blocked(engine, task.id).await => InvestigationError::Unblocked,
                None => InvestigationError::Cancelled,
            };
            (SessionStatus::Cancelled, Err(why))
        }
        other => (
            SessionStatus::Failed,
            Err(InvestigationError::Unfinished(format!("{other:?}"))),
        ),
    };
    let reason = match &result {
        Ok(_) => "diagnosis recorded".to_owned(),
        Err(e) => e.to_string(),
    };
    finish_helper_session(&engine.board, session.id, task, status, reason).await;
    result
}

/// Clears a throwaway checkout a crash left at `path` (an investigation's, SIA's):
/// nothing in it is kept. Runs git: blocking. Whatever cannot be cleared is logged, and
/// makes the `add_detached_worktree` that follows fail with git's reason.
pub(super) fn clear_leftover_checkout(git: &LandingGit, root: &Path, path: &Path) {
    // Git may not know the directory (a crash before it registered it): then only the
    // directory goes, below.
    if let Err(err) = git.remove_worktree(root, path) {
        tracing::debug!(%err, path = %path.display(), "git did not remove the leftover checkout");
    }
    match std::fs::remove_dir_all(path) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => {
            tracing::warn!(%err, path = %path.display(), "cannot remove the leftover checkout");
        }
    }
}
