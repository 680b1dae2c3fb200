//! The cap on one session's stored log: lines and bytes. Past it, one marker line says
//! where output was cut and why; the session keeps running, its later output is counted
//! but not stored, and the count is written when the session ends. Logs of sessions
//! that ended longer ago than `HARNESS_SESSION_LOG_RETENTION_DAYS` are deleted.

use std::sync::Mutex;

use harness_domain::time::Timestamp;

use harness_board::Board;
use harness_config::{EngineSettings, ReliabilitySettings};

/// What to do with one log line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    Keep,
    /// The cap is reached: store this marker instead of the line.
    Cut(String),
    Drop,
}

#[derive(Debug)]
pub(crate) struct LogCap {
    max_lines: u64,
    max_bytes: u64,
    state: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    lines: u64,
    bytes: u64,
    cut: bool,
    dropped_lines: u64,
    dropped_bytes: u64,
}

impl LogCap {
    pub fn new(settings: &ReliabilitySettings) -> Self {
        Self {
            max_lines: settings.session_log_max_lines,
            max_bytes: settings.session_log_max_bytes,
            state: Mutex::new(Counts::default()),
        }
    }

    /// Decides for a line of `len` bytes. One line is kept back for the marker.
    pub(crate) fn admit(&self, len: usize) -> Admit {
        let Ok(mut c) = self.state.lock() else {
            return Admit::Drop;
        };
        let len = len as u64;
        if !c.cut && c.lines + 1 < self.max_lines && c.bytes + len <= self.max_bytes {
            c.lines += 1;
            c.bytes += len;
            return Admit::Keep;
        }
        c.dropped_lines += 1;
        c.dropped_bytes += len;
        if c.cut {
            return Admit::Drop;
        }
        c.cut = true;
        Admit::Cut(format!(
            "[log cut here: this session's log reached its cap ({} lines or {} bytes; \
             HARNESS_SESSION_LOG_MAX_LINES / HARNESS_SESSION_LOG_MAX_BYTES). \
             The session keeps running; its later output is not stored]",
            self.max_lines, self.max_bytes
        ))
    }

    /// At the end of a cut session: how much was not stored.
    pub fn summary(&self) -> Option<String> {
        let c = self.state.lock().ok()?;
        c.cut.then(|| {
            format!(
                "[log cut: {} lines ({} bytes) of output were not stored]",
                c.dropped_lines, c.dropped_bytes
            )
        })
    }
}

/// Deletes the logs of sessions that ended longer ago than the log retention.
pub(crate) async fn prune_logs(board: &Board, settings: &EngineSettings) {
    let Ok(age) = chrono::TimeDelta::from_std(settings.reliability.session_log_retention) else {
        return;
    };
    let before = Timestamp::now().plus(-age);
    match board.prune_session_logs(before).await {
        Ok(0) => {}
        Ok(lines) => tracing::info!(lines, "pruned old session logs"),
        Err(err) => tracing::warn!(%err, "cannot prune session logs"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capped(lines: u64, bytes: u64) -> LogCap {
        LogCap::new(&ReliabilitySettings {
            session_log_max_lines: lines,
            session_log_max_bytes: bytes,
            ..ReliabilitySettings::default()
        })
    }

    #[test]
    fn past_the_line_cap_one_marker_is_kept_and_the_rest_counted() {
        let cap = capped(3, 1000);
        assert_eq!(cap.admit(1), Admit::Keep);
        assert_eq!(cap.admit(1), Admit::Keep);
        assert!(matches!(cap.admit(1), Admit::Cut(_)));
        assert_eq!(cap.admit(1), Admit::Drop);
        assert!(cap.summary().unwrap().contains("2 lines"));
    }

    #[test]
    fn a_line_past_the_byte_cap_is_cut() {
        let cap = capped(100, 10);
        assert_eq!(cap.admit(10), Admit::Keep);
        assert!(matches!(cap.admit(1), Admit::Cut(_)));
        assert!(capped(100, 10).summary().is_none());
    }
}
