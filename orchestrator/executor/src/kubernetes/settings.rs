//! `[executors.kubernetes]` in `harness.toml`, parsed into valid-by-construction values:
//! a namespace Kubernetes accepts, resource quantities it can parse, tolerations with
//! operators and effects it knows. A bad value fails at startup with the key's name.

use std::{collections::BTreeMap, fmt, path::PathBuf, time::Duration};

use serde::Deserialize;

/// The `[executors.kubernetes]` table.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSettings {
    /// Namespace the Jobs and Secrets are created in (the orchestrator's RBAC is limited
    /// to it).
    pub namespace: DnsLabel,
    /// Image the worker runs in, unless the agent or role names another.
    pub image: String,
    /// Image that carries the `harness` binary (the orchestrator's own image); an init
    /// container copies the binary from it, so any image with a shell can be a worker.
    pub harness_image: String,
    /// Where workers reach the orchestrator from their pods (its Service's URL); the
    /// scheduler passes it to each worker as `HARNESS_WORKER_URL`.
    pub orchestrator_url: String,
    /// Attempts running on the cluster at once.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: u32,
    /// CPU request and limit of the worker container (`2`, `500m`); absent: the
    /// attempt's limits (2 cores unless the scheduler says).
    #[serde(default)]
    pub cpu: Option<Quantity>,
    /// Memory request and limit of the worker container (`4Gi`); absent: the
    /// attempt's limits (4 GiB unless the scheduler says).
    #[serde(default)]
    pub memory: Option<Quantity>,
    /// Size limit of the worker's scratch volume (its clone, build output, /tmp).
    #[serde(default = "default_disk")]
    pub disk: Quantity,
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// Seconds a finished Job stays before Kubernetes deletes it, in case the harness
    /// could not (it deletes its Jobs itself when an attempt ends).
    #[serde(default = "default_ttl")]
    pub ttl_seconds_after_finished: u32,
    /// How long a pod may stay unschedulable before the attempt is given up as not
    /// started (a cluster autoscaler may be adding a node meanwhile).
    #[serde(default = "default_unschedulable_grace", with = "seconds")]
    pub unschedulable_grace_secs: Duration,
    /// A kubeconfig file; absent: in-cluster config, then `KUBECONFIG`, then
    /// `~/.kube/config`.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use; absent: its current context.
    #[serde(default)]
    pub context: Option<String>,
    /// Value of the `parent-harness/instance` label, so two harnesses can share a
    /// namespace without sweeping each other's Jobs.
    #[serde(default = "default_instance")]
    pub instance: DnsLabel,
    /// The worker's network: the pod network (`"bridge"`, the docker executor's word,
    /// is the only value). `"none"` is refused at startup: see [`PodNetwork`].
    #[serde(default)]
    pub network: PodNetwork,
    /// Refused whenever present: Kubernetes has no per-container process limit (see
    /// [`NoPidsLimit`]). The key exists so the refusal says why, not "unknown field".
    #[serde(default)]
    pub pids: NoPidsLimit,
}

/// The only network a worker pod can have: the cluster's pod network. The worker must
/// reach the orchestrator over it, so the docker executor's `"none"` has no equivalent
/// the harness could set on a pod; limiting egress is a NetworkPolicy's job, which only
/// a CNI that enforces policies honours (docs/EXECUTORS.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum PodNetwork {
    #[default]
    Pod,
}

impl TryFrom<String> for PodNetwork {
    type Error = SettingError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "bridge" => Ok(Self::Pod),
            "none" => Err(SettingError::NetworkNone),
            _ => Err(SettingError::Network(s)),
        }
    }
}

/// `pids` in `[executors.kubernetes]`: never accepted. A pod's process limit is the
/// kubelet's `podPidsLimit`, a node setting the harness cannot set per Job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoPidsLimit;

impl<'de> Deserialize<'de> for NoPidsLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Err(serde::de::Error::custom(SettingError::Pids))
    }
}

fn default_max_concurrent() -> u32 {
    4
}
fn default_disk() -> Quantity {
    Quantity("10Gi".into())
}
fn default_ttl() -> u32 {
    600
}
fn default_unschedulable_grace() -> Duration {
    Duration::from_secs(120)
}
fn default_instance() -> DnsLabel {
    DnsLabel("parent-harness".into())
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

/// Why a setting was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SettingError {
    #[error("{0:?} is not a DNS label (lowercase letters, digits and '-', 1-63 characters)")]
    DnsLabel(String),
    #[error("{0:?} is not a Kubernetes quantity (like 500m, 2, 4Gi)")]
    Quantity(String),
    #[error(
        "\"none\" cannot be applied to a pod (the worker must reach the orchestrator over the pod network); restrict the Jobs' egress with a NetworkPolicy instead (docs/EXECUTORS.md)"
    )]
    NetworkNone,
    #[error("{0:?} is not a network of a pod: the only value is \"bridge\" (the pod network)")]
    Network(String),
    #[error(
        "Kubernetes has no per-container process limit: set the kubelet's podPidsLimit on the worker nodes instead (docs/EXECUTORS.md)"
    )]
    Pids,
}

/// A DNS-1123 label: namespaces and label values of ours must be one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DnsLabel(String);

impl DnsLabel {
    pub fn parse(s: impl Into<String>) -> Result<Self, SettingError> {
        let s = s.into();
        let ok = (1..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Self(s))
        } else {
            Err(SettingError::DnsLabel(s))
        }
    }
}

