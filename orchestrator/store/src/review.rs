//! Review before landing: a task entering `review`, a person's decision on it, a
//! follow-up message to its agent, and comments on lines of its diff. Each change is one
//! transaction with its history row and event.

use harness_domain::{
    event::{Event, NewEvent},
    review::{CommentId, NewComment, PullLink, ReviewAction, ReviewComment, Side},
    session::Session,
    task::{Outcome, Task, TaskId, TaskStatus},
    time::Timestamp,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    Store, StoreError,
    events::insert_event,
    sessions::{SessionEnd, end_session_in},
    tasks::{corrupt_value, load_task, parse_time, transition_task_in},
    work::clear_answer_in,
};

/// Comments one task keeps: a script cannot fill the database through one task.
pub const MAX_COMMENTS_PER_TASK: u32 = 1000;

const COLUMNS: &str = "id, task_id, path, line, end_line, side, body, author, commit_sha, \
     line_text, outdated, resolved, created_at, updated_at";

/// What the attempt after a review or a message starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUp {
    /// The person's change request or message: the agent's next message.
    pub message: Option<String>,
    /// The conversation it continues, when the runtime kept one.
    pub paused: Option<String>,
    /// An approved commit: the attempt lands it without an agent.
    pub approved_commit: Option<String>,
}

/// A person's decision on a task in review, validated by the caller.
pub struct Decision<'a> {
    pub action: ReviewAction,
    pub message: Option<&'a str>,
    pub actor: &'a str,
}

impl Store {
    /// A verifying task's verified work waits for a person: the task moves to `review`
    /// with the commit and branch as its outcome, the agent's conversation is kept for
    /// a follow-up, and the session ends; one transaction.
    #[allow(clippy::too_many_arguments)]
    pub fn enter_review(
        &self,
        id: TaskId,
        commit: &str,
        branch: &str,
        paused: Option<&str>,
        actor: &str,
        end: Option<&SessionEnd>,
        note: impl FnOnce(&Task) -> NewEvent,
    ) -> Result<(Task, Event, Option<Session>), StoreError> {
        let tx = self.write()?;
        clear_answer_in(&tx, id)?;
        let reason = format!("verified; {commit} waits for review");
        let (_, event) = transition_task_in(
            &tx,
            id,
            Some(TaskStatus::Verifying),
            TaskStatus::Review,
            &reason,
            actor,
            note,
        )?;
        let outcome = Outcome::InReview {
            commit: commit.to_owned(),
            branch: branch.to_owned(),
        };
        tx.execute(
            "UPDATE tasks SET outcome = ?1, paused_conversation = ?2 WHERE id = ?3",
            params![to_json(&outcome)?, paused, id.get()],
        )?;
        let session = end.map(|end| end_session_in(&tx, end)).transpose()?;
        let task = load_task(&tx, id)?;
        tx.commit()?;
        Ok((task, event, session))
    }

    /// A person's decision on a task in `review`: approve (pending, to land the reviewed
    /// commit without an agent), request changes (pending, with `follow_up` for the next
    /// attempt, within the task's attempts), or reject (blocked with the reason, the
    /// branch kept). `follow_up` is built from the comments read in this transaction.
    pub fn review_task(
        &self,
        id: TaskId,
        decision: &Decision<'_>,
        follow_up: impl FnOnce(&[ReviewComment]) -> Option<String>,
        note: impl FnOnce(&Task) -> NewEvent,
    ) -> Result<(Task, Event), StoreError> {
        let tx = self.write()?;
        let current = load_task(&tx, id)?;
        let Some(Outcome::InReview { commit, .. }) = current.outcome.clone() else {
            return Err(StoreError::Conflict(format!(
                "{} is {}; only a task in review can be reviewed",
                current.display_id,
                current.status.as_str()
            )));
        };
        if current.status != TaskStatus::Review {
            return Err(StoreError::Conflict(format!(
                "{} is {}; only a task in review can be reviewed",
                current.display_id,
                current.status.as_str()
            )));
        }
        let who = decision.actor;
        let (to, reason) = match decision.action {
            ReviewAction::Approve => {
                tx.execute(
                    "UPDATE tasks SET approved_commit = ?1 WHERE id = ?2",
                    params![commit, id.get()],
                )?;
                (TaskStatus::Pending, format!("approved by {who}; landing"))
            }
            ReviewAction::RequestChanges => {
                attempts_left(&current)?;
                let comments = list_comments_in(&tx, id)?;
                let Some(text) = follow_up(&comments) else {
                    return Err(StoreError::Invalid(harness_domain::ValidationError::new(
                        "message",
                        "say what to change: a message, or a comment on a line of the diff",
                    )));
                };
                tx.execute(
                    "UPDATE tasks SET follow_up = ?1 WHERE id = ?2",
                    params![text, id.get()],
                )?;
                (TaskStatus::Pending, format!("changes requested by {who}"))
            }
            ReviewAction::Reject => {
                let why = decision.message.unwrap_or("rejected");
                tx.execute(
                    "UPDATE tasks SET last_failure = ?1 WHERE id = ?2",
                    params![format!("Rejected in review by {who}: {why}"), id.get()],
                )?;
                (TaskStatus::Blocked, format!("rejected by {who}: {why}"))
            }
        };
        let (task, event) = transition_task_in(&tx, id, None, to, &reason, who, note)?;
        tx.commit()?;
        Ok((task, event))
    }

