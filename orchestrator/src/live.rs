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

use serde::Serialize;
use tokio::sync::broadcast;

/// One message as sent on the wire: `{"type":…,"seq":…,"data":…}`.
#[derive(Debug)]
pub struct LiveMessage {
    pub seq: u64,
    pub json: Arc<str>,
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

pub struct LiveBus {
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

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    seq: u64,
    data: &'a T,
}

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

    /// Numbers, stores and broadcasts one message.
    pub fn publish<T: Serialize>(&self, kind: &str, data: &T) {
        let mut ring = self.lock();
        let seq = ring.next_seq;
        let json = match serde_json::to_string(&Envelope { kind, seq, data }) {
            Ok(json) => json,
            Err(err) => {
                tracing::error!(%err, kind, "cannot serialise live message");
                return;
            }
        };
        ring.next_seq += 1;
        let message = Arc::new(LiveMessage {
            seq,
            json: json.into(),
        });
        if ring.messages.len() == ring.capacity {
            ring.messages.pop_front();
        }
        ring.messages.push_back(message.clone());
        // Sending under the lock keeps seq order identical to delivery order.
        let _ = self.sender.send(message);
    }

    /// The newest seq published so far (one less than the first seq when none was).
    pub fn latest(&self) -> u64 {
        self.lock().next_seq - 1
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
        bus.publish("a", &1);
        bus.publish("b", &2);
        assert_eq!(bus.latest(), first + 1);
    }

    #[test]
    fn a_reconnect_replays_what_was_missed() {
        let bus = LiveBus::new(16);
        bus.publish("a", &1);
        let seen = bus.latest();
        bus.publish("b", &2);
        bus.publish("c", &3);
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
            bus.publish("x", &i);
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
        bus.publish("task.created", &serde_json::json!({"id": 1}));
        let msg = sub.receiver.try_recv().unwrap();
        let v: serde_json::Value = serde_json::from_str(&msg.json).unwrap();
        assert_eq!(v["type"], "task.created");
        assert_eq!(v["seq"], msg.seq);
        assert_eq!(v["data"]["id"], 1);
    }
}
