//! What both binaries (`harness` and `harness-gateway`) share, and nothing else: the
//! one way an outgoing HTTP client is built, logging, the listener and the shutdown
//! signal, the wrapper that keeps a secret out of logs, and cutting text to a byte budget. It depends on no other
//! crate of the workspace.

pub mod http_client;
pub mod listen;
mod secret;
pub mod telemetry;
pub mod text;

pub use secret::Secret;
