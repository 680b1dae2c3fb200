//! Review before landing, on the scheduler's side: verified work waiting for a person
//! (`Ending::Review`), landing what a person approved without running an agent again,
//! and what the API reads from git for a review (the diff, a comment's lines).

use std::sync::Arc;

use harness_config::EngineSettings;
use harness_domain::{
    ValidationError,
    review::{LandPolicy, LineRange, RepoPath, ReviewComment, Side, TaskDiff},
    task::{Outcome, Task},
};
use harness_engine::git::{GitError, Repo, branch_name};

use super::{
    attempt::{Attempt, Ending, Finished, workspace_and_base},
    error::AttemptError,
    landing,
    sink::StoreSink,
};

/// Why the API cannot show or anchor a review.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The workspace cannot be read (its base branch, a git that failed to start).
    #[error("{0}")]
    Workspace(String),
    /// There is nothing to show: no workspace, or no branch of the task.
    #[error("{0}")]
    NoBranch(String),
    #[error("{0}")]
    Invalid(ValidationError),
    #[error("git failed: {0}")]
    Git(#[from] GitError),
}

/// The task's landing policy, else its role's.
pub(super) fn land_policy(attempt: &Attempt) -> LandPolicy {
    attempt.task().land.unwrap_or(attempt.role().land)
}

/// Lands the commit a person approved in review: the attempt's branch is checked out
/// again, must still hold exactly that commit, and goes through the same landing as
/// any verified work (brought up to the base, verified again if the base moved, the
/// base fast-forwarded under the merge lock). No agent runs.
pub(super) async fn land_approved(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    approved: String,
) -> Ending {
    sink.system(format!("landing {approved}, as approved in review"));
    let prepared = match reopen_for_landing(attempt, sink).await {
        Ok(prepared) => prepared,
        Err(err) => return Ending::after(err, ""),
    };
    let (repo, worktree) = prepared;
    let branch = format!("refs/heads/{}", worktree.branch);
    let git = repo.clone();
    let head = tokio::task::spawn_blocking(move || git.commit_of(&branch)).await;
    match head {
        Ok(Ok(head)) if head == approved => {}
        Ok(Ok(head)) => {
            let err = AttemptError::RunAgent(format!(
                "{} moved to {head} after {approved} was approved; review it again",
                worktree.branch
            ));
            return Ending::after(err, "");
        }
        Ok(Err(err)) => return Ending::after(AttemptError::PrepareWorktree(err), ""),
        Err(err) => return Ending::after(AttemptError::from(err), ""),
    }
    if let Err(err) = attempt
        .engine()
        .board
        .enter_verifying(attempt.task().id)
        .await
    {
        return Ending::after(AttemptError::EnterVerifying(err), "");
    }
    let done = Finished {
        summary: "approved in review",
        no_changes_needed: None,
        last_message: "",
        approved: true,
        conversation: None,
    };
    landing::land(attempt, sink, &repo, &worktree, done).await
}

async fn reopen_for_landing(
    attempt: &Attempt,
    sink: &StoreSink,
) -> Result<(Repo, harness_engine::git::Worktree), AttemptError> {
    let (repo, base) = workspace_and_base(&attempt.engine().settings).await?;
    let path = attempt
        .engine()
        .settings
        .worktrees_dir
        .join(&attempt.task().display_id);
    let (git, display_id, author) = (
        repo.clone(),
        attempt.task().display_id.clone(),
        attempt.author(),
    );
    let worktree = tokio::task::spawn_blocking(move || {
        super::attempt::open_worktree(&git, &display_id, &base, &path, true, &author)
    })
    .await?
    .map_err(AttemptError::PrepareWorktree)?
    .0;
    sink.system(format!(
        "worktree {} on branch {}",
        worktree.path.display(),
        worktree.branch
    ));
    Ok((repo, worktree))
}

/// Whether `commit` is where `base` points: work that changed nothing has nothing
/// to review.
pub(super) async fn is_base_head(attempt: &Attempt, base: &str, commit: &str) -> bool {
    let settings = attempt.engine().settings.clone();
    let rev = format!("refs/heads/{base}");
    let head = tokio::task::spawn_blocking(move || {
        workspace_repo(&settings)
            .ok()
            .and_then(|r| r.commit_of(&rev).ok())
    })
    .await;
    matches!(head, Ok(Some(h)) if h == commit)
}

