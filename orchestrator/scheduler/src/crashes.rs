//! Recovery of tasks a crash interrupted (the orchestrator's, found at startup, or a
//! remote worker's, lost mid-attempt): the attempt is given back, and a task interrupted
//! by crashes `HARNESS_MAX_CRASH_INTERRUPTIONS` times is blocked instead of running (and
//! spending) again and again. A task whose attempt had already landed when the crash
//! came is completed instead: its work is on the base, and running it again would
//! repeat it.

use harness_domain::{
    session::SessionStatus,
    task::{TaskId, TaskStatus},
};

use harness_board::{Actor, Board};
use harness_config::EngineSettings;
use harness_engine::{git::Repo, landing::LandingGit};
use harness_store::{CrashRecovery, SessionEnd, SessionFilter, StoreError};

/// Why a task the orchestrator's own crash interrupted goes back to pending.
pub const RESTARTED: &str = "interrupted by a restart; will run again";

/// Recovers one interrupted task; `cause` is why it goes back to pending, and `end`
/// ends the interrupted session with it. True when it went back to pending.
pub async fn recover_task(
    board: &Board,
    settings: &EngineSettings,
    id: TaskId,
    max: u32,
    actor: Actor,
    cause: &str,
    end: Option<SessionEnd>,
) -> Result<bool, StoreError> {
    if let Some(commit) = landed_commit(board, settings, id).await {
        let reason = format!("verified and merged as {commit} before the interruption");
        tracing::warn!(task = %id, %commit, "the interrupted attempt had landed; completing its task");
        let end = end.map(|e| SessionEnd {
            status: SessionStatus::Succeeded,
            reason: reason.clone(),
            ..e
        });
        let outcome = harness_domain::task::Outcome::Landed { commit };
        board.complete_attempt(id, outcome, reason, end).await?;
        return Ok(false);
    }
    match board
        .recover_after_crash(id, max, actor, cause.to_owned(), end)
        .await?
    {
        CrashRecovery::Requeued(_) => Ok(true),
        CrashRecovery::Blocked(task) => {
            let reason = task.last_failure.unwrap_or_default();
            tracing::warn!(task = %task.display_id, %reason, "task blocked after repeated crashes");
            Ok(false)
        }
        CrashRecovery::Unchanged(_) => Ok(false),
    }
}

/// The commit the task's latest attempt recorded, when the task was verifying and the
/// base already holds that commit: the crash came after the attempt landed (the base
/// fast-forwarded) and before the task was completed.
async fn landed_commit(board: &Board, settings: &EngineSettings, id: TaskId) -> Option<String> {
    let task = board.get_task(id).await.ok()?;
    if task.status != TaskStatus::Verifying {
        return None;
    }
    let filter = SessionFilter {
        task_id: Some(id),
        limit: 5,
        ..SessionFilter::default()
    };
    let sessions = board.list_sessions(filter).await.ok()?.items;
    let commit = sessions
        .into_iter()
        .find(|s| s.purpose == "attempt")?
        .commit_sha?;
    let workspace = settings.workspace.clone()?;
    let base = settings.base_branch.clone();
    let git = LandingGit {
        timeout: settings.reliability.git_timeout,
    };
    tokio::task::spawn_blocking(move || {
        let base = match base {
            Some(base) => base,
            None => Repo::open(&workspace).ok()?.current_branch().ok()?,
        };
        let head = git.base_head(&workspace, &base).ok()?;
        git.contains(&workspace, &commit, &head)
            .ok()?
            .then_some(commit)
    })
    .await
    .ok()
    .flatten()
}