    /// A person's message to the agent of a task in review, completed, blocked or
    /// failed: it goes back to pending, and the next attempt continues the agent's
    /// conversation with the message.
    pub fn message_task(
        &self,
        id: TaskId,
        message: &str,
        actor: &str,
        note: impl FnOnce(&Task) -> NewEvent,
    ) -> Result<(Task, Event), StoreError> {
        let tx = self.write()?;
        let current = load_task(&tx, id)?;
        let allowed = matches!(
            current.status,
            TaskStatus::Review | TaskStatus::Completed | TaskStatus::Blocked | TaskStatus::Failed
        );
        if !allowed {
            return Err(StoreError::Conflict(format!(
                "{} is {}; a message goes to a task in review, completed, blocked or failed",
                current.display_id,
                current.status.as_str()
            )));
        }
        if current.status == TaskStatus::Review {
            attempts_left(&current)?;
        }
        tx.execute(
            "UPDATE tasks SET follow_up = ?1, approved_commit = NULL, retry_at = NULL WHERE id = ?2",
            params![message, id.get()],
        )?;
        let reason = format!("a message from {actor}");
        let (task, event) =
            transition_task_in(&tx, id, None, TaskStatus::Pending, &reason, actor, note)?;
        tx.commit()?;
        Ok((task, event))
    }

    /// Records the pull request a task in review is in (opened, pushed again, or a
    /// problem reaching the forge), with `note` when something worth an event happened.
    pub fn set_pull_request(
        &self,
        id: TaskId,
        link: &PullLink,
        note: Option<&NewEvent>,
    ) -> Result<(Task, Option<Event>), StoreError> {
        let tx = self.write()?;
        tx.execute(
            "UPDATE tasks SET pull_request = ?1, updated_at = ?2 WHERE id = ?3",
            params![link_json(link)?, Timestamp::now().to_rfc3339(), id.get()],
        )?;
        let event = note.map(|n| insert_event(&tx, n)).transpose()?;
        let task = load_task(&tx, id)?;
        tx.commit()?;
        Ok((task, event))
    }

    /// The pull request's checks failed or its reviewers asked for changes: a follow-up
    /// attempt continues on the same branch with `follow_up`, and the link counts the
    /// round. Nothing changes unless the task is still in review.
    pub fn pull_feedback(
        &self,
        id: TaskId,
        follow_up: &str,
        link: &PullLink,
        reason: &str,
        note: impl FnOnce(&Task) -> NewEvent,
    ) -> Result<(Task, Event), StoreError> {
        let tx = self.write()?;
        tx.execute(
            "UPDATE tasks SET follow_up = ?1, pull_request = ?2 WHERE id = ?3",
            params![follow_up, link_json(link)?, id.get()],
        )?;
        let done = leave_review_for_forge(&tx, id, TaskStatus::Pending, reason, note)?;
        tx.commit()?;
        Ok(done)
    }

