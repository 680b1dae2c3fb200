//! The own agent loop and its model API client: the Anthropic Messages API (streamed),
//! or any OpenAI-compatible Chat Completions endpoint (`openai_chat.rs`), a shared
//! rate-limit gate, a price table, and the loop that drives tools until the task ends.

pub mod agent_loop;
pub mod assembler;
pub mod client;
pub mod events;
mod openai_chat;
pub mod pricing;
pub mod rate_gate;
pub mod types;

pub use agent_loop::{AgentLoop, LoopConfig, LoopOutcome, PausedConversation, ToolExecutor};
pub use client::{AnthropicError, Client, ClientConfig, Wire};
pub use pricing::{ModelPrice, PriceTable};
pub use rate_gate::RateGate;
pub use types::{AssembledMessage, ContentBlock, Message, Role, ToolResultContent};
