//! A gate shared by every Anthropic session: when any one of them is rate limited, all
//! of them wait until the reset time, instead of each hammering the API into more 429s.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};

/// Shared through an `Arc` by all sessions of one API key.
#[derive(Debug, Default)]
pub struct RateGate {
    until: Mutex<Option<(Instant, DateTime<Utc>)>>,
}

impl RateGate {
    pub fn new() -> Self {
        Self::default()
    }

    /// Closes the gate for `delay` from now. A later reset already set is kept.
    pub(crate) fn pause_for(&self, delay: Duration) {
        let at = Instant::now() + delay;
        let wall = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        if let Ok(mut until) = self.until.lock()
            && until.is_none_or(|(current, _)| current < at)
        {
            *until = Some((at, wall));
        }
    }

    /// When the gate opens again (UTC), if it is closed now. For status reporting.
    pub fn paused_until(&self) -> Option<DateTime<Utc>> {
        let until = self.until.lock().ok()?;
        until
            .filter(|(at, _)| *at > Instant::now())
            .map(|(_, wall)| wall)
    }

    /// Waits until the gate is open. Loops, because another session may push the reset
    /// further out while we sleep.
    pub async fn wait(&self) {
        loop {
            let at = match self.until.lock() {
                Ok(until) => until.map(|(at, _)| at),
                Err(_) => None,
            };
            match at {
                Some(at) if at > Instant::now() => {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await
                }
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_open_gate_does_not_wait() {
        let gate = RateGate::new();
        let started = Instant::now();
        gate.wait().await;
        assert!(started.elapsed() < Duration::from_millis(50));
        assert!(gate.paused_until().is_none());
    }

    #[tokio::test]
    async fn a_pause_holds_every_waiter_and_keeps_the_later_reset() {
        let gate = std::sync::Arc::new(RateGate::new());
        gate.pause_for(Duration::from_millis(150));
        gate.pause_for(Duration::from_millis(10)); // earlier: must not shorten the pause
        assert!(gate.paused_until().is_some());
        let started = Instant::now();
        let a = tokio::spawn({
            let g = gate.clone();
            async move { g.wait().await }
        });
        gate.wait().await;
        a.await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(140));
    }
}
