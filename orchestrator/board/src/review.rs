//! Review before landing: entering `review`, a person's decision, a follow-up message
//! to the agent, and comments on lines of the diff.

use harness_domain::{
    event::{NewEvent, Operation},
    review::{
        CommentId, Message, NewComment, PullLink, ReviewAction, ReviewComment, change_request,
    },
    task::{Task, TaskId},
};
use harness_store::{Decision, FollowUp, SessionEnd, StoreError};

use super::{
    Actor, Board,
    live::{DeletedComment, LiveKind},
};

impl Board {
    /// Verified work on `branch` at `commit` waits for a person; the agent's
    /// conversation (`paused`) is kept for a change request. Ends the session.
    pub async fn enter_review(
        &self,
        id: TaskId,
        commit: String,
        branch: String,
        paused: Option<String>,
        end: Option<SessionEnd>,
    ) -> Result<Task, StoreError> {
        self.enter_review_as(id, commit, branch, paused, end, false)
            .await
    }

    /// [`Board::enter_review`] for work that goes to a pull request: its event says so
    /// (`task.status_changed`), and no person is asked to review it here.
    pub async fn enter_pull_request_review(
        &self,
        id: TaskId,
        commit: String,
        branch: String,
        end: Option<SessionEnd>,
    ) -> Result<Task, StoreError> {
        self.enter_review_as(id, commit, branch, None, end, true)
            .await
    }

    async fn enter_review_as(
        &self,
        id: TaskId,
        commit: String,
        branch: String,
        paused: Option<String>,
        end: Option<SessionEnd>,
        pull_request: bool,
    ) -> Result<Task, StoreError> {
        let actor = Actor::SCHEDULER;
        let (task, event, session) = self
            .blocking(move |s| {
                let (c, b) = (commit.clone(), branch.clone());
                s.enter_review(
                    id,
                    &commit,
                    &branch,
                    paused.as_deref(),
                    actor.as_str(),
                    end.as_ref(),
                    move |t| {
                        if pull_request {
                            let reason = format!("verified; {c} goes to a pull request");
                            return super::tasks::status_changed(t, &reason, &Actor::SCHEDULER);
                        }
                        NewEvent::info(
                            Operation::TaskReviewRequested {
                                commit: c.clone(),
                                branch: b,
                            },
                            format!(
                                "{} is verified and waits for review: {} ({})",
                                t.display_id,
                                t.title,
                                &c[..c.len().min(12)]
                            ),
                        )
                        .for_task(t.id)
                    },
                )
            })
            .await?;
        let task = self.status_changed(task, event)?;
        self.announce_session(session);
        Ok(task)
    }

    /// A person's decision on a task in review. Approve and request changes put it back
    /// in the queue (landing, or a follow-up attempt); reject blocks it.
    pub async fn review_task(
        &self,
        id: TaskId,
        action: ReviewAction,
        message: Option<Message>,
        actor: impl Into<Actor>,
    ) -> Result<Task, StoreError> {
        let actor = actor.into();
        let (task, event) = self
            .blocking(move |s| {
                let text = message.as_ref().map(|m| m.as_str().to_owned());
                let decision = Decision {
                    action,
                    message: text.as_deref(),
                    actor: actor.as_str(),
                };
                let follow_up = |comments: &[ReviewComment]| {
                    let asks = text.is_some() || comments.iter().any(ReviewComment::is_open);
                    asks.then(|| change_request(text.as_deref(), comments))
                };
                s.review_task(id, &decision, follow_up, |t| {
                    actor.stamp(
                        NewEvent::info(
                            Operation::TaskReviewed {
                                action,
                                actor: actor.as_str().to_owned(),
                                message: text.clone(),
                            },
                            format!(
                                "{} {} by {}",
                                t.display_id,
                                match action {
                                    ReviewAction::Approve => "approved",
                                    ReviewAction::RequestChanges =>
                                        "sent back with changes requested",
                                    ReviewAction::Reject => "rejected",
                                },
                                actor.as_str()
                            ),
                        )
                        .for_task(t.id),
                    )
                })
            })
            .await?;
        self.status_changed(task, event)
    }

