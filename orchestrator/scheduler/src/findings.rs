//! The `browser` group for an attempt: whether the agent gets it, and its findings
//! going onto the board (`report_finding`).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use harness_domain::{
    agent::Agent,
    session::SessionId,
    task::{Task, TaskId},
};

use harness_board::Board;
use harness_config::EngineSettings;
use harness_engine::{
    browser::OriginPolicy,
    runtime::BrowserGrant,
    tools::{
        findings::{FindingReporter, ReportError, ReportedFinding},
        groups::browser_enabled,
    },
};
use harness_store::StoreError;

/// Reports findings on one task, from one session, through the board.
pub(crate) struct BoardFindingReporter {
    pub board: Board,
    pub task: TaskId,
    pub session: SessionId,
}

impl FindingReporter for BoardFindingReporter {
    fn report(&self, reported: ReportedFinding) -> BoxFuture<'_, Result<String, ReportError>> {
        Box::pin(async move {
            let finding = self
                .board
                .report_finding(
                    self.task,
                    Some(self.session),
                    reported.finding,
                    reported.screenshot,
                )
                .await
                .map_err(|e| match e {
                    StoreError::Conflict(_) => {
                        ReportError::TooMany(harness_store::MAX_FINDINGS_PER_TASK)
                    }
                    other => ReportError::Store(Box::new(other)),
                })?;
            Ok(format!("#{}", finding.id))
        })
    }
}

/// Whether `agent`'s role or its own settings give it the `browser` group.
pub fn uses_browser(settings: &EngineSettings, agent: &Agent) -> bool {
    let by_role = settings
        .roles
        .registry
        .get(agent.role.as_str())
        .is_some_and(|role| role.uses_browser());
    let tools = settings
        .agents
        .get(agent.id.as_str())
        .and_then(|o| o.tools.as_deref())
        .unwrap_or_default();
    browser_enabled(by_role, tools)
}

/// The browser for `agent`'s session on `task`, when its role or settings give it one.
/// It may open loopback and the origins of the role, the agent and the task.
pub(crate) fn browser_grant(
    settings: &EngineSettings,
    board: &Board,
    agent: &Agent,
    task: &Task,
    session: SessionId,
) -> Option<BrowserGrant> {
    if !uses_browser(settings, agent) {
        return None;
    }
    let overrides = settings.agents.get(agent.id.as_str());
    // Checked at startup (config/engine.rs, config/roles.rs) and on the API (a task's),
    // so a failure here cannot happen; loopback only is the safe reading if it did.
    let mut origins = settings
        .roles
        .registry
        .get(agent.role.as_str())
        .map(|role| role.browser_origins.clone())
        .unwrap_or_default();
    origins.extend(
        overrides
            .and_then(|o| o.browser_origins.clone())
            .unwrap_or_default(),
    );
    origins.extend(task.browser_origins.iter().cloned());
    let policy = OriginPolicy::with_origins(&origins).unwrap_or_default();
    Some(BrowserGrant {
        // Readiness (scheduler/runtimes.rs) keeps an agent without Chromium from starting.
        chromium: settings.roles.find_chromium().ok()?,
        profiles_dir: settings.worktrees_dir.join(".browsers"),
        policy,
        findings: Some(Arc::new(BoardFindingReporter {
            board: board.clone(),
            task: task.id,
            session,
        })),
    })
}
