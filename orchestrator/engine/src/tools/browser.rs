//! The `browser` tool group's calls: each parsed, run on the session's browser, and
//! turned into a [`ToolOutcome`] (a screenshot comes back as an image for the model).

use std::sync::Arc;

use harness_domain::finding::NewFinding;
use serde_json::Value;

use super::{
    ToolOutcome,
    args::{self, BrowserClick, BrowserOpen, BrowserType, ReportFinding},
    findings::{FindingReporter, ReportedFinding},
};
use crate::browser::SessionBrowser;

/// One session's browser and where its findings go.
pub(crate) struct BrowserTools {
    pub browser: SessionBrowser,
    /// `None`: `report_finding` answers that findings cannot be stored here.
    pub findings: Option<Arc<dyn FindingReporter>>,
}

impl BrowserTools {
    /// Runs tool `name`, or `None` when it is not one of this group's.
    pub(crate) async fn dispatch(&self, name: &str, input: &Value) -> Option<ToolOutcome> {
        let outcome = match name {
            "browser_open" => match args::parse::<BrowserOpen>(name, input) {
                Ok(a) => result(self.browser.open(&a.url).await),
                Err(e) => ToolOutcome::error(e.to_string()),
            },
            "browser_click" => match args::parse::<BrowserClick>(name, input) {
                Ok(a) => result(self.browser.click(&a.selector).await),
                Err(e) => ToolOutcome::error(e.to_string()),
            },
            "browser_type" => match args::parse::<BrowserType>(name, input) {
                Ok(a) => result(self.browser.type_text(&a.selector, &a.text).await),
                Err(e) => ToolOutcome::error(e.to_string()),
            },
            "browser_read" => match self.browser.read().await {
                Ok(page) => ToolOutcome::ok(format!(
                    "URL: {}\nTitle: {}\n--- text ---\n{}\n--- accessibility tree ---\n{}",
                    page.url, page.title, page.text, page.tree
                )),
                Err(e) => ToolOutcome::error(e.to_string()),
            },
            "browser_screenshot" => match self.browser.screenshot().await {
                Ok(shot) => ToolOutcome::with_png(
                    format!(
                        "screenshot {} ({} bytes); attach it to report_finding with screenshot: \"{}\"",
                        shot.id,
                        shot.png.len(),
                        shot.id
                    ),
                    shot.png,
                ),
                Err(e) => ToolOutcome::error(e.to_string()),
            },
            "browser_console" => result(self.browser.console().await),
            "report_finding" => match args::parse::<ReportFinding>(name, input) {
                Ok(a) => self.report(a).await,
                Err(e) => ToolOutcome::error(e.to_string()),
            },
            _ => return None,
        };
        Some(outcome)
    }

    async fn report(&self, input: ReportFinding) -> ToolOutcome {
        let finding = match NewFinding::parse(&input.title, &input.detail, &input.persona) {
            Ok(f) => f,
            Err(e) => return ToolOutcome::error(format!("report_finding: {e}")),
        };
        let screenshot = match input.screenshot.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(id) => match self.browser.kept_screenshot(id) {
                Some(shot) => Some(shot.png),
                None => {
                    return ToolOutcome::error(format!(
                        "report_finding: no screenshot `{id}` in this session (take one with browser_screenshot; only the latest are kept)"
                    ));
                }
            },
        };
        let Some(reporter) = &self.findings else {
            return ToolOutcome::error(
                "report_finding: findings cannot be stored for this session",
            );
        };
        match reporter
            .report(ReportedFinding {
                finding,
                screenshot,
            })
            .await
        {
            Ok(reference) => ToolOutcome::ok(format!("finding {reference} reported on the task")),
            Err(e) => ToolOutcome::error(e.to_string()),
        }
    }
}

fn result<E: std::fmt::Display>(outcome: Result<String, E>) -> ToolOutcome {
    match outcome {
        Ok(text) => ToolOutcome::ok(text),
        Err(e) => ToolOutcome::error(e.to_string()),
    }
}
