//! The live bus: every change, numbered and fanned out to WebSocket clients.
//!
//! Each message is serialised once and shared by every subscriber. The last
//! `capacity` messages stay in a ring so a client that reconnects with `?after=SEQ`
//! gets what it missed; an older gap (or a seq from a previous run) gets a `resync`.
//! Sequence numbers start at the boot time in microseconds, so they keep increasing
//! across restarts and a stale `after` can never be mistaken for a current one.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use axum::extract::ws::Utf8Bytes;
use harness_domain::{
    agent::Agent,
    event::Event,
    review::ReviewComment,
    session::{LogLine, Session},
    task::{Task, TaskId},
    time::Timestamp,
};
use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::OrchestratorStatus;
use crate::budget::BudgetReport;

/// Every message a `/ws` client can receive, as `{"type":…,"data":…}`. The OpenAPI
/// document publishes it (as [`LiveFrame`]), and the dashboard's message union is
/// generated from it, so the two cannot drift apart.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type", content = "data")]
pub enum LiveKind {
    /// First frame on every connection; its seq is the newest one published.
    #[serde(rename = "hello")]
    Hello(Hello),
    /// The missed messages cannot be replayed: refetch.
    #[serde(rename = "resync")]
    Resync(Resync),
    #[serde(rename = "task.created")]
    TaskCreated(Task),
    #[serde(rename = "task.updated")]
    TaskUpdated(Task),
    #[serde(rename = "task.deleted")]
    TaskDeleted(DeletedTask),
    #[serde(rename = "agent.updated")]
    AgentUpdated(Agent),
    #[serde(rename = "session.created")]
    SessionCreated(Session),
    #[serde(rename = "session.updated")]
    SessionUpdated(Session),
    #[serde(rename = "session.log")]
    SessionLog(LogLine),
    #[serde(rename = "event.created")]
    EventCreated(Event),
    #[serde(rename = "orchestrator.updated")]
    OrchestratorUpdated(OrchestratorStatus),
    #[serde(rename = "budget.updated")]
    BudgetUpdated(BudgetReport),
    /// A review comment was made or changed (edited, resolved, outdated).
    #[serde(rename = "comment.changed")]
    CommentChanged(ReviewComment),
    #[serde(rename = "comment.deleted")]
    CommentDeleted(DeletedComment),
}

impl LiveKind {
    /// The `type` on the wire, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Hello(_) => "hello",
            Self::Resync(_) => "resync",
            Self::TaskCreated(_) => "task.created",
            Self::TaskUpdated(_) => "task.updated",
            Self::TaskDeleted(_) => "task.deleted",
            Self::AgentUpdated(_) => "agent.updated",
            Self::SessionCreated(_) => "session.created",
            Self::SessionUpdated(_) => "session.updated",
            Self::SessionLog(_) => "session.log",
            Self::EventCreated(_) => "event.created",
            Self::OrchestratorUpdated(_) => "orchestrator.updated",
            Self::BudgetUpdated(_) => "budget.updated",
            Self::CommentChanged(_) => "comment.changed",
            Self::CommentDeleted(_) => "comment.deleted",
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Hello {
    pub server_time: Timestamp,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Resync {
    pub reason: String,
}

/// What is left of a deleted review comment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeletedComment {
    pub id: i64,
    #[schema(value_type = i64)]
    pub task_id: TaskId,
}

/// What is left of a deleted task.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeletedTask {
    pub id: TaskId,
    pub display_id: String,
}

/// One frame on `/ws`: a [`LiveKind`] and its number, `seq`, strictly increasing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveFrame {
    pub seq: u64,
    #[serde(flatten)]
    pub message: LiveKind,
}

impl LiveFrame {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|err| {
            tracing::error!(%err, kind = self.message.name(), "cannot serialise live message");
            String::new()
        })
    }
}

/// One message as sent on the wire: `{"type":…,"seq":…,"data":…}`.
#[derive(Debug)]
pub struct LiveMessage {
    pub seq: u64,
    /// The message's kind ([`LiveKind::name`]), so a listener can pick without parsing.
    pub kind: &'static str,
    /// The frame as every WebSocket sends it: cloning it shares the bytes, so 500
    /// clients cost one serialisation and no copies.
    pub json: Utf8Bytes,
}

/// What a new subscriber gets: the backlog it asked for, then the live stream.
pub struct Subscription {
    /// The newest seq at the moment of subscribing.
    pub latest: u64,
    pub backlog: Backlog,
    pub receiver: broadcast::Receiver<Arc<LiveMessage>>,
}

pub enum Backlog {
    /// Messages after the requested seq, oldest first (empty when none was asked for).
    Replay(Vec<Arc<LiveMessage>>),
    /// The gap cannot be filled: the client must refetch.
    Resync(&'static str),
}

/// A listener's handle on the bus ([`crate::Board::live`]): it subscribes and
/// reads the newest seq, and cannot publish, so every message comes from a board write.
#[derive(Clone, Copy)]
pub struct LiveFeed<'a>(&'a LiveBus);

impl LiveFeed<'_> {
    /// Subscribes, replaying messages after `after` when it is still in the ring.
    pub fn subscribe(&self, after: Option<u64>) -> Subscription {
        self.0.subscribe(after)
    }

    /// The newest seq published so far.
    pub fn latest(&self) -> u64 {
        self.0.latest()
    }
}

/// The bus itself. The board owns the only one ([`crate::Board::new`] makes
/// it); everyone else listens through a [`LiveFeed`].
pub(crate) struct LiveBus {
    state: Mutex<Ring>,
    sender: broadcast::Sender<Arc<LiveMessage>>,
}

