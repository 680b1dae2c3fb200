//! Each board method: one transaction, then its live message carrying the committed
//! state. Every test subscribes to the live bus, calls the method, and checks that
//! each message is there and that the database already holds what it says.
//!
//! By area, like `board/` itself; the shapes most methods share (a session updated, a
//! session created, an event on its own) are one helper each on [`Fixture`].

mod orchestrator;
mod review;
mod roles;
mod sessions;
mod tasks;
mod work;

use std::sync::Arc;

use harness_domain::{
    agent::{Agent, AgentId},
    session::{Session, SessionId},
    task::{NewTask, Task, TaskId, Title},
};
use serde_json::Value;
use tempfile::TempDir;

use super::{Actor, Board};
use crate::live::Subscription;
use harness_store::Store;

struct Fixture {
    board: Board,
    sub: Subscription,
    _dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("board.db")).unwrap();
        let board = Board::new(Arc::new(store), 256);
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

    /// A task claimed by `build-1`, with its running attempt session.
    async fn claimed(&mut self, title: &str) -> (Task, Session) {
        let task = self.task(title).await;
        let claimed = self.board.claim(task.id, &self.agent()).await.unwrap();
        self.published();
        claimed
    }

    /// The task as the database holds it, as JSON.
    fn stored_task(&self, id: TaskId) -> Value {
        serde_json::to_value(self.board.store.get_task(id).unwrap()).unwrap()
    }

    /// The session as the database holds it, as JSON.
    fn stored_session(&self, id: SessionId) -> Value {
        serde_json::to_value(self.board.store.get_session(id).unwrap()).unwrap()
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

    /// The one message since the last call is `session.updated`, carrying session `id`
    /// exactly as stored. Returns that session.
    fn one_session_update(&mut self, id: SessionId) -> Value {
        let (kinds, frames) = self.kinds();
        assert_eq!(kinds, ["session.updated"]);
        let stored = self.stored_session(id);
        assert_eq!(frames[0]["data"], stored);
        stored
    }

    /// The one message since the last call is `session.created`, carrying a session
    /// exactly as stored. Returns that session.
    fn one_new_session(&mut self) -> Value {
        let (kinds, frames) = self.kinds();
        assert_eq!(kinds, ["session.created"]);
        let stored =
            self.stored_session(SessionId::new(frames[0]["data"]["id"].as_i64().unwrap()).unwrap());
        assert_eq!(frames[0]["data"], stored);
        stored
    }

    /// The one message since the last call is a stored `kind` event. Returns the event.
    fn one_event(&mut self, kind: &str) -> Value {
        let (kinds, frames) = self.kinds();
        assert_eq!(kinds, ["event.created"], "expected one {kind} event");
        self.assert_event_stored(&frames[0], kind);
        frames[0]["data"].clone()
    }

    fn agent(&self) -> Agent {
        self.board
            .store
            .get_agent(&AgentId::parse("build-1").unwrap())
            .unwrap()
    }
}
