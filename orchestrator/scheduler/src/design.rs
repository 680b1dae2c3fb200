//! The architect's job: before the build attempt of a large task, write a design note
//! into the worktree (`docs/design/<display_id>.md`). The build agent receives it in
//! its task message, and it is committed with the work.

use std::sync::Arc;

use harness_domain::role::{Job, Size};

use super::{
    attempt::Attempt,
    consult::{Consult, Verdict, staffed},
    sink::StoreSink,
};
use harness_engine::{git::Worktree, prompt::TaskBrief};

/// Bytes of the design note passed on to the build agent.
const NOTE_BYTES: usize = 16 * 1024;

/// The design note for a large task (written now when the worktree lacks one and
/// an architect is staffed), as text for the build agent's task message.
pub(super) async fn design_note(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    worktree: &Worktree,
    size: Option<Size>,
) -> Option<String> {
    if size != Some(Size::Large) {
        return None;
    }
    let relative = format!("docs/design/{}.md", attempt.task().display_id);
    let path = worktree.path.join(&relative);
    if !path.is_file() && staffed(attempt.engine(), Job::Design).await {
        let brief = TaskBrief {
            description: format!(
                "{}\n\nWrite the design note to {relative}.",
                attempt.task().description
            ),
            previous_failure: attempt.task().last_failure.clone(),
            ..TaskBrief::for_helper(attempt.task(), format!("Design: {}", attempt.task().title))
        };
        let verdict = Consult {
            engine: attempt.engine(),
            task: attempt.task(),
            job: Job::Design,
            purpose: "design",
            brief,
            worktree: &worktree.path,
            creator: None,
            cancel: attempt.cancel(),
        }
        .run()
        .await;
        match verdict {
            Ok(Verdict::Completed(_)) => {}
            Ok(Verdict::Failed(reason)) => sink.system(format!("no design note: {reason}")),
            Err(err) => sink.system(format!("no design note: {err}")),
        }
    }
    let note = tokio::fs::read_to_string(&path).await.ok()?;
    sink.system(format!(
        "the build agent receives the design note {relative}"
    ));
    let note = harness_engine::session::tail(&note, NOTE_BYTES);
    Some(format!(
        "\n\nAn architect wrote this design note ({relative}); follow it unless it is wrong:\n{note}"
    ))
}
