//! Parent Harness orchestrator: task board, HTTP API, live events.
//!
//! See `docs/ARCHITECTURE.md` for how the modules fit together.

pub mod api;
pub mod board;
pub mod budget;
pub mod cli;
pub mod commands;
pub mod config;
pub mod engine;
pub mod executor;
pub mod gateway;
pub mod guard;
pub mod http_client;
pub mod live;
pub mod scheduler;
pub mod server;
pub mod store;
pub mod telegram;
pub mod telemetry;
