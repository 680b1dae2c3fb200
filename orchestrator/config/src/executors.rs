//! The `[executors.*]` part of `harness.toml`: how many attempts each executor runs at
//! once and how remote workers are started.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, invalid};
pub use harness_executor::RemoteSettings;
use harness_executor::{ExecutorKind, Limits, NetworkMode, kubernetes::KubernetesSettings};

/// `[executors]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorsFile {
    local: Option<LocalFile>,
    docker: Option<RemoteFile>,
    process: Option<RemoteFile>,
    /// Parsed by [`load_kubernetes`] into the kubernetes executor's own settings.
    kubernetes: Option<toml::Table>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalFile {
    max_concurrent: Option<u32>,
}

/// The settings every remote executor shares.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteFile {
    max_concurrent: Option<u32>,
    /// The orchestrator's base URL as the worker reaches it.
    orchestrator_url: Option<String>,
    network: Option<NetworkMode>,
    cpus: Option<f64>,
    memory_mb: Option<u64>,
    pids: Option<u64>,
    /// The image for agents that name none.
    image: Option<String>,
    /// Seconds without a heartbeat after which a worker counts as dead.
    heartbeat_timeout_secs: Option<f64>,
    /// Where the harness binary mounted into containers is (defaults to this binary).
    harness_binary: Option<std::path::PathBuf>,
}

/// Validated `[executors]`.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// `HARNESS_MAX_CONCURRENT` / `[executors.local] max_concurrent`.
    pub local_max_concurrent: u32,
    /// `None` when the file has no `[executors.docker]`: agents may not choose it.
    pub docker: Option<RemoteSettings>,
    /// `[executors.process]`: workers as child processes (tests, benchmarks).
    pub process: Option<RemoteSettings>,
    /// `[executors.kubernetes]`: workers as Jobs on a cluster (set with
    /// [`ExecutorSettings::set_kubernetes`], which keeps `kubernetes_remote` in step).
    kubernetes: Option<KubernetesSettings>,
    /// What the scheduler needs of the kubernetes executor, in the shape every remote
    /// executor shares (derived from `kubernetes`).
    kubernetes_remote: Option<RemoteSettings>,
}

impl ExecutorSettings {
    /// `flag` is `HARNESS_MAX_CONCURRENT` (wins over the file); `legacy` is the file's
    /// top-level `max_concurrent` (used when `[executors.local]` does not say).
    pub fn load(
        file: ExecutorsFile,
        flag: Option<u32>,
        legacy: Option<u32>,
    ) -> Result<Self, ConfigError> {
        let local_max_concurrent = flag
            .or(file.local.and_then(|l| l.max_concurrent))
            .or(legacy)
            .unwrap_or(2);
        check_concurrency("[executors.local] max_concurrent", local_max_concurrent)?;
        let docker = file.docker.map(load_remote).transpose()?;
        let process = file.process.map(load_remote).transpose()?;
        let mut settings = Self {
            local_max_concurrent,
            docker,
            process,
            kubernetes: None,
            kubernetes_remote: None,
        };
        if let Some(table) = file.kubernetes {
            settings.set_kubernetes(load_kubernetes(table)?)?;
        }
        Ok(settings)
    }

    /// Turns the kubernetes executor on with `k` (what `[executors.kubernetes]` does).
    pub fn set_kubernetes(&mut self, k: KubernetesSettings) -> Result<(), ConfigError> {
        self.kubernetes_remote = Some(kubernetes_remote(&k)?);
        self.kubernetes = Some(k);
        Ok(())
    }

    pub fn kubernetes(&self) -> Option<&KubernetesSettings> {
        self.kubernetes.as_ref()
    }

    /// The settings of a remote executor run by this crate's backends.
    pub fn remote(&self, kind: ExecutorKind) -> Option<&RemoteSettings> {
        match kind {
            ExecutorKind::Docker => self.docker.as_ref(),
            ExecutorKind::Process => self.process.as_ref(),
            ExecutorKind::Kubernetes => self.kubernetes_remote.as_ref(),
            ExecutorKind::Local => None,
        }
    }

