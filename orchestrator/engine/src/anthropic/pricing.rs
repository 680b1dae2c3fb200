//! Prices per model (USD per million tokens) and the cost of a response's usage.
//!
//! The table is plain data so the config can override or extend it. Unknown models are
//! priced at the fallback, which defaults to the most expensive known model: a budget
//! must never stop counting because a model name was new.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::session::Usage;

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    pub input: f64,
    pub output: f64,
    /// Writing the prompt cache (5-minute TTL).
    pub cache_write: f64,
    pub cache_read: f64,
}

impl ModelPrice {
    pub const fn new(input: f64, output: f64, cache_write: f64, cache_read: f64) -> Self {
        Self {
            input,
            output,
            cache_write,
            cache_read,
        }
    }

    /// The cost of `usage` at these prices.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let per_token = |tokens: u64, per_million: f64| tokens as f64 * per_million / 1_000_000.0;
        per_token(usage.input_tokens, self.input)
            + per_token(usage.output_tokens, self.output)
            + per_token(usage.cache_creation_input_tokens, self.cache_write)
            + per_token(usage.cache_read_input_tokens, self.cache_read)
    }
}

/// Model name (or name prefix) → price. The longest matching prefix wins, so
/// `claude-sonnet-4-5-20250929` is priced as `claude-sonnet-4-5`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    pub models: BTreeMap<String, ModelPrice>,
    pub fallback: ModelPrice,
}

const OPUS_4: ModelPrice = ModelPrice::new(15.0, 75.0, 18.75, 1.5);

impl Default for PriceTable {
    fn default() -> Self {
        let sonnet = ModelPrice::new(3.0, 15.0, 3.75, 0.3);
        let models = [
            ("claude-opus-4-5", ModelPrice::new(5.0, 25.0, 6.25, 0.5)),
            ("claude-opus-4-1", OPUS_4),
            ("claude-opus-4", OPUS_4),
            ("claude-sonnet-4-5", sonnet),
            ("claude-sonnet-4", sonnet),
            ("claude-3-7-sonnet", sonnet),
            ("claude-haiku-4-5", ModelPrice::new(1.0, 5.0, 1.25, 0.1)),
            ("claude-3-5-haiku", ModelPrice::new(0.8, 4.0, 1.0, 0.08)),
        ];
        Self {
            models: models
                .into_iter()
                .map(|(name, price)| (name.to_owned(), price))
                .collect(),
            fallback: OPUS_4,
        }
    }
}

impl PriceTable {
    /// The price for `model`, if the table knows it (exactly or by prefix).
    pub(crate) fn lookup(&self, model: &str) -> Option<&ModelPrice> {
        self.models
            .iter()
            .filter(|(name, _)| model.starts_with(name.as_str()))
            .max_by_key(|(name, _)| name.len())
            .map(|(_, price)| price)
    }

    /// The cost of `usage` on `model`, at the fallback price when the model is unknown.
    pub fn cost(&self, model: &str, usage: &Usage) -> f64 {
        self.lookup(model).unwrap_or(&self.fallback).cost(usage)
    }

    /// Whether `model` names a model this table prices: a name it lists, or one with
    /// a release date or `-latest` after it (`claude-sonnet-4-5-20250929`). A typo is
    /// not priced by prefix as if it were a model.
    pub fn knows(&self, model: &str) -> bool {
        self.models.keys().any(|name| {
            model.strip_prefix(name.as_str()).is_some_and(|rest| {
                rest.is_empty()
                    || rest == "-latest"
                    || rest
                        .strip_prefix('-')
                        .is_some_and(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
            })
        })
    }
}

/// The short names Claude Code takes for its current models (`--model sonnet`).
const CLI_ALIASES: [&str; 5] = ["sonnet", "opus", "haiku", "opusplan", "default"];

/// Refuses a model name the runtime would not know, with what to do instead: known
/// models are the price table's (and, for the `cli` runtime, Claude Code's aliases),
/// plus any the person lists in HARNESS_EXTRA_MODELS (a proxy's or a new model's name).
pub fn check_model(
    runtime: harness_domain::agent::RuntimeKind,
    model: &str,
    extra: &[String],
    table: &PriceTable,
) -> Result<(), String> {
    // An OpenAI-compatible endpoint serves whatever models it has (a local server's
    // `llama3.1:8b`); only it can say which, so any name is taken. An ACP agent picks
    // its own model: the name is only a label.
    if matches!(
        runtime,
        harness_domain::agent::RuntimeKind::OpenAi | harness_domain::agent::RuntimeKind::Acp
    ) {
        return Ok(());
    }
    let cli = runtime == harness_domain::agent::RuntimeKind::Cli;
    if table.knows(model)
        || (cli && CLI_ALIASES.contains(&model))
        || extra.iter().any(|m| m == model)
    {
        return Ok(());
    }
    let mut known: Vec<&str> = table.models.keys().map(String::as_str).collect();
    if cli {
        known.extend(CLI_ALIASES);
    }
    Err(format!(
        "unknown model '{model}' for the {} runtime; known: {} (a dated name such as claude-sonnet-4-5-20250929 too). To use another, add it to HARNESS_EXTRA_MODELS",
        runtime.as_str(),
        known.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_is_refused_and_a_dated_or_listed_model_is_not() {
        use harness_domain::agent::RuntimeKind::{Anthropic, Cli, OpenAi};
        assert!(check_model(Anthropic, "claude-sonnet-4-5", &[], &PriceTable::default()).is_ok());
        assert!(
            check_model(
                Anthropic,
                "claude-sonnet-4-5-20250929",
                &[],
                &PriceTable::default()
            )
            .is_ok()
        );
        let err =
            check_model(Anthropic, "claude-sonet-typo", &[], &PriceTable::default()).unwrap_err();
        assert!(err.contains("HARNESS_EXTRA_MODELS"), "{err}");
        assert!(check_model(Anthropic, "claude-sonnet-4-5x", &[], &PriceTable::default()).is_err());
        assert!(check_model(Anthropic, "sonnet", &[], &PriceTable::default()).is_err());
        assert!(check_model(Cli, "sonnet", &[], &PriceTable::default()).is_ok());
        assert!(
            check_model(
                Anthropic,
                "my-proxy-model",
                &["my-proxy-model".into()],
                &PriceTable::default()
            )
            .is_ok()
        );
        assert!(check_model(OpenAi, "llama3.1:8b", &[], &PriceTable::default()).is_ok());
    }

    fn usage(input: u64, output: u64, write: u64, read: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            cache_creation_input_tokens: write,
            cache_read_input_tokens: read,
        }
    }

    #[test]
    fn a_dated_model_name_is_priced_by_its_longest_prefix() {
        let table = PriceTable::default();
        let price = table.lookup("claude-opus-4-5-20251101").unwrap();
        assert_eq!(price.input, 5.0);
        assert_eq!(table.lookup("claude-opus-4-20250514").unwrap().input, 15.0);
    }

    #[test]
    fn cost_adds_all_four_token_kinds() {
        let table = PriceTable::default();
        let cost = table.cost(
            "claude-sonnet-4-5",
            &usage(1_000_000, 1_000_000, 1_000_000, 1_000_000),
        );
        assert!((cost - (3.0 + 15.0 + 3.75 + 0.3)).abs() < 1e-9);
    }

    #[test]
    fn an_unknown_model_is_priced_at_the_fallback_not_free() {
        let table = PriceTable::default();
        assert!(table.lookup("some-new-model").is_none());
        assert!(table.cost("some-new-model", &usage(1_000_000, 0, 0, 0)) >= 15.0);
    }
}
