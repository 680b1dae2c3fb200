//! What people do to tasks (board/tasks.rs), and the order of commit and message.

use harness_domain::task::{NewTask, TaskPatch, TaskStatus, Title};
use serde_json::Value;

use super::Fixture;
use crate::Actor;
use harness_store::Failure;

#[tokio::test]
async fn create_task_publishes_the_committed_task_then_its_event() {
    let mut f = Fixture::new();
    let task = f
        .board
        .create_task(NewTask::titled(Title::parse("one").unwrap()), Actor::API)
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.created", "event.created"]);
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    f.assert_event_stored(&frames[1], "task.created");
}

#[tokio::test]
async fn a_task_a_planning_agent_creates_says_who_created_it() {
    let mut f = Fixture::new();
    let task = f
        .board
        .create_task(
            NewTask::titled(Title::parse("sub").unwrap()),
            Actor::PLANNING,
        )
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.created", "event.created"]);
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    assert!(
        frames[1]["data"]["message"]
            .as_str()
            .unwrap()
            .contains("by a planning agent")
    );
    let history = f.board.store.task_history(task.id).unwrap();
    assert_eq!(history[0].actor, "planning");
}

#[tokio::test]
async fn update_task_publishes_the_updated_task() {
    let mut f = Fixture::new();
    let task = f.task("before").await;
    let patch = TaskPatch {
        title: Some(Title::parse("after").unwrap()),
        ..TaskPatch::default()
    };
    f.board.update_task(task.id, patch).await.unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated"]);
    assert_eq!(frames[0]["data"]["title"], "after");
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
}

#[tokio::test]
async fn transition_task_publishes_the_task_and_its_status_event_from_one_commit() {
    let mut f = Fixture::new();
    let task = f.task("move me").await;
    f.board
        .transition_task(
            task.id,
            TaskStatus::InProgress,
            "test",
            Actor::named("telegram:ada"),
        )
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["status"], "in_progress");
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    f.assert_event_stored(&frames[1], "task.status_changed");
    assert_eq!(frames[1]["data"]["payload"]["actor"], "telegram:ada");
    let history = f.board.store.task_history(task.id).unwrap();
    assert_eq!(history.last().unwrap().actor, "telegram:ada");
}

#[tokio::test]
async fn unblock_of_a_task_that_is_not_blocked_is_a_conflict_and_publishes_nothing() {
    let mut f = Fixture::new();
    let task = f.task("not blocked").await;
    let err = f.board.unblock(task.id, Actor::API).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "task {} is pending; only a blocked task can be unblocked",
            task.display_id
        )
    );
    assert!(f.published().is_empty());
}

#[tokio::test]
async fn unblock_publishes_the_pending_task_with_fresh_attempts() {
    let mut f = Fixture::new();
    let task = f.task("blocked").await;
    let agent = f.agent();
    f.board.claim(task.id, &agent).await.unwrap();
    let failure = Failure {
        reason: "broken".into(),
        summary: "broken".into(),
        retry_at: None,
        investigate: false,
    };
    f.board
        .settle_failure(task.id, failure, None, Actor::SCHEDULER)
        .await
        .unwrap();
    f.published();
    f.board.unblock(task.id, Actor::API).await.unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created"]);
    assert_eq!(
        (
            frames[0]["data"]["status"].as_str(),
            frames[0]["data"]["attempts"].as_u64()
        ),
        (Some("pending"), Some(0))
    );
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
}

#[tokio::test]
async fn cancel_publishes_the_cancelled_task_and_stops_its_session() {
    let mut f = Fixture::new();
    let task = f.task("cancel me").await;
    let token = f.board.runs().register(task.id);
    f.board.cancel(task.id, Actor::API).await.unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["status"], "cancelled");
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    assert!(token.is_cancelled());
}

#[tokio::test]
async fn delete_task_publishes_what_is_left_of_it_and_its_event() {
    let mut f = Fixture::new();
    let task = f.task("delete me").await;
    f.board.delete_task(task.id).await.unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.deleted", "event.created"]);
    assert_eq!(frames[0]["data"]["display_id"], task.display_id.as_str());
    assert!(f.board.store.get_task(task.id).is_err());
    f.assert_event_stored(&frames[1], "task.deleted");
}

/// A subscriber that reads the database the moment a message arrives sees exactly the
/// state the message carries: the message went out after the commit, never before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_reading_on_each_message_finds_that_state_committed() {
    let mut f = Fixture::new();
    let task = f.task("watched").await;
    let (id, store) = (task.id, f.board.store.clone());
    let mut receiver = f.board.live().subscribe(None).receiver;
    let (ack, mut acks) = tokio::sync::mpsc::unbounded_channel();
    let watcher = std::thread::spawn(move || {
        while let Ok(m) = receiver.blocking_recv() {
            let frame: Value = serde_json::from_str(&m.json).unwrap();
            if frame["type"] != "task.updated" {
                continue;
            }
            let stored = store.get_task(id).unwrap();
            let pair = (
                frame["data"]["status"].as_str().unwrap().to_owned(),
                stored.status.as_str(),
            );
            if ack.send(pair).is_err() {
                return;
            }
        }
    });
    for to in [
        TaskStatus::InProgress,
        TaskStatus::Verifying,
        TaskStatus::Completed,
    ] {
        f.board
            .transition_task(id, to, "test", Actor::SCHEDULER)
            .await
            .unwrap();
        // The next change waits until the watcher has read this one.
        let (published, stored) = acks.recv().await.unwrap();
        assert_eq!((published.as_str(), stored), (to.as_str(), to.as_str()));
    }
    drop(acks);
    drop(f);
    let _ = watcher.join();
}
