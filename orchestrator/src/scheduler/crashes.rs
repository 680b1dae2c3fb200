//! Startup recovery of tasks a crash interrupted: the attempt is given back, and a task
//! interrupted by crashes `HARNESS_MAX_CRASH_INTERRUPTIONS` times is blocked instead of
//! running (and spending) after every restart.

use harness_domain::{
    event::{NewEvent, Severity},
    task::TaskId,
};

use crate::{board::Board, store::CrashRecovery};

/// Recovers one interrupted task. True when it went back to pending.
pub async fn recover_task(
    board: &Board,
    id: TaskId,
    max: u32,
    actor: &'static str,
) -> anyhow::Result<bool> {
    let recovered = board
        .blocking(move |s| s.recover_after_crash(id, max, actor))
        .await?;
    match recovered {
        CrashRecovery::Requeued(task) => {
            board.announce_task(&task);
            Ok(true)
        }
        CrashRecovery::Blocked(task) => {
            board.announce_task(&task);
            let reason = task.last_failure.clone().unwrap_or_default();
            tracing::warn!(task = %task.display_id, %reason, "task blocked after repeated crashes");
            board
                .note(
                    NewEvent::info(
                        "task.blocked",
                        format!("{} is blocked: {reason}", task.display_id),
                    )
                    .with_severity(Severity::Error)
                    .for_task(id.get())
                    .with_payload(serde_json::json!({ "reason": "crash_interruptions" })),
                )
                .await;
            Ok(false)
        }
        CrashRecovery::Unchanged(_) => Ok(false),
    }
}
