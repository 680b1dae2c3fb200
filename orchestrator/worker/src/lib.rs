//! Remote workers: `harness worker` runs one attempt away from the orchestrator (in a
//! container or a pod) and talks back over HTTP with that attempt's credential.
//!
//! - `credential.rs`: the per-attempt credential (HMAC, expiring);
//! - `grants.rs`: what each live credential opens (the orchestrator side);
//! - `protocol.rs`: the JSON that crosses the network;
//! - `client.rs`: the worker process itself (`harness worker`).

pub mod client;
pub mod credential;
pub mod grants;
pub mod protocol;

pub use credential::WorkerKey;
pub use grants::{Grant, Grants};

/// The environment variables a worker reads.
pub const ENV_URL: &str = "HARNESS_WORKER_URL";
pub const ENV_TOKEN: &str = "HARNESS_WORKER_TOKEN";
/// Where the worker clones and works (default: `./work`).
pub const ENV_DIR: &str = "HARNESS_WORKER_DIR";
/// What the worker does when Landlock is missing: `require` (the default, as for the
/// server), `warn` or `off` ([`harness_engine::sandbox::Mode`]).
pub const ENV_SANDBOX: &str = "HARNESS_SANDBOX";
/// The mode container executors give their workers unless the launch sets one: the
/// container is the confinement there (all capabilities dropped, a read-only root,
/// no-new-privileges, memory and process limits, nothing of the host mounted but the
/// binary), and Landlock adds to it where the engine's seccomp profile allows the
/// calls; Docker's default profile refuses them on older engines, and `require` would
/// then leave every containerised agent unable to run.
pub const CONTAINER_SANDBOX: &str = "warn";
