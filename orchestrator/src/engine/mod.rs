//! The agent engine's building blocks: confinement, workspace tools, child processes,
//! the Anthropic runtime, the CLI runtime, git worktrees and verification.
//!
//! Each module does one job and knows nothing about the store; the scheduler wires them.

pub mod anthropic;
pub mod cli_runtime;
pub mod confine;
pub mod git;
pub mod process;
pub mod prompt;
pub mod runtime;
pub mod session;
pub mod tools;
pub mod verify;

pub use session::{LogKind, SessionSink, Usage};
