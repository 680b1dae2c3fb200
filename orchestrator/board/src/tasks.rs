//! What people (the API, integrations, planning agents) do to tasks.

use harness_domain::{
    event::{NewEvent, Operation, Severity},
    task::{NewTask, Task, TaskId, TaskPatch, TaskStatus, TaskTransition},
};

use super::{Actor, Board};
use crate::live::{DeletedTask, LiveKind};
use harness_store::{Page, StoreError, TaskFilter};

impl Board {
    pub async fn create_task(
        &self,
        new: NewTask,
        actor: impl Into<Actor>,
    ) -> Result<Task, StoreError> {
        let actor = actor.into();
        let by = actor.as_str().to_owned();
        let (task, event) = self
            .store
            .create_task_async(new, by, move |t| created(t, &actor))
            .await?;
        self.created(&task, event);
        Ok(task)
    }

    fn created(&self, task: &Task, event: harness_domain::event::Event) {
        self.live.publish_all([
            LiveKind::TaskCreated(task.clone()),
            LiveKind::EventCreated(event),
        ]);
        self.runs.wake();
    }

    pub async fn update_task(&self, id: TaskId, patch: TaskPatch) -> Result<Task, StoreError> {
        let task = self.store.update_task(id, patch).await?;
        self.announce_task(&task);
        Ok(task)
    }

    /// Moves a task through the status machine and announces it.
    pub async fn transition_task(
        &self,
        id: TaskId,
        to: TaskStatus,
        reason: impl Into<String>,
        actor: impl Into<Actor>,
    ) -> Result<Task, StoreError> {
        let (reason, actor) = (reason.into(), actor.into());
        let (by, why) = (actor.as_str().to_owned(), reason.clone());
        let (task, event) = self
            .store
            .transition_task(id, to, why, by, move |t| status_changed(t, &reason, &actor))
            .await?;
        self.status_changed(task, event)
    }

    /// A human's unblock: a blocked task goes back to pending with fresh attempts. The
    /// status check and the move are one transaction.
    pub async fn unblock(&self, id: TaskId, actor: impl Into<Actor>) -> Result<Task, StoreError> {
        let actor = actor.into();
        let by = actor.as_str().to_owned();
        let (task, event) = self
            .store
            .unblock_task(id, by, move |t| {
                status_changed(t, "unblocked by a user", &actor)
            })
            .await?;
        self.status_changed(task, event)
    }

    /// A cancelled task back on the board, pending with a fresh set of attempts.
    pub async fn reopen(&self, id: TaskId, actor: impl Into<Actor>) -> Result<Task, StoreError> {
        let actor = actor.into();
        let by = actor.as_str().to_owned();
        let (task, event) = self
            .store
            .reopen_task(id, by, move |t| {
                status_changed(t, "reopened by a user", &actor)
            })
            .await?;
        self.status_changed(task, event)
    }

    /// Cancel really cancels: the session working on the task is stopped.
    pub async fn cancel(&self, id: TaskId, actor: impl Into<Actor>) -> Result<Task, StoreError> {
        self.transition_task(id, TaskStatus::Cancelled, "cancelled by a user", actor)
            .await
    }

    pub(super) fn status_changed(
        &self,
        task: Task,
        event: harness_domain::event::Event,
    ) -> Result<Task, StoreError> {
        self.live.publish_all([
            LiveKind::TaskUpdated(task.clone()),
            LiveKind::EventCreated(event),
        ]);
        if task.status == TaskStatus::Cancelled {
            self.runs.cancel(task.id);
        }
        if task.status == TaskStatus::Review {
            self.runs.wake_forge();
        }
        self.runs.wake();
        Ok(task)
    }

