//! Spend of a CLI agent as it streams: Claude Code's `assistant` lines carry each model
//! message's `message.usage`, priced here as they arrive, so a session killed before its
//! final `result` line (timeout, cancel, watchdog) still has its spend recorded.
//!
//! One message can arrive as several `assistant` lines (one per content block) with the
//! same id and usage; it is counted once. The final `result` line's totals are
//! authoritative: only what they add beyond the streamed sum is recorded at the end.

use std::collections::HashSet;

use serde_json::Value;

use super::{anthropic::PriceTable, session::Usage};

/// Message ids remembered for deduplication; older ones are forgotten past this.
const MAX_IDS: usize = 4096;

/// Usage and cost recorded so far for one CLI session.
#[derive(Debug, Default)]
pub(crate) struct StreamedUsage {
    prices: PriceTable,
    seen: HashSet<String>,
    usage: Usage,
    cost_usd: f64,
}

impl StreamedUsage {
    /// The usage of a new model message in `line`, with its estimated cost.
    pub(crate) fn observe(&mut self, line: &str) -> Option<(Usage, f64)> {
        let value: Value = serde_json::from_str(line.trim()).ok()?;
        if value["type"] != "assistant" {
            return None;
        }
        let message = &value["message"];
        let raw = message.get("usage")?;
        if let Some(id) = message["id"].as_str() {
            if self.seen.contains(id) {
                return None;
            }
            if self.seen.len() >= MAX_IDS {
                self.seen.clear();
            }
            self.seen.insert(id.to_owned());
        }
        let count = |key: &str| raw[key].as_u64().unwrap_or(0);
        let usage = Usage {
            input_tokens: count("input_tokens"),
            output_tokens: count("output_tokens"),
            cache_creation_input_tokens: count("cache_creation_input_tokens"),
            cache_read_input_tokens: count("cache_read_input_tokens"),
        };
        let cost = self
            .prices
            .cost(message["model"].as_str().unwrap_or_default(), &usage);
        self.usage.add(&usage);
        self.cost_usd += cost;
        Some((usage, cost))
    }

    /// What the final totals add beyond what was streamed (never negative).
    pub(crate) fn remainder(&self, total: &Usage, total_cost_usd: Option<f64>) -> (Usage, f64) {
        let usage = Usage {
            input_tokens: total.input_tokens.saturating_sub(self.usage.input_tokens),
            output_tokens: total.output_tokens.saturating_sub(self.usage.output_tokens),
            cache_creation_input_tokens: total
                .cache_creation_input_tokens
                .saturating_sub(self.usage.cache_creation_input_tokens),
            cache_read_input_tokens: total
                .cache_read_input_tokens
                .saturating_sub(self.usage.cache_read_input_tokens),
        };
        let cost = total_cost_usd.map_or(0.0, |c| (c - self.cost_usd).max(0.0));
        (usage, cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = r#"{"type":"assistant","message":{"id":"msg_1","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":100,"output_tokens":20}}}"#;

    #[test]
    fn a_message_is_counted_once_however_many_lines_it_spans() {
        let mut s = StreamedUsage::default();
        let (usage, cost) = s.observe(MSG).unwrap();
        assert_eq!(usage.input_tokens, 100);
        assert!(cost > 0.0);
        assert!(s.observe(MSG).is_none());
    }

    #[test]
    fn the_final_totals_add_only_what_was_not_streamed() {
        let mut s = StreamedUsage::default();
        let (_, cost) = s.observe(MSG).unwrap();
        let total = Usage {
            input_tokens: 150,
            output_tokens: 20,
            ..Usage::default()
        };
        let (rest, rest_cost) = s.remainder(&total, Some(cost + 0.5));
        assert_eq!((rest.input_tokens, rest.output_tokens), (50, 0));
        assert!((rest_cost - 0.5).abs() < 1e-9);
        let (_, none) = s.remainder(&total, Some(0.0));
        assert_eq!(none, 0.0);
    }
}