    /// How many attempts `kind` may run at once (0: the executor is not configured).
    pub fn max_concurrent(&self, kind: ExecutorKind) -> u32 {
        match kind {
            ExecutorKind::Local => self.local_max_concurrent,
            ExecutorKind::Docker => self.docker.as_ref().map_or(0, |d| d.max_concurrent),
            ExecutorKind::Process => self.process.as_ref().map_or(0, |d| d.max_concurrent),
            ExecutorKind::Kubernetes => self.kubernetes.as_ref().map_or(0, |k| k.max_concurrent),
        }
    }
}

/// Checks `[executors.docker]` or `[executors.process]`.
fn load_remote(file: RemoteFile) -> Result<RemoteSettings, ConfigError> {
    let max_concurrent = file.max_concurrent.unwrap_or(4);
    check_concurrency("[executors.docker] max_concurrent", max_concurrent)?;
    let defaults = Limits::default();
    let cpus = file.cpus.unwrap_or(defaults.millicpus as f64 / 1000.0);
    if !cpus.is_finite() || !(0.1..=256.0).contains(&cpus) {
        return Err(invalid(
            "[executors.docker] cpus",
            "must be between 0.1 and 256",
        ));
    }
    let memory_mb = file.memory_mb.unwrap_or(defaults.memory_mb);
    if !(64..=1 << 20).contains(&memory_mb) {
        return Err(invalid(
            "[executors.docker] memory_mb",
            "must be between 64 and 1048576",
        ));
    }
    let pids = file.pids.unwrap_or(defaults.pids);
    if !(16..=1 << 16).contains(&pids) {
        return Err(invalid(
            "[executors.docker] pids",
            "must be between 16 and 65536",
        ));
    }
    let heartbeat = file.heartbeat_timeout_secs.unwrap_or(30.0);
    if !heartbeat.is_finite() || !(0.2..=3600.0).contains(&heartbeat) {
        return Err(invalid(
            "[executors.docker] heartbeat_timeout_secs",
            "must be between 0.2 and 3600",
        ));
    }
    if let Some(url) = &file.orchestrator_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(invalid(
            "[executors.docker] orchestrator_url",
            "must be an http:// or https:// URL",
        ));
    }
    Ok(RemoteSettings {
        max_concurrent,
        orchestrator_url: file
            .orchestrator_url
            .map(|u| u.trim_end_matches('/').into()),
        network: file.network.unwrap_or_default(),
        limits: Limits {
            millicpus: (cpus * 1000.0).round() as u64,
            memory_mb,
            pids,
        },
        image: file.image.filter(|i| !i.trim().is_empty()),
        heartbeat_timeout: Duration::from_secs_f64(heartbeat),
        harness_binary: file.harness_binary,
    })
}

/// `[executors.kubernetes]` into the executor's settings; an error names the field.
fn load_kubernetes(table: toml::Table) -> Result<KubernetesSettings, ConfigError> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let field = e.path().to_string();
        let message = e.into_inner().to_string();
        let message = message.lines().next().unwrap_or_default();
        invalid(
            "[executors.kubernetes]",
            &if field == "." {
                message.to_owned()
            } else {
                format!("{field}: {message}")
            },
        )
    })
}

/// The shared remote settings of the kubernetes executor: its cluster settings decide
/// the image and the URL; CPU and memory are the attempt's unless they say otherwise.
fn kubernetes_remote(k: &KubernetesSettings) -> Result<RemoteSettings, ConfigError> {
    check_concurrency("[executors.kubernetes] max_concurrent", k.max_concurrent)?;
    let url = &k.orchestrator_url;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(invalid(
            "[executors.kubernetes] orchestrator_url",
            "must be an http:// or https:// URL",
        ));
    }
    Ok(RemoteSettings {
        max_concurrent: k.max_concurrent,
        orchestrator_url: Some(url.trim_end_matches('/').into()),
        network: NetworkMode::default(),
        limits: Limits::default(),
        image: Some(k.image.clone()).filter(|i| !i.trim().is_empty()),
        heartbeat_timeout: Duration::from_secs(30),
        harness_binary: None,
    })
}