impl TryFrom<String> for DnsLabel {
    type Error = SettingError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl AsRef<str> for DnsLabel {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DnsLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A resource quantity in Kubernetes' syntax: a decimal number with an optional SI or
/// binary suffix. Checked here so a typo fails at startup, not at the first Job.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Quantity(String);

const SUFFIXES: [&str; 14] = [
    "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
];

impl Quantity {
    pub fn parse(s: impl Into<String>) -> Result<Self, SettingError> {
        let s = s.into();
        let digits_end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, suffix) = s.split_at(digits_end);
        let number_ok = !number.is_empty()
            && number.matches('.').count() <= 1
            && number.chars().any(|c| c.is_ascii_digit());
        if number_ok && SUFFIXES.contains(&suffix) {
            Ok(Self(s))
        } else {
            Err(SettingError::Quantity(s))
        }
    }
}

impl TryFrom<String> for Quantity {
    type Error = SettingError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl AsRef<str> for Quantity {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A toleration, as in a pod spec.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Toleration {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub operator: TolerationOperator,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub effect: Option<TaintEffect>,
    #[serde(default)]
    pub toleration_seconds: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum TolerationOperator {
    #[default]
    Equal,
    Exists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TolerationOperator {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equal => "Equal",
            Self::Exists => "Exists",
        }
    }
}

impl TaintEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSchedule => "NoSchedule",
            Self::PreferNoSchedule => "PreferNoSchedule",
            Self::NoExecute => "NoExecute",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<KubernetesSettings, toml::de::Error> {
        toml::from_str(toml_text)
    }

    const MINIMAL: &str = r#"
        namespace = "harness-jobs"
        image = "rust:1.95-bookworm"
        harness_image = "ghcr.io/example/parent-harness:1.0"
        orchestrator_url = "http://parent-harness:3333"
    "#;

    #[test]
    fn a_minimal_table_takes_the_defaults() {
        let s = parse(MINIMAL).unwrap();
        assert_eq!(s.namespace.as_ref(), "harness-jobs");
        assert_eq!(s.cpu, None);
        assert_eq!(s.memory, None);
        assert_eq!(s.max_concurrent, 4);
        assert_eq!(s.instance.as_ref(), "parent-harness");
        assert!(s.tolerations.is_empty());
    }

    #[test]
    fn every_setting_is_read() {
        let s = parse(&format!(
            r#"{MINIMAL}
            max_concurrent = 40
            cpu = "500m"
            memory = "1.5Gi"
            disk = "20Gi"
            ttl_seconds_after_finished = 60
            unschedulable_grace_secs = 0
            kubeconfig = "/etc/kube/config"
            context = "prod"
            instance = "team-a"
            node_selector = {{ "kubernetes.io/arch" = "amd64" }}
            [[tolerations]]
            key = "dedicated"
            operator = "Equal"
            value = "agents"
            effect = "NoSchedule"
            "#
        ))
        .unwrap();
        assert_eq!(s.max_concurrent, 40);
        assert_eq!(s.memory, Some(Quantity::parse("1.5Gi").unwrap()));
        assert_eq!(s.unschedulable_grace_secs, Duration::ZERO);
        assert_eq!(s.node_selector["kubernetes.io/arch"], "amd64");
        assert_eq!(s.tolerations[0].effect, Some(TaintEffect::NoSchedule));
        assert_eq!(s.context.as_deref(), Some("prod"));
    }

    #[test]
    fn a_namespace_with_capitals_is_rejected_naming_the_value() {
        let e = parse(&MINIMAL.replace("harness-jobs", "Harness")).unwrap_err();
        assert!(
            e.to_string().contains("\"Harness\" is not a DNS label"),
            "{e}"
        );
    }

    #[test]
    fn a_memory_with_a_unit_kubernetes_does_not_know_is_rejected() {
        let e = parse(&format!("{MINIMAL}\nmemory = \"4GB\"")).unwrap_err();
        assert!(e.to_string().contains("not a Kubernetes quantity"), "{e}");
    }

    #[test]
    fn quantities_kubernetes_accepts_parse() {
        for q in ["1", "0.5", "250m", "128Mi", "2Gi", "1k", "3E"] {
            assert!(Quantity::parse(q).is_ok(), "{q}");
        }
        for q in ["", "Gi", "1..2", "1 Gi", "-1", "1gi"] {
            assert!(Quantity::parse(q).is_err(), "{q}");
        }
    }

    #[test]
    fn an_unknown_taint_effect_is_rejected() {
        let e = parse(&format!(
            "{MINIMAL}\n[[tolerations]]\nkey = \"a\"\neffect = \"NoRun\""
        ))
        .unwrap_err();
        assert!(e.to_string().contains("NoRun"), "{e}");
    }

    #[test]
    fn network_none_and_a_pids_limit_are_refused_saying_why() {
        assert_eq!(parse(MINIMAL).unwrap().network, PodNetwork::Pod);
        let bridge = parse(&format!("{MINIMAL}\nnetwork = \"bridge\"")).unwrap();
        assert_eq!(bridge.network, PodNetwork::Pod);
        let e = parse(&format!("{MINIMAL}\nnetwork = \"none\"")).unwrap_err();
        assert!(e.to_string().contains("NetworkPolicy"), "{e}");
        let e = parse(&format!("{MINIMAL}\nnetwork = \"host\"")).unwrap_err();
        assert!(e.to_string().contains("\"host\" is not a network"), "{e}");
        let e = parse(&format!("{MINIMAL}\npids = 512")).unwrap_err();
        assert!(e.to_string().contains("podPidsLimit"), "{e}");
    }

    #[test]
    fn an_unknown_key_is_rejected() {
        assert!(parse(&format!("{MINIMAL}\nnamspace = \"x\"")).is_err());
    }
}
