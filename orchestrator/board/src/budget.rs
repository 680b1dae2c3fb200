//! Budget: spend against the configured limits (the types are the domain's, so the
//! `budget.exceeded` event can carry the report).

pub use harness_domain::budget::{BudgetLimits, BudgetReport, PercentUsed};
