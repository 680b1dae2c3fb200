//! Spend against the configured limits. The scheduler's gate, the API's report and the
//! `budget.exceeded` event all come from [`BudgetReport`], so they can never disagree.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Cost and tokens over some period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Spend {
    pub cost_usd: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Spend {
    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// Spend of one agent, one model or one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SpendBy {
    /// Agent id, model name, or date (`2026-11-27`).
    pub key: String,
    #[serde(flatten)]
    pub spend: Spend,
}

/// Every total the budget view needs, computed in one read.
#[derive(Debug, Clone, Default)]
pub struct BudgetTotals {
    pub today: Spend,
    pub month: Spend,
    pub per_agent: Vec<SpendBy>,
    pub per_model: Vec<SpendBy>,
    pub daily: Vec<SpendBy>,
}

/// Limits from the config. `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BudgetLimits {
    pub daily_usd: Option<f64>,
    pub monthly_usd: Option<f64>,
    pub daily_tokens: Option<u64>,
    pub monthly_tokens: Option<u64>,
}

/// Percentage of each limit used; `None` where there is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PercentUsed {
    pub daily_usd: Option<f64>,
    pub monthly_usd: Option<f64>,
    pub daily_tokens: Option<f64>,
    pub monthly_tokens: Option<f64>,
}

/// `GET /api/budget`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BudgetReport {
    pub today: Spend,
    pub month: Spend,
    pub limits: BudgetLimits,
    pub percent_used: PercentUsed,
    /// A limit is reached: no new session starts until the period rolls over.
    pub exceeded: bool,
    /// This month, by agent.
    pub per_agent: Vec<SpendBy>,
    /// This month, by model.
    pub per_model: Vec<SpendBy>,
    /// Each of the last 30 days that had spend.
    pub daily: Vec<SpendBy>,
}

fn percent(used: f64, limit: Option<f64>) -> Option<f64> {
    limit.map(|l| {
        if l <= 0.0 {
            100.0
        } else {
            (used / l * 1000.0).round() / 10.0
        }
    })
}

impl BudgetReport {
    pub fn new(totals: BudgetTotals, limits: BudgetLimits) -> Self {
        let percent_used = PercentUsed {
            daily_usd: percent(totals.today.cost_usd, limits.daily_usd),
            monthly_usd: percent(totals.month.cost_usd, limits.monthly_usd),
            daily_tokens: percent(
                totals.today.tokens() as f64,
                limits.daily_tokens.map(|t| t as f64),
            ),
            monthly_tokens: percent(
                totals.month.tokens() as f64,
                limits.monthly_tokens.map(|t| t as f64),
            ),
        };
        let exceeded = [
            percent_used.daily_usd,
            percent_used.monthly_usd,
            percent_used.daily_tokens,
            percent_used.monthly_tokens,
        ]
        .into_iter()
        .flatten()
        .any(|p| p >= 100.0);
        Self {
            today: totals.today,
            month: totals.month,
            limits,
            percent_used,
            exceeded,
            per_agent: totals.per_agent,
            per_model: totals.per_model,
            daily: totals.daily,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(today_usd: f64, month_tokens: u64) -> BudgetTotals {
        BudgetTotals {
            today: Spend {
                cost_usd: today_usd,
                ..Spend::default()
            },
            month: Spend {
                cost_usd: today_usd,
                input_tokens: month_tokens,
                output_tokens: 0,
            },
            ..BudgetTotals::default()
        }
    }

    #[test]
    fn no_limits_are_never_exceeded() {
        let r = BudgetReport::new(totals(1e6, u64::MAX / 4), BudgetLimits::default());
        assert!(!r.exceeded);
        assert_eq!(r.percent_used.daily_usd, None);
    }

    #[test]
    fn reaching_the_daily_dollar_limit_exceeds_the_budget() {
        let limits = BudgetLimits {
            daily_usd: Some(10.0),
            ..BudgetLimits::default()
        };
        assert!(!BudgetReport::new(totals(9.99, 0), limits).exceeded);
        let r = BudgetReport::new(totals(10.0, 0), limits);
        assert!(r.exceeded);
        assert_eq!(r.percent_used.daily_usd, Some(100.0));
    }

    #[test]
    fn the_monthly_token_limit_counts_input_and_output() {
        let limits = BudgetLimits {
            monthly_tokens: Some(1000),
            ..BudgetLimits::default()
        };
        assert_eq!(
            BudgetReport::new(totals(0.0, 500), limits)
                .percent_used
                .monthly_tokens,
            Some(50.0)
        );
    }
}
