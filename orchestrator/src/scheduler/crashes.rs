//! Startup recovery of tasks a crash interrupted: the attempt is given back, and a task
//! interrupted by crashes `HARNESS_MAX_CRASH_INTERRUPTIONS` times is blocked instead of
//! running (and spending) after every restart.

use harness_domain::task::TaskId;

use crate::{
    board::{Actor, Board},
    store::{CrashRecovery, StoreError},
};

/// Recovers one interrupted task. True when it went back to pending.
pub async fn recover_task(
    board: &Board,
    id: TaskId,
    max: u32,
    actor: Actor,
) -> Result<bool, StoreError> {
    match board.recover_after_crash(id, max, actor).await? {
        CrashRecovery::Requeued(_) => Ok(true),
        CrashRecovery::Blocked(task) => {
            let reason = task.last_failure.unwrap_or_default();
            tracing::warn!(task = %task.display_id, %reason, "task blocked after repeated crashes");
            Ok(false)
        }
        CrashRecovery::Unchanged(_) => Ok(false),
    }
}