    /// A person's message to the agent of a finished, blocked or reviewed task: the
    /// next attempt continues the conversation with it.
    pub async fn message_task(
        &self,
        id: TaskId,
        message: Message,
        actor: impl Into<Actor>,
    ) -> Result<Task, StoreError> {
        let actor = actor.into();
        let (task, event) = self
            .blocking(move |s| {
                s.message_task(id, message.as_str(), actor.as_str(), |t| {
                    actor.stamp(
                        NewEvent::info(
                            Operation::TaskMessage {
                                actor: actor.as_str().to_owned(),
                            },
                            format!("{} got a message from {}", t.display_id, actor.as_str()),
                        )
                        .for_task(t.id),
                    )
                })
            })
            .await?;
        self.status_changed(task, event)
    }

    /// What the task's next attempt starts from after a review or a message.
    pub async fn waiting_follow_up(&self, id: TaskId) -> Result<FollowUp, StoreError> {
        self.blocking(move |s| s.waiting_follow_up(id)).await
    }

    pub async fn create_comment(
        &self,
        task: TaskId,
        new: NewComment,
        actor: impl Into<Actor>,
    ) -> Result<ReviewComment, StoreError> {
        let actor = actor.into();
        let comment = self
            .blocking(move |s| s.create_comment(task, &new, actor.as_str()))
            .await?;
        self.publish(LiveKind::CommentChanged(comment.clone()));
        Ok(comment)
    }

    pub async fn list_comments(&self, task: TaskId) -> Result<Vec<ReviewComment>, StoreError> {
        self.blocking(move |s| s.list_comments(task)).await
    }

    pub async fn update_comment(
        &self,
        task: TaskId,
        id: CommentId,
        body: Option<String>,
        resolved: Option<bool>,
    ) -> Result<ReviewComment, StoreError> {
        let comment = self
            .blocking(move |s| s.update_comment(task, id, body.as_deref(), resolved))
            .await?;
        self.publish(LiveKind::CommentChanged(comment.clone()));
        Ok(comment)
    }

    pub async fn delete_comment(&self, task: TaskId, id: CommentId) -> Result<(), StoreError> {
        self.blocking(move |s| s.delete_comment(task, id)).await?;
        self.publish(LiveKind::CommentDeleted(DeletedComment {
            id,
            task_id: task,
        }));
        Ok(())
    }

    /// Marks comments whose lines a later attempt changed as outdated.
    pub async fn mark_outdated(&self, task: TaskId, ids: Vec<CommentId>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let changed = self.blocking(move |s| s.mark_outdated(task, &ids)).await?;
        for comment in changed {
            self.publish(LiveKind::CommentChanged(comment));
        }
        Ok(())
    }

    /// Records the task's pull request; `note` is written with it, when given.
    pub async fn set_pull_request(
        &self,
        id: TaskId,
        link: PullLink,
        note: Option<NewEvent>,
    ) -> Result<Task, StoreError> {
        let (task, event) = self
            .blocking(move |s| s.set_pull_request(id, &link, note.as_ref()))
            .await?;
        self.publish(LiveKind::TaskUpdated(task.clone()));
        if let Some(event) = event {
            self.published_event(event);
        }
        Ok(task)
    }

    /// Failing checks or change requests on the pull request: a follow-up attempt.
    pub async fn pull_feedback(
        &self,
        id: TaskId,
        follow_up: String,
        link: PullLink,
        reason: String,
    ) -> Result<Task, StoreError> {
        let actor = Actor::named("forge");
        let (task, event) = self
            .blocking(move |s| {
                s.pull_feedback(id, &follow_up, &link, &reason, |t| {
                    super::tasks::status_changed(t, &reason, &actor)
                })
            })
            .await?;
        self.status_changed(task, event)
    }

    /// The forge merged the task's pull request as `commit`.
    pub async fn pull_merged(&self, id: TaskId, commit: String) -> Result<Task, StoreError> {
        let actor = Actor::named("forge");
        let (task, event) = self
            .blocking(move |s| {
                s.pull_merged(id, &commit, |t| {
                    let reason = format!("its pull request was merged as {commit}");
                    super::tasks::status_changed(t, &reason, &actor)
                })
            })
            .await?;
        self.status_changed(task, event)
    }

    /// The task's pull request was closed unmerged, or ran out of fix rounds.
    pub async fn pull_blocked(&self, id: TaskId, reason: String) -> Result<Task, StoreError> {
        let actor = Actor::named("forge");
        let (task, event) = self
            .blocking(move |s| {
                s.pull_blocked(id, &reason, |t| {
                    super::tasks::status_changed(t, &reason, &actor)
                })
            })
            .await?;
        self.status_changed(task, event)
    }
}