struct Ring {
    next_seq: u64,
    capacity: usize,
    messages: VecDeque<Arc<LiveMessage>>,
}

/// How far a subscriber may fall behind before it is dropped. Bounded, so a slow
/// client costs at most this many shared pointers, never unbounded memory.
const SUBSCRIBER_LAG: usize = 1024;

impl LiveBus {
    pub fn new(capacity: usize) -> Self {
        let first_seq = u64::try_from(chrono::Utc::now().timestamp_micros())
            .unwrap_or(1)
            .max(1);
        let (sender, _) = broadcast::channel(SUBSCRIBER_LAG);
        Self {
            state: Mutex::new(Ring {
                next_seq: first_seq,
                capacity,
                messages: VecDeque::with_capacity(capacity.min(1024)),
            }),
            sender,
        }
    }

    /// Numbers, stores and broadcasts one message. Crate-private, and only the board
    /// holds a bus: a message goes out after the write it announces, never instead.
    pub fn publish(&self, message: LiveKind) {
        self.publish_all([message]);
    }

    /// Publishes messages back to back, under one lock: a subscriber woken by the first
    /// finds the rest already waiting and sends them in one write.
    pub(crate) fn publish_all(&self, messages: impl IntoIterator<Item = LiveKind>) {
        let mut ring = self.lock();
        for message in messages {
            self.push(&mut ring, message);
        }
    }

    fn push(&self, ring: &mut Ring, message: LiveKind) {
        let seq = ring.next_seq;
        let kind = message.name();
        let json = LiveFrame { seq, message }.to_json();
        if json.is_empty() {
            return;
        }
        ring.next_seq += 1;
        let message = Arc::new(LiveMessage {
            seq,
            kind,
            json: json.into(),
        });
        if ring.messages.len() == ring.capacity {
            ring.messages.pop_front();
        }
        ring.messages.push_back(message.clone());
        // Sending under the lock keeps seq order identical to delivery order.
        // Fails only when nobody subscribes; the ring above keeps it for later ones.
        let _ = self.sender.send(message);
    }

    /// The newest seq published so far (one less than the first seq when none was).
    pub fn latest(&self) -> u64 {
        self.lock().next_seq - 1
    }

    /// A handle that can listen but not publish.
    pub fn feed(&self) -> LiveFeed<'_> {
        LiveFeed(self)
    }

    /// Subscribes, replaying messages after `after` when it is still in the ring.
    pub fn subscribe(&self, after: Option<u64>) -> Subscription {
        let ring = self.lock();
        let latest = ring.next_seq - 1;
        let receiver = self.sender.subscribe();
        let backlog = match after {
            None => Backlog::Replay(Vec::new()),
            Some(after) if after > latest => {
                Backlog::Resync("that seq is from another server run; refetch")
            }
            Some(after) => {
                let oldest = ring.messages.front().map_or(ring.next_seq, |m| m.seq);
                if after + 1 < oldest {
                    Backlog::Resync("too many messages were missed; refetch")
                } else {
                    Backlog::Replay(
                        ring.messages
                            .iter()
                            .filter(|m| m.seq > after)
                            .cloned()
                            .collect(),
                    )
                }
            }
        };
        Subscription {
            latest,
            backlog,
            receiver,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resync(reason: &str) -> LiveKind {
        LiveKind::Resync(Resync {
            reason: reason.to_owned(),
        })
    }

    fn seqs(backlog: Backlog) -> Vec<u64> {
        match backlog {
            Backlog::Replay(m) => m.iter().map(|m| m.seq).collect(),
            Backlog::Resync(_) => panic!("expected a replay"),
        }
    }

    #[test]
    fn seqs_strictly_increase() {
        let bus = LiveBus::new(16);
        let first = bus.latest() + 1;
        bus.publish(resync("a"));
        bus.publish(resync("b"));
        assert_eq!(bus.latest(), first + 1);
    }

    #[test]
    fn a_reconnect_replays_what_was_missed() {
        let bus = LiveBus::new(16);
        bus.publish(resync("a"));
        let seen = bus.latest();
        bus.publish(resync("b"));
        bus.publish(resync("c"));
        assert_eq!(
            seqs(bus.subscribe(Some(seen)).backlog),
            [seen + 1, seen + 2]
        );
    }

    #[test]
    fn a_gap_older_than_the_ring_asks_for_a_resync() {
        let bus = LiveBus::new(16);
        let start = bus.latest();
        for i in 0..40 {
            bus.publish(resync(&i.to_string()));
        }
        assert!(matches!(
            bus.subscribe(Some(start)).backlog,
            Backlog::Resync(_)
        ));
    }

    #[test]
    fn a_seq_from_the_future_asks_for_a_resync() {
        let bus = LiveBus::new(16);
        assert!(matches!(
            bus.subscribe(Some(bus.latest() + 10)).backlog,
            Backlog::Resync(_)
        ));
    }

    #[test]
    fn the_envelope_has_type_seq_and_data() {
        let bus = LiveBus::new(16);
        let mut sub = bus.subscribe(None);
        bus.publish(LiveKind::TaskDeleted(DeletedTask {
            id: TaskId::new(1).unwrap(),
            display_id: "T-1".into(),
        }));
        let msg = sub.receiver.try_recv().unwrap();
        let v: serde_json::Value = serde_json::from_str(&msg.json).unwrap();
        assert_eq!(v["type"], "task.deleted");
        assert_eq!(v["seq"], msg.seq);
        assert_eq!(v["data"]["id"], 1);
    }
}
