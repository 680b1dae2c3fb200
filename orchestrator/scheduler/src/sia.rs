//! SIA's board review: on a schedule (`sia_every_hours`) and when tasks block
//! repeatedly (a second task blocked while another still is), SIA reads a summary of
//! the board and the repository and proposes tasks, which wait as `proposed` for a
//! person (`/api/proposals`). It works in a throwaway checkout of the base. Arbitration
//! of repeated validation rejections is in validate.rs.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    sync::Arc,
};

use harness_domain::{
    role::Job,
    task::{Task, TaskStatus},
};

use super::{
    Engine,
    consult::{Consult, Verdict, staffed},
    runtimes::workspace_repo,
    subtasks::ProposalCreator,
};
use harness_engine::{landing::LandingGit, prompt::TaskBrief};
use harness_store::TaskFilter;

/// What made SIA look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    Schedule,
    Blocked,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Blocked => "blocked",
        }
    }
}

/// Blocked tasks on the board at which a new blocking calls SIA.
const BLOCKED_REPEATEDLY: u64 = 2;

/// After a task was blocked: SIA reviews when it is not the only blocked one.
pub(crate) async fn after_blocked(engine: Arc<Engine>, task: Task) {
    let blocked = engine
        .board
        .list_tasks(TaskFilter {
            status: Some(TaskStatus::Blocked),
            limit: 1,
            ..TaskFilter::default()
        })
        .await
        .map(|p| p.total)
        .unwrap_or(0);
    if blocked >= BLOCKED_REPEATEDLY {
        review(engine, Trigger::Blocked, Some(task)).await;
    }
}

/// One board review, attached to `about` (or the newest task). Skipped quietly when no
/// SIA agent is available, the orchestrator is paused, the board is empty, or another
/// review is running.
pub async fn review(engine: Arc<Engine>, trigger: Trigger, about: Option<Task>) {
    let Ok(_one_at_a_time) = engine.sia_review.try_lock() else {
        return;
    };
    if !staffed(&engine, Job::Ideate).await || engine.board.paused().await.unwrap_or(true) {
        return;
    }
    let summary = match board_summary(&engine).await {
        Some(s) => s,
        None => return,
    };
    let Some(task) = about.or(summary.1) else {
        return;
    };
    let path = engine.settings.worktrees_dir.join("sia-review");
    let git = LandingGit {
        timeout: engine.settings.reliability.git_timeout,
    };
    let Some(root) = checkout(&engine, &git, &path).await else {
        tracing::warn!("SIA: cannot check out the base for a review");
        return;
    };
    let brief = TaskBrief {
        display_id: task.display_id.clone(),
        title: format!("Review the board ({})", trigger.as_str()),
        description: summary.0,
        ..TaskBrief::default()
    };
    let creator = Arc::new(ProposalCreator {
        board: engine.board.clone(),
        source: trigger.as_str().to_owned(),
    });
    let verdict = Consult {
        engine: &engine,
        task: &task,
        job: Job::Ideate,
        purpose: "review",
        brief,
        worktree: &path,
        creator: Some(creator),
        cancel: &engine.stop,
    }
    .run()
    .await;
    match verdict {
        Ok(Verdict::Completed(text) | Verdict::Failed(text)) => {
            tracing::info!(trigger = trigger.as_str(), %text, "SIA reviewed the board");
        }
        Err(err) => tracing::warn!(%err, "SIA's review did not finish"),
    }
    let removed = tokio::task::spawn_blocking(move || git.remove_worktree(&root, &path)).await;
    if !matches!(removed, Ok(Ok(()))) {
        tracing::warn!("the SIA review worktree was not removed");
    }
}

/// Counts by status and the blocked and failing tasks with their last failure; and
/// the newest task, to attach the session to.
async fn board_summary(engine: &Engine) -> Option<(String, Option<Task>)> {
    let board = &engine.board;
    let mut text = String::from("The board now:\n");
    let mut newest = None;
    for status in [
        TaskStatus::Pending,
        TaskStatus::InProgress,
        TaskStatus::Blocked,
        TaskStatus::Completed,
    ] {
        let page = board
            .list_tasks(TaskFilter {
                status: Some(status),
                limit: 10,
                ..TaskFilter::default()
            })
            .await
            .ok()?;
        // Writing to a String cannot fail (here and below).
        let _ = writeln!(text, "- {}: {}", status.as_str(), page.total);
        if status == TaskStatus::Blocked {
            for t in &page.items {
                let why = t
                    .last_failure
                    .as_deref()
                    .and_then(|f| f.lines().next())
                    .unwrap_or("");
                let _ = writeln!(text, "  - {} {}: {why}", t.display_id, t.title);
            }
        }
        newest = newest.or_else(|| page.items.first().cloned());
    }
    Some((text, newest))
}

/// A detached checkout of the base branch at `path`; returns the repository root.
async fn checkout(engine: &Engine, git: &LandingGit, path: &Path) -> Option<PathBuf> {
    let settings = engine.settings.clone();
    let (git, path) = (git.clone(), path.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let repo = workspace_repo(settings.workspace.as_ref()?).ok()?;
        let root = repo.root().to_path_buf();
        let base = super::attempt::base_branch(settings.base_branch.as_deref(), &repo).ok()?;
        let rev = git.base_head(&root, &base).ok()?;
        if path.exists() {
            super::investigation::clear_leftover_checkout(&git, &root, &path);
        }
        std::fs::create_dir_all(path.parent()?).ok()?;
        git.add_detached_worktree(&root, &path, &rev).ok()?;
        Some(root)
    })
    .await
    .ok()
    .flatten()
}