/// Comments whose lines the work now in review changed are marked outdated: shown
/// to the person, no longer sent to the agent.
pub(super) async fn mark_outdated_comments(attempt: &Attempt, head: &str) {
    let board = &attempt.engine().board;
    let comments = match board.list_comments(attempt.task().id).await {
        Ok(comments) => comments,
        Err(err) => {
            tracing::warn!(%err, "cannot read the task's comments");
            return;
        }
    };
    // A comment on the base's side stays as it is: the work in review does not
    // change what the base had.
    let open: Vec<ReviewComment> = comments
        .into_iter()
        .filter(|c| !c.outdated && c.side == Side::New && c.commit != head)
        .collect();
    if open.is_empty() {
        return;
    }
    let settings = attempt.engine().settings.clone();
    let head = head.to_owned();
    let changed = tokio::task::spawn_blocking(move || -> Result<Vec<i64>, AttemptError> {
        let repo = workspace_repo(&settings)?;
        let mut changed = Vec::new();
        for c in open {
            let end = c.end_line.unwrap_or(c.line);
            let now = repo.lines_at(&head, &c.path, c.line, end).ok().flatten();
            if now.as_deref() != Some(c.line_text.as_str()) {
                changed.push(c.id);
            }
        }
        Ok(changed)
    })
    .await;
    match changed {
        Ok(Ok(ids)) => {
            if let Err(err) = board.mark_outdated(attempt.task().id, ids).await {
                tracing::warn!(%err, "cannot mark comments outdated");
            }
        }
        Ok(Err(err)) => tracing::warn!(%err, "cannot compare the comments' lines"),
        Err(err) => tracing::warn!(%err, "cannot compare the comments' lines"),
    }
}

/// The diff a person reviews: the task's branch against where it left the base.
pub async fn task_diff(settings: &EngineSettings, task: &Task) -> Result<TaskDiff, ReviewError> {
    let (repo, base) = review_repo(settings).await?;
    let branch = task_branch(task)?;
    let display_id = task.display_id.clone();
    tokio::task::spawn_blocking(move || {
        if repo.commit_of(&format!("refs/heads/{branch}")).is_err() {
            return Err(ReviewError::NoBranch(no_branch(&display_id, &branch)));
        }
        Ok(repo.task_diff(&base, &branch)?)
    })
    .await
    .map_err(|e| ReviewError::Workspace(e.to_string()))?
}

/// Where a comment goes: the commit it is made on (the branch's head for the new side,
/// the merge base for the old) and the text of its lines there. A line the file does
/// not have is refused, naming the field.
pub async fn anchor_comment(
    settings: &EngineSettings,
    task: &Task,
    path: &RepoPath,
    lines: LineRange,
    side: Side,
) -> Result<(String, String), ReviewError> {
    let diff = task_diff(settings, task).await?;
    let in_diff = diff
        .files
        .iter()
        .any(|f| f.path == path.as_str() || f.old_path.as_deref() == Some(path.as_str()));
    if !in_diff {
        return Err(ReviewError::Invalid(ValidationError::new(
            "path",
            format!(
                "'{}' is not among the files this task changed",
                path.as_str()
            ),
        )));
    }
    let (repo, _) = review_repo(settings).await?;
    let at = match side {
        Side::New => diff.head_commit.clone(),
        Side::Old => diff.base_commit.clone(),
    };
    let (file, commit) = (path.as_str().to_owned(), at.clone());
    let text = tokio::task::spawn_blocking(move || {
        repo.lines_at(&commit, &file, lines.start(), lines.end())
    })
    .await
    .map_err(|e| ReviewError::Workspace(e.to_string()))??;
    let Some(text) = text else {
        return Err(ReviewError::Invalid(ValidationError::new(
            "line",
            format!(
                "'{}' has no line {} on the {} side",
                path.as_str(),
                lines.end(),
                side.as_str()
            ),
        )));
    };
    Ok((diff.head_commit, text))
}

/// The branch a task's work is on: the one in review, else `harness/<display id>`.
fn task_branch(task: &Task) -> Result<String, ReviewError> {
    match &task.outcome {
        Some(Outcome::InReview { branch, .. }) => Ok(branch.clone()),
        _ => branch_name(&task.display_id).map_err(|e| ReviewError::NoBranch(e.to_string())),
    }
}

fn no_branch(display_id: &str, branch: &str) -> String {
    format!(
        "{display_id} has no branch {branch} to show: it has not produced work yet, or its work landed and the branch was removed"
    )
}

async fn review_repo(settings: &EngineSettings) -> Result<(Repo, String), ReviewError> {
    workspace_and_base(settings).await.map_err(|e| match e {
        AttemptError::NoWorkspace => ReviewError::NoBranch(
            "no workspace is configured (HARNESS_WORKSPACE), so there is no diff to show".into(),
        ),
        other => ReviewError::Workspace(other.to_string()),
    })
}

fn workspace_repo(settings: &EngineSettings) -> Result<Repo, AttemptError> {
    let workspace = settings
        .workspace
        .as_ref()
        .ok_or(AttemptError::NoWorkspace)?;
    Ok(super::runtimes::workspace_repo(workspace)?)
}
