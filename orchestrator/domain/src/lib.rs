//! Parent Harness domain: the task board's types and rules, with no IO.
//!
//! Every type that holds user input is valid by construction: build it with `parse`
//! (or `TryFrom`) and read it with `as_str`/`get`. The store and the API both speak
//! these types, so a value that reached the database has passed the same checks.

pub mod agent;
pub mod budget;
pub mod event;
pub mod finding;
pub mod graph;
pub mod origin;
pub mod proposal;
pub mod review;
pub mod role;
pub mod session;
pub mod task;
pub mod time;
mod validation;

pub use validation::ValidationError;