fn check_concurrency(name: &'static str, n: u32) -> Result<(), ConfigError> {
    if (1..=256).contains(&n) {
        Ok(())
    } else {
        Err(invalid(name, "must be between 1 and 256"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ExecutorSettings, ConfigError> {
        ExecutorSettings::load(toml::from_str(text).unwrap(), None, None)
    }

    #[test]
    fn each_executor_has_its_own_concurrency() {
        let s = load("[local]\nmax_concurrent = 3\n[docker]\nmax_concurrent = 40\n").unwrap();
        assert_eq!(s.max_concurrent(ExecutorKind::Local), 3);
        assert_eq!(s.max_concurrent(ExecutorKind::Docker), 40);
        assert_eq!(s.max_concurrent(ExecutorKind::Kubernetes), 0);
        let s = load("").unwrap();
        assert_eq!(s.max_concurrent(ExecutorKind::Local), 2);
        assert_eq!(s.max_concurrent(ExecutorKind::Docker), 0);
        let s = ExecutorSettings::load(
            toml::from_str("[local]\nmax_concurrent = 3\n").unwrap(),
            Some(5),
            Some(1),
        )
        .unwrap();
        assert_eq!(
            s.max_concurrent(ExecutorKind::Local),
            5,
            "the environment wins"
        );
    }

    const KUBE: &str = "[kubernetes]\nnamespace = \"jobs\"\nimage = \"rust:1\"\nharness_image = \"h:1\"\norchestrator_url = \"http://h:3333/\"\n";

    #[test]
    fn the_kubernetes_table_is_parsed_at_startup() {
        let s = load(&format!("{KUBE}max_concurrent = 9\n")).unwrap();
        assert_eq!(s.max_concurrent(ExecutorKind::Kubernetes), 9);
        let k = s.kubernetes().unwrap();
        assert_eq!(k.namespace.as_ref(), "jobs");
        let remote = s.remote(ExecutorKind::Kubernetes).unwrap();
        assert_eq!(remote.orchestrator_url.as_deref(), Some("http://h:3333"));
        assert_eq!(remote.image.as_deref(), Some("rust:1"));
    }

    #[test]
    fn a_bad_kubernetes_value_names_its_field_on_one_line() {
        let err = load(&KUBE.replace("\"jobs\"", "\"Jobs\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("namespace") && err.contains("not a DNS label"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        let err = load(&format!("{KUBE}memory = \"4GB\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("memory"), "{err}");
        let err = load("[kubernetes]\nimage = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("namespace"), "{err}");
        let err = load(&format!("{KUBE}max_concurrent = 0\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_concurrent"), "{err}");
    }

    #[test]
    fn network_none_and_pids_on_kubernetes_are_refused_naming_the_field() {
        for (line, field, why) in [
            ("network = \"none\"", "network", "NetworkPolicy"),
            ("pids = 512", "pids", "podPidsLimit"),
        ] {
            let err = load(&format!("{KUBE}{line}\n")).unwrap_err().to_string();
            assert!(
                err.contains("[executors.kubernetes]")
                    && err.contains(&format!("{field}:"))
                    && err.contains(why),
                "{err}"
            );
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn bad_limits_are_named() {
        let err = load("[docker]\nmemory_mb = 1\n").unwrap_err();
        assert!(err.to_string().contains("memory_mb"), "{err}");
        let err = load("[docker]\norchestrator_url = \"ftp://x\"\n").unwrap_err();
        assert!(err.to_string().contains("orchestrator_url"), "{err}");
    }
}
