//! Findings: reported by an agent on the task it tested (one transaction with the
//! `finding.reported` event, announced after the commit), read by people.

use harness_domain::{
    event::{NewEvent, Operation, Severity},
    finding::{Finding, NewFinding},
    session::SessionId,
    task::TaskId,
};

use super::Board;
use harness_store::StoreError;

impl Board {
    /// Stores `finding` (and its screenshot) on task `task_id`, reported by session
    /// `session_id`; then publishes its event.
    pub async fn report_finding(
        &self,
        task_id: TaskId,
        session_id: Option<SessionId>,
        finding: NewFinding,
        screenshot: Option<Vec<u8>>,
    ) -> Result<Finding, StoreError> {
        let (finding, event) = self
            .blocking(move |s| {
                s.create_finding(task_id, session_id, &finding, screenshot.as_deref(), |f| {
                    let mut event = NewEvent::info(
                        Operation::FindingReported,
                        format!("finding on task {}: {}", f.task_id, f.title),
                    )
                    .with_severity(Severity::Warning)
                    .for_task(f.task_id);
                    if let Some(session) = f.session_id {
                        event = event.for_session(session);
                    }
                    event
                })
            })
            .await?;
        self.published_event(event);
        Ok(finding)
    }

    pub async fn list_findings(&self, task_id: TaskId) -> Result<Vec<Finding>, StoreError> {
        self.blocking(move |s| s.list_findings(task_id)).await
    }

    pub async fn finding_screenshot(&self, id: i64) -> Result<Vec<u8>, StoreError> {
        self.blocking(move |s| s.finding_screenshot(id)).await
    }
}
