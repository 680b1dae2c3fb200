//! Parent Harness orchestrator: the `harness` binary's own code (command line, one-shot
//! commands, the server's startup and shutdown) and the wiring of the layer crates.
//!
//! See `docs/ARCHITECTURE.md` for the crates and the invariants each keeps. The layers
//! are re-exported under their old module names so that tests, examples and benchmarks
//! reach every layer through one crate.

pub mod cli;
pub mod commands;
pub mod server;

pub use harness_api as api;
pub use harness_base as base;
pub use harness_base::{http_client, telemetry};
pub use harness_board as board;
pub use harness_board::{budget, live};
pub use harness_config as config;
pub use harness_engine as engine;
pub use harness_executor as executor;
pub use harness_gateway as gateway;
pub use harness_gateway::guard;
pub use harness_scheduler as scheduler;
pub use harness_store as store;
pub use harness_telegram as telegram;
pub use harness_worker as worker;
