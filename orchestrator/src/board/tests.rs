//! Each board method: one transaction, then its live message carrying the committed
//! state. Every test subscribes to the live bus, calls the method, and checks that
//! each message is there and that the database already holds what it says.

use std::sync::Arc;

use harness_domain::{
    agent::{AgentId, AgentPatch, AgentStatus},
    event::NewEvent,
    session::{LogKind, SessionStatus, Usage},
    task::{NewTask, Task, TaskId, TaskPatch, TaskStatus, Title},
    time::Timestamp,
};
use serde_json::Value;
use tempfile::TempDir;

use super::{Actor, Board};
use crate::{
    live::{LiveBus, Subscription},
    store::{Failure, Store},
};

struct Fixture {
    board: Board,
    sub: Subscription,
    _dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("board.db")).unwrap();
        let board = Board::new(Arc::new(store), Arc::new(LiveBus::new(256)));
        let sub = board.live().subscribe(None);
        Self {
            board,
            sub,
            _dir: dir,
        }
    }

    /// The frames published since the last call, as JSON.
    fn published(&mut self) -> Vec<Value> {
        let mut frames = Vec::new();
        while let Ok(m) = self.sub.receiver.try_recv() {
            frames.push(serde_json::from_str(&m.json).unwrap());
        }
        frames
    }

    /// The frames' types, in order.
    fn kinds(&mut self) -> (Vec<String>, Vec<Value>) {
        let frames = self.published();
        let kinds = frames
            .iter()
            .map(|f| f["type"].as_str().unwrap().to_owned())
            .collect();
        (kinds, frames)
    }

    async fn task(&mut self, title: &str) -> Task {
        let task = self
            .board
            .create_task(NewTask::titled(Title::parse(title).unwrap()), Actor::API)
            .await
            .unwrap();
        self.published();
        task
    }

    /// The task as the database holds it, as JSON.
    fn stored_task(&self, id: TaskId) -> Value {
        serde_json::to_value(self.board.store.get_task(id).unwrap()).unwrap()
    }

    /// The event a frame carries is in the events table.
    fn assert_event_stored(&self, frame: &Value, kind: &str) {
        assert_eq!(frame["type"], "event.created");
        assert_eq!(frame["data"]["type"], kind);
        let stored = self.board.store.list_events(None, Some(kind), 50).unwrap();
        assert!(
            stored.iter().any(|e| frame["data"]["id"] == e.id),
            "{kind} event {} is not in the database",
            frame["data"]["id"]
        );
    }

    fn agent(&self) -> harness_domain::agent::Agent {
        self.board
            .store
            .get_agent(&AgentId::parse("build-1").unwrap())
            .unwrap()
    }
}

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
async fn create_task_now_for_a_planning_agent_says_who_created_it() {
    let mut f = Fixture::new();
    let task = f
        .board
        .create_task_now(
            &NewTask::titled(Title::parse("sub").unwrap()),
            Actor::PLANNING,
        )
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

#[tokio::test]
async fn claim_requeue_and_retry_publish_each_committed_state() {
    let mut f = Fixture::new();
    let task = f.task("work").await;
    let agent = f.agent();
    let (_, session) = f.board.claim(task.id, &agent).await.unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "session.created"]);
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    assert_eq!(frames[1]["data"]["id"], session.id);

    let later = Timestamp::now().plus(chrono::TimeDelta::minutes(5));
    f.board
        .requeue(task.id, "rate limited", Some(later), Actor::SCHEDULER)
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated"]);
    assert_eq!(frames[0]["data"]["status"], "pending");
    assert_eq!(frames[0]["data"], f.stored_task(task.id));

    f.board.retry_now(task.id, Actor::API).await.unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated"]);
    assert_eq!(frames[0]["data"]["retry_at"], Value::Null);
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
}

#[tokio::test]
async fn verifying_and_complete_publish_the_task_and_its_events() {
    let mut f = Fixture::new();
    let task = f.task("finish").await;
    f.board.claim(task.id, &f.agent()).await.unwrap();
    f.published();
    f.board.enter_verifying(task.id).await.unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["status"], "verifying");
    f.board
        .complete(task.id, "verified and merged as abc123".to_owned())
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created"]);
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    assert_eq!(frames[0]["data"]["status"], "completed");
}

#[tokio::test]
async fn settle_failure_publishes_the_task_and_the_failed_event_from_one_commit() {
    let mut f = Fixture::new();
    let task = f.task("fail").await;
    let (_, session) = f.board.claim(task.id, &f.agent()).await.unwrap();
    f.published();
    let failure = Failure {
        reason: "tests failed".into(),
        summary: "1 failed".into(),
        retry_at: Some(Timestamp::now().plus(chrono::TimeDelta::minutes(1))),
        investigate: false,
    };
    f.board
        .settle_failure(task.id, failure, Some(session.id), Actor::SCHEDULER)
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["last_failure"], "1 failed");
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    f.assert_event_stored(&frames[1], "task.failed");
    assert_eq!(frames[1]["data"]["session_id"], session.id);
}

