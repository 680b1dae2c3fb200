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
/// Any other name is a Docker network the worker joins, such as the compose network of
/// an orchestrator that runs in a container (it reaches the orchestrator by service name).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum NetworkMode {
    #[default]
    Bridge,
    None,
    /// A user-defined Docker network, by name.
    Named(String),
}

impl NetworkMode {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Bridge => "bridge",
            Self::None => "none",
            Self::Named(name) => name,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "network {0:?} is not bridge, none or a Docker network name ([A-Za-z0-9][A-Za-z0-9_.-]*, at most 128 characters)"
)]
pub struct BadNetwork(String);

impl TryFrom<String> for NetworkMode {
    type Error = BadNetwork;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let valid = s.len() <= 128
            && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        match s.as_str() {
            "bridge" => Ok(Self::Bridge),
            "none" => Ok(Self::None),
            // "host" would share the host's network stack: never for an agent.
            "host" => Err(BadNetwork(s)),
            _ if valid => Ok(Self::Named(s)),
            _ => Err(BadNetwork(s)),
        }
    }
}

impl From<NetworkMode> for String {
    fn from(n: NetworkMode) -> Self {
        n.as_str().to_owned()
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

    #[test]
    fn networks_are_bridge_none_or_a_docker_network_name() {
        let parse = |s: &str| NetworkMode::try_from(s.to_owned());
        assert_eq!(parse("bridge").unwrap(), NetworkMode::Bridge);
        assert_eq!(parse("none").unwrap(), NetworkMode::None);
        assert_eq!(
            parse("harness-net").unwrap(),
            NetworkMode::Named("harness-net".into())
        );
        for bad in ["host", "", "-x", "a b", "container:abc"] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
