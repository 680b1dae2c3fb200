//! Recovery of tasks a crash interrupted (the orchestrator's, found at startup, or a
//! remote worker's, lost mid-attempt): the attempt is given back, and a task interrupted
//! by crashes `HARNESS_MAX_CRASH_INTERRUPTIONS` times is blocked instead of running (and
//! spending) again and again.

use harness_domain::task::TaskId;

use crate::{
    board::{Actor, Board},
    store::{CrashRecovery, SessionEnd, StoreError},
};

/// Why a task the orchestrator's own crash interrupted goes back to pending.
pub const RESTARTED: &str = "interrupted by a restart; will run again";

/// Recovers one interrupted task; `cause` is why it goes back to pending, and `end`
/// ends the interrupted session with it. True when it went back to pending.
pub async fn recover_task(
    board: &Board,
    id: TaskId,
    max: u32,
    actor: Actor,
    cause: &str,
    end: Option<SessionEnd>,
) -> Result<bool, StoreError> {
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