#[tokio::test]
async fn a_question_and_its_answer_publish_the_task_and_their_events() {
    let mut f = Fixture::new();
    let task = f.task("ask").await;
    let (_, session) = f.board.claim(task.id, &f.agent()).await.unwrap();
    f.published();
    f.board
        .ask_question(task.id, session.id, "which colour?".into(), None)
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["question"], "which colour?");
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    f.assert_event_stored(&frames[1], "task.question");

    f.board
        .answer_question(task.id, "green".into(), Actor::API)
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["answer"], "green");
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    f.assert_event_stored(&frames[1], "task.answered");

    let taken = f.board.take_answer(task.id).await.unwrap().unwrap();
    assert_eq!(
        (taken.question.as_str(), taken.answer.as_str()),
        ("which colour?", "green")
    );
}

#[tokio::test]
async fn record_blocked_publishes_the_diagnosed_task_and_the_blocked_event() {
    let mut f = Fixture::new();
    let task = f.task("stuck").await;
    f.board
        .record_blocked(&task, Some("ROOT CAUSE: none".into()))
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["diagnosis"], "ROOT CAUSE: none");
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    f.assert_event_stored(&frames[1], "task.blocked");
}

#[tokio::test]
async fn session_records_publish_the_updated_session() {
    let mut f = Fixture::new();
    let task = f.task("git").await;
    let (_, session) = f.board.claim(task.id, &f.agent()).await.unwrap();
    f.published();
    let id = session.id;
    f.board
        .record_worktree(id, "/tmp/w".into(), "harness/T-1".into())
        .await
        .unwrap();
    f.board.record_commit(id, "abc123".into()).await.unwrap();
    f.board
        .record_verify_output(id, "all passed".into())
        .await
        .unwrap();
    f.board
        .append_log(id, LogKind::System, "hello".into())
        .await
        .unwrap();
    f.board
        .add_session_usage(id, Usage::default(), 0.25)
        .await
        .unwrap();
    f.board
        .finish_session(id, SessionStatus::Succeeded, "done".into())
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(
        kinds,
        [
            "session.updated",
            "session.updated",
            "session.updated",
            "session.log",
            "session.updated",
            "session.updated"
        ]
    );
    let stored = serde_json::to_value(f.board.store.get_session(id).unwrap()).unwrap();
    assert_eq!(frames[5]["data"], stored);
    assert_eq!(stored["commit_sha"], "abc123");
    assert_eq!(stored["verify_output"], "all passed");
    assert_eq!(frames[3]["data"]["content"], "hello");
}

#[tokio::test]
async fn create_session_and_investigation_publish_the_new_session() {
    let mut f = Fixture::new();
    let task = f.task("inspect").await;
    let agent = f.agent();
    let session = f
        .board
        .create_session(task.id, agent.id.clone(), "m".into())
        .await
        .unwrap();
    let investigation = f.board.start_investigation(task.id, &agent).await.unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["session.created", "session.updated"]);
    assert_eq!(frames[0]["data"]["id"], session.id);
    assert_eq!(frames[1]["data"]["purpose"], "investigation");
    assert_eq!(frames[1]["data"]["id"], investigation.id);
}

#[tokio::test]
async fn interrupting_sessions_publishes_each_with_its_event() {
    let mut f = Fixture::new();
    let task = f.task("interrupted").await;
    f.board.claim(task.id, &f.agent()).await.unwrap();
    f.published();
    let n = f
        .board
        .interrupt_running_sessions("the orchestrator stopped")
        .await
        .unwrap();
    assert_eq!(n, 1);
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["session.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["status"], "interrupted");
    f.assert_event_stored(&frames[1], "session.interrupted");
}

#[tokio::test]
async fn agent_changes_publish_the_committed_agent() {
    let mut f = Fixture::new();
    let id = AgentId::parse("build-2").unwrap();
    let patch = AgentPatch {
        enabled: Some(false),
        ..AgentPatch::default()
    };
    f.board.update_agent(id.clone(), patch).await.unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["agent.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["status"], "disabled");
    f.assert_event_stored(&frames[1], "agent.updated");

    f.board
        .set_agent_status(id.clone(), AgentStatus::Unconfigured, Some("no key".into()))
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["agent.updated"]);
    let stored = serde_json::to_value(f.board.store.get_agent(&id).unwrap()).unwrap();
    assert_eq!(frames[0]["data"], stored);
}

#[tokio::test]
async fn pause_publishes_the_status_and_its_event_from_one_commit() {
    let mut f = Fixture::new();
    let started = Timestamp::now();
    f.board.set_paused(true, started, Actor::API).await.unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["orchestrator.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["paused"], true);
    assert!(f.board.store.paused().unwrap());
    f.assert_event_stored(&frames[1], "orchestrator.paused");
}

#[tokio::test]
async fn a_note_is_published_after_it_is_stored() {
    let mut f = Fixture::new();
    f.board
        .note(NewEvent::info("worktree.leftover", "left over"))
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["event.created"]);
    f.assert_event_stored(&frames[0], "worktree.leftover");
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
