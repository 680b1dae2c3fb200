//! The names settings use for executors and their network modes, parsed at the edge.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Where an attempt runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// The orchestrator's own machine (child processes in a worktree).
    Local,
    /// A fresh container per attempt on a Docker engine.
    Docker,
    /// A Job per attempt on a Kubernetes cluster.
    Kubernetes,
    /// `harness worker` as a child process of the orchestrator: the remote protocol
    /// without a container (protocol tests, benchmarks). Not confined beyond the sandbox.
    Process,
}

impl ExecutorKind {
    pub const ALL: [Self; 4] = [Self::Local, Self::Docker, Self::Kubernetes, Self::Process];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Docker => "docker",
            Self::Kubernetes => "kubernetes",
            Self::Process => "process",
        }
    }
}

impl fmt::Display for ExecutorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown executor {0:?}: expected local, docker, kubernetes or process")]
pub struct UnknownExecutor(String);

impl FromStr for ExecutorKind {
    type Err = UnknownExecutor;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownExecutor(s.to_owned()))
    }
}

/// The network a worker gets. `none` leaves it unable to reach the orchestrator, so it
/// only suits a backend that proxies the worker's connection; `bridge` is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    #[default]
    Bridge,
    None,
}

impl NetworkMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bridge => "bridge",
            Self::None => "none",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executor_names_round_trip_and_unknown_ones_are_named() {
        for kind in ExecutorKind::ALL {
            assert_eq!(kind.as_str().parse::<ExecutorKind>().unwrap(), kind);
        }
        let err = "podman".parse::<ExecutorKind>().unwrap_err();
        assert!(err.to_string().contains("podman"));
    }
}