    /// The forge merged the pull request: the task is completed with the merge commit.
    pub fn pull_merged(
        &self,
        id: TaskId,
        commit: &str,
        note: impl FnOnce(&Task) -> NewEvent,
    ) -> Result<(Task, Event), StoreError> {
        let tx = self.write()?;
        clear_answer_in(&tx, id)?;
        tx.execute(
            "UPDATE tasks SET outcome = ?1 WHERE id = ?2",
            params![
                to_json(&Outcome::Landed {
                    commit: commit.to_owned()
                })?,
                id.get()
            ],
        )?;
        let reason = format!("its pull request was merged as {commit}");
        let done = leave_review_for_forge(&tx, id, TaskStatus::Completed, &reason, note)?;
        tx.commit()?;
        Ok(done)
    }

    /// The pull request was closed unmerged, or its fix rounds ran out: the task is
    /// blocked with `reason`; its branch stays.
    pub fn pull_blocked(
        &self,
        id: TaskId,
        reason: &str,
        note: impl FnOnce(&Task) -> NewEvent,
    ) -> Result<(Task, Event), StoreError> {
        let tx = self.write()?;
        tx.execute(
            "UPDATE tasks SET last_failure = ?1 WHERE id = ?2",
            params![reason, id.get()],
        )?;
        let done = leave_review_for_forge(&tx, id, TaskStatus::Blocked, reason, note)?;
        tx.commit()?;
        Ok(done)
    }

    /// What the next attempt of the task starts from after a review or a message. It
    /// stays on the task until an attempt that used it ends with a result.
    pub fn waiting_follow_up(&self, id: TaskId) -> Result<FollowUp, StoreError> {
        let conn = self.read()?;
        let row = conn
            .query_row(
                "SELECT follow_up, paused_conversation, approved_commit FROM tasks
                  WHERE id = ?1 AND question IS NULL",
                [id.get()],
                |r| {
                    Ok(FollowUp {
                        message: r.get(0)?,
                        paused: r.get(1)?,
                        approved_commit: r.get(2)?,
                    })
                },
            )
            .optional()?;
        Ok(row.unwrap_or(FollowUp {
            message: None,
            paused: None,
            approved_commit: None,
        }))
    }

