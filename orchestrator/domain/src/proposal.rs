//! Tasks SIA proposes: they wait as `proposed` until a person accepts (a task is
//! created) or rejects them.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ValidationError, time::Timestamp};

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    Proposed,
    Accepted,
    Rejected,
}

impl ProposalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }
}

impl FromStr for ProposalStatus {
    type Err = ValidationError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        [Self::Proposed, Self::Accepted, Self::Rejected]
            .into_iter()
            .find(|s| s.as_str() == raw.trim())
            .ok_or_else(|| ValidationError::new("status", format!("unknown status '{raw}'")))
    }
}

/// A proposed task as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Proposal {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub priority: String,
    pub category: String,
    /// What made SIA look: `schedule`, `blocked`, or `arbitration of T-3`.
    pub source: String,
    pub status: ProposalStatus,
    /// The task created when it was accepted.
    pub task_id: Option<crate::task::TaskId>,
    pub created_at: Timestamp,
    pub decided_at: Option<Timestamp>,
}
