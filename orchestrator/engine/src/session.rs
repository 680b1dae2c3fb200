//! What a running session reports: log lines (by kind) and token usage with cost.
//!
//! Both runtimes report through the same [`SessionSink`], so the scheduler stores and
//! broadcasts them in one place.

use serde::{Deserialize, Serialize};

/// Kind of a session log line: the domain's, so the engine and the store agree.
pub use harness_domain::session::LogKind;

/// Token counts of one model response, or a sum of several.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

impl Usage {
    /// Adds `other` to `self`; saturating, because a corrupt count must not panic.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cache_creation_input_tokens = self
            .cache_creation_input_tokens
            .saturating_add(other.cache_creation_input_tokens);
        self.cache_read_input_tokens = self
            .cache_read_input_tokens
            .saturating_add(other.cache_read_input_tokens);
    }

    /// All tokens billed, for token budgets.
    pub fn total(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache_creation_input_tokens)
            .saturating_add(self.cache_read_input_tokens)
    }
}

/// Where a session's log lines and usage go. Implementations must not block for long:
/// they are called from the session's task (store in a bounded queue, then return).
pub trait SessionSink: Send + Sync {
    /// Appends one log line to the session.
    fn log(&self, kind: LogKind, content: &str);
    /// Records the usage and cost (USD) of one model response.
    fn usage(&self, usage: &Usage, cost_usd: f64);
    /// A sign of life that is not stored: a line of output from a `run_command` still
    /// running, so a long command that prints is not taken for a stuck session.
    fn alive(&self) {}
}

/// A sink that keeps everything in memory, for tests and for callers that batch.
#[derive(Debug, Default)]
pub struct MemorySink {
    pub lines: std::sync::Mutex<Vec<(LogKind, String)>>,
    pub usage: std::sync::Mutex<(Usage, f64)>,
    /// Signs of life reported so far.
    pub alive: std::sync::atomic::AtomicU64,
}

impl SessionSink for MemorySink {
    fn log(&self, kind: LogKind, content: &str) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push((kind, content.to_owned()));
        }
    }

    fn usage(&self, usage: &Usage, cost_usd: f64) {
        if let Ok(mut total) = self.usage.lock() {
            total.0.add(usage);
            total.1 += cost_usd;
        }
    }

    fn alive(&self) {
        self.alive
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl MemorySink {
    /// A copy of the lines logged so far.
    pub fn snapshot(&self) -> Vec<(LogKind, String)> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// Cuts `text` to at most `max` bytes on a char boundary, saying how much was dropped.
pub(crate) fn truncate_with_note(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let kept = harness_base::text::head(text, max);
    format!(
        "{kept}\n[... truncated: {} more bytes]",
        text.len() - kept.len()
    )
}

pub use harness_base::text::tail;
