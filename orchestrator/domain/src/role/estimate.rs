//! A task's estimated size, as the evaluator states it.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How large a task is; sets its session timeout and model tier.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    Small,
    Medium,
    Large,
}

/// The evaluator's summary did not start with a size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the estimate must start with small, medium or large")]
pub struct SizeParseError;

impl Size {
    pub const ALL: [Size; 3] = [Self::Small, Self::Medium, Self::Large];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Small => "small",
            Self::Medium => "medium",
            Self::Large => "large",
        }
    }

    /// The size named by the first word of `summary` ("large: touches five modules").
    pub fn from_summary(summary: &str) -> Result<Self, SizeParseError> {
        let first = summary
            .split(|c: char| !c.is_ascii_alphabetic())
            .find(|w| !w.is_empty())
            .unwrap_or_default()
            .to_ascii_lowercase();
        first.parse()
    }
}

impl FromStr for Size {
    type Err = SizeParseError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw.trim())
            .ok_or(SizeParseError)
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_is_the_first_word_of_the_summary() {
        assert_eq!(Size::from_summary("Large: five modules"), Ok(Size::Large));
        assert_eq!(Size::from_summary("  small\nonly a typo"), Ok(Size::Small));
        assert!(Size::from_summary("huge").is_err());
        assert!(Size::from_summary("").is_err());
    }
}

/// The evaluator's estimate of a task, as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskEstimate {
    pub size: Size,
    /// The evaluator's reason, one line.
    pub reason: String,
    pub agent_id: Option<String>,
    pub created_at: crate::time::Timestamp,
}
