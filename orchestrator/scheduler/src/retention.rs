//! Worktrees of failed attempts are kept for inspection until the task is retried or
//! the retention period passes. Then they are set aside like a retry would: anything
//! uncommitted goes to a kept branch first, so no work is ever deleted.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use harness_domain::task::{TaskRef, TaskStatus};

use super::{error::WorkspaceError, runtimes::workspace_repo};
use harness_board::Board;
use harness_config::EngineSettings;
use harness_engine::git::Author;

/// Removes expired worktrees of tasks that no session works on. Returns how many.
pub async fn prune(board: &Board, settings: &EngineSettings) -> usize {
    let Some(workspace) = settings.workspace.clone() else {
        return 0;
    };
    // Read on the blocking pool: a directory read must not hold the scheduler's thread.
    let dir = settings.worktrees_dir.clone();
    let entries =
        tokio::task::spawn_blocking(move || -> std::io::Result<Vec<(String, PathBuf)>> {
            Ok(std::fs::read_dir(dir)?
                .filter_map(Result::ok)
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                .collect())
        })
        .await;
    let Ok(Ok(entries)) = entries else {
        return 0;
    };
    let mut removed = 0;
    for (name, path) in entries {
        let Ok(task_ref) = TaskRef::parse(&name) else {
            continue;
        };
        let id = task_ref.id();
        let busy =
            board.runs().is_running(id) || board.has_running_session(id).await.unwrap_or(true);
        if busy {
            continue;
        }
        let expired = match board.get_task(task_ref.id()).await {
            // A task waiting for an answer or a review, or with a person's follow-up
            // to resume with, keeps the worktree and branch its agent goes on in,
            // however long the human takes.
            Ok(task) => {
                !matches!(
                    task.status,
                    TaskStatus::InProgress | TaskStatus::Verifying | TaskStatus::Review
                ) && task.question.is_none()
                    && task.follow_up.is_none()
                    && age(&task.updated_at) >= settings.worktree_retention
            }
            Err(_) => true, // the task was deleted
        };
        if expired && set_aside(&workspace, &path, &name, settings).await {
            removed += 1;
        }
    }
    removed
}

fn age(at: &harness_domain::time::Timestamp) -> Duration {
    (chrono::Utc::now() - at.datetime())
        .to_std()
        .unwrap_or_default()
}

async fn set_aside(
    workspace: &Path,
    path: &Path,
    display_id: &str,
    settings: &EngineSettings,
) -> bool {
    let (workspace, path, id) = (
        workspace.to_path_buf(),
        path.to_path_buf(),
        display_id.to_owned(),
    );
    let author = Author {
        name: settings.git_author_name.clone(),
        email: settings.git_author_email.clone(),
    };
    let result = tokio::task::spawn_blocking(move || {
        let repo = workspace_repo(&workspace).map_err(|WorkspaceError(git)| git)?;
        repo.set_aside_worktree(&path, &id, &author)
    })
    .await;
    match result {
        Ok(Ok(kept)) => {
            tracing::info!(task = display_id, kept_branch = ?kept, "removed an expired worktree");
            true
        }
        Ok(Err(err)) => {
            tracing::warn!(task = display_id, %err, "cannot remove an expired worktree");
            false
        }
        Err(err) => {
            tracing::warn!(task = display_id, %err, "cannot remove an expired worktree");
            false
        }
    }
}
