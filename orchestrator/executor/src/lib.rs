//! Executors: where an attempt's workspace lives and where its agent and verification run.
//!
//! `local` is the orchestrator's own machine (the attempt runs in-process, see
//! `scheduler::attempt`). Every other executor starts one `harness worker` per attempt
//! somewhere else (a container, a pod) through an [`ExecutorBackend`]; the worker talks
//! back to the orchestrator over HTTP with the attempt's credential (see `worker`).
//!
//! The shape here is shared by every backend (docker, kubernetes): keep it small.

pub mod docker;
pub mod kubernetes;
pub mod names;
pub mod process;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use names::{ExecutorKind, NetworkMode};

/// Label every backend puts on what it creates, with the attempt's id as value.
pub const LABEL_ATTEMPT: &str = "parent-harness.attempt";
/// Label naming the orchestrator instance, so a sweep only removes its own leftovers.
pub const LABEL_OWNER: &str = "parent-harness.owner";

/// Everything a backend needs to start one attempt's worker.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The attempt's id (the session id): names the container/pod and labels it.
    pub attempt: i64,
    /// Image the worker runs in (any image with a shell; the harness binary is supplied
    /// by the backend: mounted read-only for docker, an init container for kubernetes).
    pub image: String,
    /// The worker's command line after the binary: `["worker"]` plus its flags.
    pub command: Vec<String>,
    /// The complete environment of the worker (an allow-list: nothing else is passed).
    /// Holds `HARNESS_WORKER_URL`, `HARNESS_WORKER_TOKEN` (the per-attempt credential)
    /// and, when the runtime needs it, `ANTHROPIC_API_KEY`. Never the API or Telegram token.
    /// Backends must not log values (kubernetes puts the token in a Secret).
    pub env: BTreeMap<String, String>,
    pub limits: Limits,
    pub network: NetworkMode,
    /// Labels to put on everything created ([`LABEL_ATTEMPT`], [`LABEL_OWNER`], ...).
    pub labels: BTreeMap<String, String>,
    /// The most the attempt may run (the session timeout plus slack); kubernetes uses it
    /// as `activeDeadlineSeconds`.
    pub deadline: Duration,
}

/// Resource limits of one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU in thousandths of a core (1000 = one core).
    pub millicpus: u64,
    pub memory_mb: u64,
    pub pids: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            millicpus: 2000,
            memory_mb: 4096,
            pids: 512,
        }
    }
}

/// What a backend created for one attempt: enough to watch and remove it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handle {
    pub attempt: i64,
    /// The container id / Job name the backend addresses it by.
    pub id: String,
    /// What the dashboard shows (container name, pod name).
    pub name: String,
    /// Node or host it runs on, when known.
    pub node: Option<String>,
}

/// Where a worker is, as the backend sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Created, not yet running (pulling, scheduling).
    Pending,
    /// Running on `node` (the Kubernetes node), when the backend knows it.
    Running { node: Option<String> },
    /// The worker process ended with this exit code.
    Exited(i64),
    /// It never ran (image pull failure, unschedulable) or failed in a way that is the
    /// task's (out of memory, deadline). `uses_attempt` is false for infrastructure
    /// problems: the task is requeued.
    Failed { reason: String, uses_attempt: bool },
    /// It ran and is gone (removed under us, its process vanished): a lost worker, which
    /// the scheduler counts like a crash.
    Lost(String),
}

/// Why a backend call failed: which step, and the backend's own words.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("cannot reach the {backend} executor: {message}")]
    Connect {
        backend: &'static str,
        message: String,
    },
    #[error("cannot launch attempt {attempt}: {message}")]
    Launch { attempt: i64, message: String },
    #[error("cannot read the status of {name}: {message}")]
    Status { name: String, message: String },
    #[error("cannot remove {name}: {message}")]
    Remove { name: String, message: String },
    #[error("cannot sweep leftovers: {message}")]
    Sweep { message: String },
    #[error("cannot re-adopt the worker {name} of attempt {attempt}: {message}")]
    Adopt {
        attempt: i64,
        name: String,
        message: String,
    },
}

/// One remote executor, shared as `Arc<dyn ExecutorBackend>`. Object-safe: the async
/// methods return boxed futures (the style of `engine::runtime::AgentRuntime`).
pub trait ExecutorBackend: Send + Sync {
    /// `docker`, `kubernetes`: used in messages and in the session's `executor` field.
    fn kind(&self) -> ExecutorKind;

    /// Starts the worker. Returns once it is created (it may still be `Pending`).
    fn launch<'a>(&'a self, launch: &'a Launch) -> BoxFuture<'a, Result<Handle, ExecutorError>>;

    /// Its state now. A handle the backend no longer knows is `Failed`.
    fn status<'a>(&'a self, handle: &'a Handle) -> BoxFuture<'a, Result<Status, ExecutorError>>;

    /// Last bytes of the worker's own output, for a failure report (empty if unknown).
    fn logs_tail<'a>(&'a self, handle: &'a Handle, max_bytes: usize) -> BoxFuture<'a, String>;

    /// Stops and deletes everything created for the attempt. Removing what is gone is Ok.
    fn remove<'a>(&'a self, handle: &'a Handle) -> BoxFuture<'a, Result<(), ExecutorError>>;

    /// The orchestrator is stopping and leaves the worker running, to be re-adopted by
    /// its next run: forget it without stopping it. (Containers and Jobs outlive the
    /// orchestrator anyway; the `process` backend otherwise stops its children when it
    /// is dropped.)
    fn detach(&self, _handle: &Handle) {}

    /// At startup: finds the worker a previous run of this orchestrator launched for
    /// `attempt` (recorded as `name`, the handle's name), so this run follows it on.
    /// Called before [`ExecutorBackend::sweep`].
    fn adopt<'a>(
        &'a self,
        attempt: i64,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Handle, ExecutorError>>;

    /// At startup: removes everything carrying all of `labels` (leftovers of a previous
    /// run of this orchestrator) except the workers of the attempts in `keep` (the
    /// adopted ones). Returns how many were removed.
    fn sweep<'a>(
        &'a self,
        labels: &'a BTreeMap<String, String>,
        keep: &'a BTreeSet<i64>,
    ) -> BoxFuture<'a, Result<usize, ExecutorError>>;
}

/// Validated settings of a remote executor.
#[derive(Debug, Clone)]
pub struct RemoteSettings {
    pub max_concurrent: u32,
    pub orchestrator_url: Option<String>,
    pub network: NetworkMode,
    pub limits: Limits,
    pub image: Option<String>,
    pub heartbeat_timeout: Duration,
    pub harness_binary: Option<std::path::PathBuf>,
}
