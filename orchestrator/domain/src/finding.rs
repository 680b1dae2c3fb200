//! Findings: what a human-sim agent saw fail while using the product as a person
//! would, reported on the task it tested, with an optional screenshot.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ValidationError, time::Timestamp, validation::bounded_text};

/// A finding as reported, checked: title 1–200 characters, detail up to 20,000, persona
/// up to 200 (who was simulated, e.g. "first-time user on a phone").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFinding {
    title: String,
    detail: String,
    persona: String,
}

impl NewFinding {
    pub const MAX_TITLE_CHARS: usize = 200;
    pub const MAX_DETAIL_CHARS: usize = 20_000;
    pub const MAX_PERSONA_CHARS: usize = 200;

    pub fn parse(title: &str, detail: &str, persona: &str) -> Result<Self, ValidationError> {
        Ok(Self {
            title: bounded_text("title", title, 1, Self::MAX_TITLE_CHARS)?,
            detail: bounded_text("detail", detail, 0, Self::MAX_DETAIL_CHARS)?,
            persona: bounded_text("persona", persona, 0, Self::MAX_PERSONA_CHARS)?,
        })
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    pub fn persona(&self) -> &str {
        &self.persona
    }
}

/// A finding as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Finding {
    pub id: i64,
    pub task_id: crate::task::TaskId,
    /// The session that reported it; `null` once that session is gone.
    pub session_id: Option<crate::session::SessionId>,
    pub title: String,
    pub detail: String,
    pub persona: String,
    /// Whether `GET /api/findings/{id}/screenshot` serves a PNG.
    pub has_screenshot: bool,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_needs_a_title_and_bounds_every_field() {
        assert!(NewFinding::parse("Save does nothing", "", "").is_ok());
        let err = NewFinding::parse("  ", "detail", "p").unwrap_err();
        assert_eq!(err.field, "title");
        let err = NewFinding::parse("t", "", &"p".repeat(201)).unwrap_err();
        assert_eq!(err.field, "persona");
        let err = NewFinding::parse("t", &"d".repeat(20_001), "").unwrap_err();
        assert_eq!(err.field, "detail");
    }
}
