//! The `anthropic` runtime: a streaming Messages API client, a shared rate-limit gate,
//! a price table, and the agent loop that drives tools until the task ends.

pub mod agent_loop;
pub mod assembler;
pub mod client;
pub mod events;
pub mod pricing;
pub mod rate_gate;
pub mod types;

pub use agent_loop::{AgentLoop, LoopConfig, LoopOutcome, PausedConversation, ToolExecutor};
pub use client::{AnthropicError, Client, ClientConfig};
pub use pricing::{ModelPrice, PriceTable};
pub use rate_gate::RateGate;
pub use types::{AssembledMessage, ContentBlock, Message, Role, ToolResultContent};