    pub async fn delete_task(&self, id: TaskId) -> Result<(), StoreError> {
        let (task, event) = self
            .store
            .delete_task(id, |t| {
                NewEvent::info(
                    Operation::TaskDeleted,
                    format!("{} deleted: {}", t.display_id, t.title),
                )
                .for_task(t.id)
            })
            .await?;
        self.publish(LiveKind::TaskDeleted(DeletedTask {
            id: task.id,
            display_id: task.display_id,
        }));
        self.published_event(event);
        Ok(())
    }

    /// A human's "retry now"; see [`harness_store::Store::retry_now`].
    pub async fn retry_now(&self, id: TaskId, actor: impl Into<Actor>) -> Result<Task, StoreError> {
        let actor = actor.into();
        let task = self
            .blocking(move |s| s.retry_now(id, actor.as_str()))
            .await?;
        self.announce_task(&task);
        Ok(task)
    }

    /// Records a human's answer to an agent's question and lets the task run again.
    pub async fn answer_question(
        &self,
        id: TaskId,
        answer: String,
        actor: impl Into<Actor>,
    ) -> Result<Task, StoreError> {
        let actor = actor.into();
        let (task, event) = self
            .blocking(move |s| {
                s.answer_question(id, &answer, |t| {
                    actor.stamp(
                        NewEvent::info(
                            Operation::TaskAnswered {
                                actor: actor.as_str().to_owned(),
                            },
                            format!("{} got an answer", t.display_id),
                        )
                        .for_task(t.id),
                    )
                })
            })
            .await?;
        self.publish(LiveKind::TaskUpdated(task.clone()));
        self.published_event(event);
        self.runs.wake();
        Ok(task)
    }

    /// A task changed without an event of its own: publish it and wake the scheduler.
    pub(super) fn announce_task(&self, task: &Task) {
        self.publish(LiveKind::TaskUpdated(task.clone()));
        self.runs.wake();
    }

    /// A read by key runs on the caller's thread when a reader connection is free: it
    /// reads one row of a WAL snapshot in microseconds and never waits for the writer,
    /// while the round trip through the blocking pool cost two thread switches, more
    /// than the read itself. With every reader busy it waits on the blocking pool.
    pub async fn get_task(&self, id: TaskId) -> Result<Task, StoreError> {
        if let Some(read) = self.store.get_task_now(id) {
            return read;
        }
        self.blocking(move |s| s.get_task(id)).await
    }

    /// Inline when a reader is free, as [`Board::get_task`]: a page is a few index
    /// lookups, cheaper than the hand-off to the blocking pool and back.
    pub async fn list_tasks(&self, filter: TaskFilter) -> Result<Page<Task>, StoreError> {
        if let Some(read) = self.store.list_tasks_now(&filter) {
            return read;
        }
        self.blocking(move |s| s.list_tasks(&filter)).await
    }

    pub async fn task_history(&self, id: TaskId) -> Result<Vec<TaskTransition>, StoreError> {
        self.blocking(move |s| s.task_history(id)).await
    }

    pub async fn dependents(&self, id: TaskId) -> Result<Vec<Task>, StoreError> {
        self.blocking(move |s| s.dependents(id)).await
    }
}

fn created(task: &Task, actor: &Actor) -> NewEvent {
    let by = if *actor == Actor::PLANNING {
        " by a planning agent"
    } else {
        ""
    };
    actor.stamp(
        NewEvent::info(
            Operation::TaskCreated,
            format!("{} created{by}: {}", task.display_id, task.title),
        )
        .for_task(task.id),
    )
}

pub(super) fn status_changed(task: &Task, reason: &str, actor: &Actor) -> NewEvent {
    let severity = match task.status {
        TaskStatus::Failed | TaskStatus::Blocked => Severity::Warning,
        _ => Severity::Info,
    };
    actor.stamp(
        NewEvent::info(
            Operation::TaskStatusChanged {
                to: task.status,
                actor: actor.as_str().to_owned(),
            },
            format!(
                "{} is now {}: {reason}",
                task.display_id,
                task.status.as_str()
            ),
        )
        .with_severity(severity)
        .for_task(task.id),
    )
}
