//! Test support for the `harness` tests and examples, compiled once instead of into
//! every test binary: stand-ins for the services the harness talks to (each a real HTTP
//! server speaking the real wire format), temporary git repositories, process checks,
//! and [`app::TestApp`], the HTTP client of a server under test, started by
//! [`server`]. It depends on the `harness` crate, whose tests depend on it (a
//! dev-dependency cycle Cargo allows: the tests link one `harness`).

pub mod app;
pub mod fake_anthropic;
pub mod fake_forge;
pub mod fake_kube;
pub mod fake_openai;
pub mod fake_telegram;
pub mod git_repo;
pub mod procs;
pub mod server;
mod stand_in;
