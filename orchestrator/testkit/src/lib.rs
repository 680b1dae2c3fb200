//! Test support for the `harness` tests and examples, compiled once instead of into
//! every test binary: stand-ins for the services the harness talks to (each a real HTTP
//! server speaking the real wire format), temporary git repositories, process checks,
//! and [`app::TestApp`], the HTTP client of a server under test.
//!
//! It does not depend on the `harness` crate: a test binary starts its server itself
//! and hands it to [`app::TestApp::start`].

pub mod app;
pub mod fake_anthropic;
pub mod fake_kube;
pub mod fake_telegram;
pub mod git_repo;
pub mod procs;
