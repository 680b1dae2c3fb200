//! `report_finding`: how an agent's finding leaves the engine. The scheduler implements
//! [`FindingReporter`] over the board (the engine knows nothing of the store).

use futures_util::future::BoxFuture;
use harness_domain::finding::NewFinding;

/// A finding with the screenshot it attaches, checked by the domain.
#[derive(Debug, Clone)]
pub struct ReportedFinding {
    pub finding: NewFinding,
    /// PNG bytes of a screenshot taken in this session.
    pub screenshot: Option<Vec<u8>>,
}

/// Stores findings on the session's task. Returns a reference the model can quote.
pub trait FindingReporter: Send + Sync {
    fn report(&self, finding: ReportedFinding) -> BoxFuture<'_, Result<String, ReportError>>;
}

/// Why a finding was not stored. Its text goes back to the model.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the task already has {0} findings, the most one task keeps")]
    TooMany(u32),
    #[error("the finding could not be stored: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}
