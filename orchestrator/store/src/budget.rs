//! Spend: what sessions cost, summed by day, month, agent and model.

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use harness_domain::time::Timestamp;
use rusqlite::params;

use super::{Store, StoreError};

pub use harness_domain::budget::{BudgetTotals, Spend, SpendBy};

impl Store {
    /// Totals as of `now`: today and this month in UTC, this month by agent and model,
    /// and each of the last 30 days.
    pub fn budget_totals(&self, now: Timestamp) -> Result<BudgetTotals, StoreError> {
        let conn = self.read()?;
        let today = now.datetime().date_naive();
        let month_start = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
        let since = |d: NaiveDate| day_start(d).to_rfc3339();
        let sum = |from: String| -> Result<Spend, StoreError> {
            Ok(conn.query_row(
                "SELECT COALESCE(SUM(cost_usd), 0), COALESCE(SUM(input_tokens), 0),
                        COALESCE(SUM(output_tokens), 0)
                 FROM sessions WHERE started_at >= ?1",
                [from],
                |r| {
                    Ok(Spend {
                        cost_usd: r.get(0)?,
                        input_tokens: r.get(1)?,
                        output_tokens: r.get(2)?,
                    })
                },
            )?)
        };
        let grouped = |expr: &str, from: String| -> Result<Vec<SpendBy>, StoreError> {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {expr} AS k, SUM(cost_usd), SUM(input_tokens), SUM(output_tokens)
                 FROM sessions WHERE started_at >= ?1 GROUP BY k ORDER BY k"
            ))?;
            let rows = stmt.query_map(params![from], |r| {
                Ok(SpendBy {
                    key: r.get(0)?,
                    spend: Spend {
                        cost_usd: r.get(1)?,
                        input_tokens: r.get(2)?,
                        output_tokens: r.get(3)?,
                    },
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        let thirty_days_ago = today - chrono::Days::new(29);
        Ok(BudgetTotals {
            today: sum(since(today))?,
            month: sum(since(month_start))?,
            per_agent: grouped("agent_id", since(month_start))?,
            per_model: grouped("model", since(month_start))?,
            daily: grouped("substr(started_at, 1, 10)", since(thirty_days_ago))?,
        })
    }
}

fn day_start(d: NaiveDate) -> Timestamp {
    Timestamp::from_datetime(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default()))
}
