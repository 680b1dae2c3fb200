//! The tools an Anthropic-runtime agent may call: workspace tools that act on its
//! worktree, and harness tools that end or steer the session.
//!
//! [`schema`] describes the tools to the model, [`args`] parses what the model sends
//! back, [`workspace`] runs the file tools and [`command`] runs `run_command`. Harness
//! tools are parsed into a [`HarnessAction`] for the caller to act on.

pub mod args;
pub mod command;
pub mod schema;
pub mod workspace;

pub use args::{ArgsError, HarnessAction, parse_harness_action};
pub use schema::{harness_tool_definitions, workspace_tool_definitions};
pub use workspace::{ToolLimits, Workspace};

/// The result of one tool call, as sent back to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutcome {
    pub content: String,
    pub is_error: bool,
}

impl ToolOutcome {
    pub fn ok(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            is_error: false,
        }
    }

    pub fn error(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            is_error: true,
        }
    }
}

/// Names of the workspace tools.
pub const WORKSPACE_TOOLS: [&str; 6] = [
    "read_file",
    "write_file",
    "edit_file",
    "list_dir",
    "search",
    "run_command",
];
/// Names of the harness tools.
pub const HARNESS_TOOLS: [&str; 4] = ["complete_task", "fail_task", "ask_human", "create_task"];