    /// Stores a comment by `author` on the task's diff.
    pub fn create_comment(
        &self,
        task: TaskId,
        new: &NewComment,
        author: &str,
    ) -> Result<ReviewComment, StoreError> {
        let tx = self.write()?;
        load_task(&tx, task)?;
        let count: u32 = tx.query_row(
            "SELECT COUNT(*) FROM review_comments WHERE task_id = ?1",
            [task.get()],
            |r| r.get(0),
        )?;
        if count >= MAX_COMMENTS_PER_TASK {
            return Err(StoreError::Conflict(format!(
                "{} has {MAX_COMMENTS_PER_TASK} comments, as many as a task keeps; delete some first",
                task.display_id()
            )));
        }
        let at = Timestamp::now().to_rfc3339();
        let end = (new.lines.end() != new.lines.start()).then_some(new.lines.end());
        let id: CommentId = tx.query_row(
            "INSERT INTO review_comments (task_id, path, line, end_line, side, body, author,
                                          commit_sha, line_text, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) RETURNING id",
            params![
                task.get(),
                new.path.as_str(),
                new.lines.start(),
                end,
                new.side.as_str(),
                new.body.as_str(),
                author,
                new.commit,
                new.line_text,
                at
            ],
            |r| r.get(0),
        )?;
        let comment = load_comment(&tx, task, id)?;
        tx.commit()?;
        Ok(comment)
    }

    /// The task's comments, oldest first.
    pub fn list_comments(&self, task: TaskId) -> Result<Vec<ReviewComment>, StoreError> {
        let conn = self.read()?;
        load_task(&conn, task)?;
        list_comments_in(&conn, task)
    }

    /// Edits a comment's body or marks it resolved (or open again).
    pub fn update_comment(
        &self,
        task: TaskId,
        id: CommentId,
        body: Option<&str>,
        resolved: Option<bool>,
    ) -> Result<ReviewComment, StoreError> {
        let tx = self.write()?;
        load_comment(&tx, task, id)?;
        tx.execute(
            "UPDATE review_comments SET body = COALESCE(?1, body), resolved = COALESCE(?2, resolved),
                    updated_at = ?3
              WHERE id = ?4",
            params![body, resolved, Timestamp::now().to_rfc3339(), id],
        )?;
        let comment = load_comment(&tx, task, id)?;
        tx.commit()?;
        Ok(comment)
    }

    pub fn delete_comment(&self, task: TaskId, id: CommentId) -> Result<(), StoreError> {
        let tx = self.write()?;
        load_comment(&tx, task, id)?;
        tx.execute("DELETE FROM review_comments WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    /// Marks the comments whose lines a later attempt changed as outdated.
    pub fn mark_outdated(
        &self,
        task: TaskId,
        ids: &[CommentId],
    ) -> Result<Vec<ReviewComment>, StoreError> {
        let tx = self.write()?;
        let at = Timestamp::now().to_rfc3339();
        let mut changed = Vec::with_capacity(ids.len());
        for id in ids {
            tx.execute(
                "UPDATE review_comments SET outdated = 1, updated_at = ?1 WHERE id = ?2 AND task_id = ?3",
                params![at, id, task.get()],
            )?;
            changed.push(load_comment(&tx, task, *id)?);
        }
        tx.commit()?;
        Ok(changed)
    }
}

/// What the task's pull request came to moves it out of review (only from review: a
/// person who cancelled or decided meanwhile wins), said by `forge`.
fn leave_review_for_forge(
    tx: &Connection,
    id: TaskId,
    to: TaskStatus,
    reason: &str,
    note: impl FnOnce(&Task) -> NewEvent,
) -> Result<(Task, Event), StoreError> {
    transition_task_in(tx, id, Some(TaskStatus::Review), to, reason, "forge", note)
}

/// A change request or a message to a task in review uses an attempt: refused once
/// they are used up, so a review loop stays within the task's limit.
fn attempts_left(task: &Task) -> Result<(), StoreError> {
    if task.attempts >= task.max_attempts {
        return Err(StoreError::Conflict(format!(
            "{} has used all {} of its attempts; approve or reject it",
            task.display_id, task.max_attempts
        )));
    }
    Ok(())
}

fn list_comments_in(conn: &Connection, task: TaskId) -> Result<Vec<ReviewComment>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM review_comments WHERE task_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([task.get()], raw_comment)?;
    rows.map(|r| r.map_err(StoreError::from).and_then(into_comment))
        .collect()
}

fn load_comment(
    conn: &Connection,
    task: TaskId,
    id: CommentId,
) -> Result<ReviewComment, StoreError> {
    let raw = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM review_comments WHERE id = ?1 AND task_id = ?2"),
            params![id, task.get()],
            raw_comment,
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("comment {id} on {}", task.display_id())))?;
    into_comment(raw)
}

type RawComment = (
    CommentId,
    i64,
    String,
    u32,
    Option<u32>,
    String,
    String,
    String,
    String,
    String,
    bool,
    bool,
    String,
    String,
);

fn raw_comment(r: &Row) -> rusqlite::Result<RawComment> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
    ))
}

fn into_comment(raw: RawComment) -> Result<ReviewComment, StoreError> {
    let (
        id,
        task,
        path,
        line,
        end_line,
        side,
        body,
        author,
        commit,
        line_text,
        outdated,
        resolved,
        created,
        updated,
    ) = raw;
    Ok(ReviewComment {
        id,
        task_id: TaskId::new(task)?,
        path,
        line,
        end_line,
        side: Side::parse(&side).map_err(|_| corrupt_value("review_comments.side", &side))?,
        body,
        author,
        commit,
        line_text,
        outdated,
        resolved,
        created_at: parse_time(&created)?,
        updated_at: parse_time(&updated)?,
    })
}

fn link_json(link: &PullLink) -> Result<String, StoreError> {
    serde_json::to_string(link).map_err(|e| {
        StoreError::Invalid(harness_domain::ValidationError::new(
            "pull_request",
            e.to_string(),
        ))
    })
}

fn to_json(outcome: &Outcome) -> Result<String, StoreError> {
    serde_json::to_string(outcome).map_err(|e| {
        StoreError::Invalid(harness_domain::ValidationError::new(
            "outcome",
            e.to_string(),
        ))
    })
}
