//! The tools an Anthropic-runtime agent may call: workspace tools that act on its
//! worktree, and harness tools that end or steer the session.
//!
//! [`schema`] describes the tools to the model, [`args`] parses what the model sends
//! back, [`workspace`] runs the file tools and [`command`] runs `run_command`. Harness
//! tools are parsed into a [`HarnessAction`] for the caller to act on. Optional groups
//! ([`groups`]): the [`browser`] tools and `report_finding` ([`findings`]).

pub mod args;
pub mod browser;
pub mod command;
pub mod findings;
pub mod groups;
pub mod schema;
pub mod services;
pub mod workspace;

pub use args::{ArgsError, CreateTask, HarnessAction, parse_harness_action};
pub use schema::{harness_tool_definitions, workspace_tool_definitions};
pub use workspace::{ToolLimits, Workspace};

use std::collections::BTreeSet;

use harness_domain::role::Tool;

/// The result of one tool call, as sent back to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutcome {
    pub content: String,
    pub is_error: bool,
    /// A PNG shown to the model with the text (a browser screenshot).
    pub png: Option<Vec<u8>>,
}

impl ToolOutcome {
    pub fn ok(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            is_error: false,
            png: None,
        }
    }

    pub fn error(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            is_error: true,
            png: None,
        }
    }

    /// Text with an image for the model to see.
    pub(crate) fn with_png(content: impl Into<String>, png: Vec<u8>) -> Self {
        Self {
            png: Some(png),
            ..Self::ok(content)
        }
    }
}

/// Names of the workspace tools.
pub(crate) const WORKSPACE_TOOLS: [&str; 6] = [
    "read_file",
    "write_file",
    "edit_file",
    "list_dir",
    "search",
    "run_command",
];
/// The workspace tools that only read: what a read-only agent (the investigator) gets.
#[cfg(test)]
pub(crate) const READ_ONLY_TOOLS: [&str; 3] = ["read_file", "list_dir", "search"];

/// The tools a session may use, from its role ([`Tool`]). The tool group `browser`
/// allows every `browser_*` tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSet(BTreeSet<Tool>);

impl Default for ToolSet {
    fn default() -> Self {
        Self::full()
    }
}

impl ToolSet {
    /// Every workspace tool: agents that change the worktree.
    pub fn full() -> Self {
        Self::of(Tool::WORKSPACE)
    }

    /// Reading only (`read_file`, `list_dir`, `search`): no writes, edits or commands.
    pub fn read_only() -> Self {
        Self::of(Tool::READ_ONLY)
    }

    pub fn of(tools: impl IntoIterator<Item = Tool>) -> Self {
        Self(tools.into_iter().collect())
    }

    /// Whether tool `name` is in this set.
    pub fn allows(&self, name: &str) -> bool {
        if name.starts_with("browser_") {
            return self.0.contains(&Tool::Browser);
        }
        self.0.iter().any(|t| t.as_str() == name)
    }

    /// Whether `create_task` is among them (planning, SIA).
    pub fn creates_tasks(&self) -> bool {
        self.0.contains(&Tool::CreateTask)
    }

    /// The names, for a message to the model.
    pub fn names(&self) -> String {
        self.0
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The Anthropic `tools` array of the workspace tools in this set.
    pub(crate) fn definitions(&self) -> Vec<serde_json::Value> {
        workspace_tool_definitions()
            .into_iter()
            .filter(|t| t["name"].as_str().is_some_and(|n| self.allows(n)))
            .collect()
    }
}

/// Names of the `browser` group's tools, `report_finding` last.
#[cfg(test)]
pub(crate) const BROWSER_TOOLS: [&str; 7] = [
    "browser_open",
    "browser_click",
    "browser_type",
    "browser_read",
    "browser_screenshot",
    "browser_console",
    "report_finding",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_only_set_describes_and_allows_only_reading_tools() {
        let names: Vec<String> = ToolSet::read_only()
            .definitions()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, READ_ONLY_TOOLS);
        for writer in ["write_file", "edit_file", "run_command"] {
            assert!(!ToolSet::read_only().allows(writer), "{writer}");
            assert!(ToolSet::full().allows(writer), "{writer}");
        }
        assert_eq!(ToolSet::full().definitions().len(), WORKSPACE_TOOLS.len());
        assert!(!ToolSet::full().allows("browser_open"));
        assert!(ToolSet::of([Tool::Browser]).allows("browser_open"));
    }
}
