//! The objects created for one attempt: a Job running the worker confined (non-root,
//! read-only root filesystem, no capabilities, no service account token, resource
//! limits) and a Secret with the attempt's secrets, which the Job's pod reads as
//! environment. Pure: no API calls, so every field is unit tested.

use std::collections::BTreeMap;

use k8s_openapi::{
    ByteString,
    api::{
        batch::v1::{Job, JobSpec},
        core::v1::{
            Capabilities, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource,
            PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile,
            Secret, SecretKeySelector, SecurityContext, Toleration as KubeToleration, Volume,
            VolumeMount,
        },
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta},
};

use super::{
    launch::{AttemptRef, Launch},
    settings::KubernetesSettings,
};

/// Labels every object of ours carries; the sweep selects on them.
pub(crate) const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "parent-harness");
pub(crate) const COMPONENT: (&str, &str) = ("app.kubernetes.io/component", "attempt");
pub const INSTANCE_LABEL: &str = "parent-harness/instance";
pub const ATTEMPT_LABEL: &str = "parent-harness/attempt";
/// The worker's container, for logs.
pub const WORKER_CONTAINER: &str = "worker";
/// The uid the worker runs as, whatever the image (the conventional "nonroot" uid, as
/// the docker executor uses).
const UID: i64 = 65532;
/// Where the init container puts the `harness` binary.
const HARNESS_DIR: &str = "/opt/harness";
/// The worker's writable scratch space (its clone lives here).
const WORKSPACE_DIR: &str = "/work";

/// Name of the Job and of its Secret.
pub fn object_name(attempt: &AttemptRef) -> String {
    format!("harness-attempt-{attempt}")
}

/// Selects everything this harness created, in its namespace.
pub(crate) fn sweep_selector(settings: &KubernetesSettings) -> String {
    format!(
        "{}={},{}={},{INSTANCE_LABEL}={}",
        MANAGED_BY.0, MANAGED_BY.1, COMPONENT.0, COMPONENT.1, settings.instance
    )
}

/// Selects one attempt's objects (its Job's pod).
pub(crate) fn attempt_selector(settings: &KubernetesSettings, attempt: &AttemptRef) -> String {
    format!("{},{ATTEMPT_LABEL}={attempt}", sweep_selector(settings))
}

fn labels(settings: &KubernetesSettings, attempt: &AttemptRef) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.0.into(), MANAGED_BY.1.into()),
        (COMPONENT.0.into(), COMPONENT.1.into()),
        (INSTANCE_LABEL.into(), settings.instance.to_string()),
        (ATTEMPT_LABEL.into(), attempt.to_string()),
    ])
}

fn meta(settings: &KubernetesSettings, attempt: &AttemptRef) -> ObjectMeta {
    ObjectMeta {
        name: Some(object_name(attempt)),
        namespace: Some(settings.namespace.to_string()),
        labels: Some(labels(settings, attempt)),
        ..Default::default()
    }
}

/// The Secret holding the attempt's secrets, one key per environment variable. Its
/// owner (the Job) is set once the Job exists, so deleting the Job removes it too.
pub fn secret(settings: &KubernetesSettings, launch: &Launch) -> Secret {
    let data = launch
        .secret_env
        .iter()
        .map(|(name, value)| (name.clone(), ByteString(value.expose().as_bytes().to_vec())))
        .collect();
    Secret {
        metadata: meta(settings, &launch.attempt),
        data: Some(data),
        immutable: Some(true),
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

/// The Job running the attempt's worker.
pub fn job(settings: &KubernetesSettings, launch: &Launch) -> Job {
    let labels = labels(settings, &launch.attempt);
    // The caller's deadline already has slack over the worker's own timeouts, so the
    // worker reports first and this only catches a worker that hangs.
    let deadline = i64::try_from(launch.timeout.as_secs()).unwrap_or(i64::MAX);
    Job {
        metadata: meta(settings, &launch.attempt),
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            completions: Some(1),
            parallelism: Some(1),
            active_deadline_seconds: Some(deadline),
            ttl_seconds_after_finished: Some(
                i32::try_from(settings.ttl_seconds_after_finished).unwrap_or(i32::MAX),
            ),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(pod_spec(settings, launch)),
            },
            ..Default::default()
        }),
        status: None,
    }
}

fn pod_spec(settings: &KubernetesSettings, launch: &Launch) -> PodSpec {
    PodSpec {
        restart_policy: Some("Never".into()),
        automount_service_account_token: Some(false),
        // Service links would put every Service of the namespace in the environment.
        enable_service_links: Some(false),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(UID),
            run_as_group: Some(UID),
            fs_group: Some(UID),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        node_selector: (!settings.node_selector.is_empty()).then(|| settings.node_selector.clone()),
        tolerations: (!settings.tolerations.is_empty()).then(|| tolerations(settings)),
        init_containers: Some(vec![install_harness(settings)]),
        containers: vec![worker(settings, launch)],
        volumes: Some(volumes(settings)),
        ..Default::default()
    }
}

fn tolerations(settings: &KubernetesSettings) -> Vec<KubeToleration> {
    settings
        .tolerations
        .iter()
        .map(|t| KubeToleration {
            key: t.key.clone(),
            operator: Some(t.operator.as_str().into()),
            value: t.value.clone(),
            effect: t.effect.map(|e| e.as_str().into()),
            toleration_seconds: t.toleration_seconds,
        })
        .collect()
}

/// Copies `harness` out of the orchestrator's image, so the worker image needs nothing
/// of ours (the docker executor mounts the binary instead).
fn install_harness(settings: &KubernetesSettings) -> Container {
    let small = BTreeMap::from([
        ("cpu".to_string(), Quantity("100m".into())),
        ("memory".to_string(), Quantity("64Mi".into())),
    ]);
    Container {
        name: "install-harness".into(),
        image: Some(settings.harness_image.clone()),
        command: Some(vec![
            "cp".into(),
            "/usr/local/bin/harness".into(),
            format!("{HARNESS_DIR}/harness"),
        ]),
        resources: Some(ResourceRequirements {
            limits: Some(small.clone()),
            requests: Some(small),
            ..Default::default()
        }),
        security_context: Some(confined()),
        volume_mounts: Some(vec![mount("harness-bin", HARNESS_DIR, false)]),
        ..Default::default()
    }
}

fn worker(settings: &KubernetesSettings, launch: &Launch) -> Container {
    let (cpu, memory) = resources(settings, launch);
    let limits = BTreeMap::from([
        ("cpu".to_string(), Quantity(cpu)),
        ("memory".to_string(), Quantity(memory)),
    ]);
    Container {
        name: WORKER_CONTAINER.into(),
        image: Some(
            launch
                .image
                .clone()
                .unwrap_or_else(|| settings.image.clone()),
        ),
        command: Some(vec![format!("{HARNESS_DIR}/harness")]),
        args: Some(launch.args.clone()),
        working_dir: Some(WORKSPACE_DIR.into()),
        env: Some(env(launch)),
        resources: Some(ResourceRequirements {
            limits: Some(limits.clone()),
            requests: Some(limits),
            ..Default::default()
        }),
        security_context: Some(confined()),
        volume_mounts: Some(vec![
            mount("harness-bin", HARNESS_DIR, true),
            mount("workspace", WORKSPACE_DIR, false),
            mount("tmp", "/tmp", false),
        ]),
        ..Default::default()
    }
}

/// The worker's CPU and memory: the settings' when they say, else the attempt's
/// limits, else 2 cores and 4 GiB. Kubernetes has no per-container process limit (it is
/// the kubelet's `podPidsLimit`), so `Limits::pids` is not applied here.
fn resources(settings: &KubernetesSettings, launch: &Launch) -> (String, String) {
    let cpu = match (&settings.cpu, launch.limits) {
        (Some(q), _) => q.as_ref().to_owned(),
        (None, Some(l)) => format!("{}m", l.millicpus),
        (None, None) => "2".to_owned(),
    };
    let memory = match (&settings.memory, launch.limits) {
        (Some(q), _) => q.as_ref().to_owned(),
        (None, Some(l)) => format!("{}Mi", l.memory_mb),
        (None, None) => "4Gi".to_owned(),
    };
    (cpu, memory)
}

/// Plain variables by value, secrets by reference to the attempt's Secret.
fn env(launch: &Launch) -> Vec<EnvVar> {
    let secret_name = object_name(&launch.attempt);
    let home = EnvVar {
        name: "HOME".into(),
        value: Some("/tmp".into()),
        ..Default::default()
    };
    let sandbox = (!launch
        .env
        .iter()
        .any(|(k, _)| k == harness_worker::ENV_SANDBOX))
    .then(|| EnvVar {
        name: harness_worker::ENV_SANDBOX.into(),
        value: Some(harness_worker::CONTAINER_SANDBOX.into()),
        ..Default::default()
    });
    let plain = launch.env.iter().map(|(name, value)| EnvVar {
        name: name.clone(),
        value: Some(value.clone()),
        ..Default::default()
    });
    let secret = launch.secret_env.iter().map(|(name, _)| EnvVar {
        name: name.clone(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret_name.clone(),
                key: name.clone(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    std::iter::once(home)
        .chain(sandbox)
        .chain(plain)
        .chain(secret)
        .collect()
}

fn confined() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        ..Default::default()
    }
}

fn mount(volume: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: volume.into(),
        mount_path: path.into(),
        read_only: Some(read_only),
        ..Default::default()
    }
}

fn volumes(settings: &KubernetesSettings) -> Vec<Volume> {
    let empty = |name: &str, limit: Option<&str>| Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: limit.map(|l| Quantity(l.into())),
            ..Default::default()
        }),
        ..Default::default()
    };
    vec![
        empty("harness-bin", Some("256Mi")),
        empty("workspace", Some(settings.disk.as_ref())),
        empty("tmp", Some("1Gi")),
    ]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::kubernetes::launch::SecretValue;

    fn settings() -> KubernetesSettings {
        toml::from_str(
            r#"
            namespace = "jobs"
            image = "rust:1.95"
            harness_image = "harness:1"
            orchestrator_url = "http://harness:3333"
            cpu = "1500m"
            memory = "3Gi"
            node_selector = { pool = "agents" }
            [[tolerations]]
            key = "dedicated"
            operator = "Exists"
            effect = "NoSchedule"
            "#,
        )
        .unwrap()
    }

    fn launch() -> Launch {
        Launch {
            attempt: AttemptRef::parse("31").unwrap(),
            image: None,
            args: vec!["worker".into()],
            env: vec![("HARNESS_URL".into(), "http://harness:3333".into())],
            secret_env: vec![("HARNESS_ATTEMPT_TOKEN".into(), SecretValue::new("tok"))],
            timeout: Duration::from_secs(1800),
            limits: None,
        }
    }

    #[test]
    fn the_job_never_retries_and_its_deadline_is_the_launch_deadline() {
        let spec = job(&settings(), &launch()).spec.unwrap();
        assert_eq!(spec.backoff_limit, Some(0));
        assert_eq!(spec.active_deadline_seconds, Some(1800));
        assert_eq!(spec.ttl_seconds_after_finished, Some(600));
    }

    #[test]
    fn the_attempt_limits_apply_unless_the_settings_name_cpu_and_memory() {
        let mut s = settings();
        s.cpu = None;
        s.memory = None;
        let mut l = launch();
        l.limits = Some(crate::Limits {
            millicpus: 750,
            memory_mb: 2048,
            pids: 100,
        });
        assert_eq!(resources(&s, &l), ("750m".into(), "2048Mi".into()));
        assert_eq!(resources(&settings(), &l), ("1500m".into(), "3Gi".into()));
        l.limits = None;
        assert_eq!(resources(&s, &l), ("2".into(), "4Gi".into()));
    }

    #[test]
    fn the_worker_runs_confined_with_the_configured_limits() {
        let pod = job(&settings(), &launch())
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        assert_eq!(pod.automount_service_account_token, Some(false));
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        let worker = &pod.containers[0];
        let sc = worker.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop,
            Some(vec!["ALL".into()])
        );
        let limits = worker.resources.as_ref().unwrap().limits.as_ref().unwrap();
        assert_eq!(limits["cpu"].0, "1500m");
        assert_eq!(limits["memory"].0, "3Gi");
        assert_eq!(worker.image.as_deref(), Some("rust:1.95"));
        assert_eq!(pod.node_selector.unwrap()["pool"], "agents");
        assert_eq!(
            pod.tolerations.unwrap()[0].operator.as_deref(),
            Some("Exists")
        );
    }

    #[test]
    fn a_secret_reaches_the_worker_by_reference_never_by_value() {
        let job = job(&settings(), &launch());
        let text = serde_json::to_string(&job).unwrap();
        assert!(!text.contains("\"tok\""), "{text}");
        let pod = job.spec.unwrap().template.spec.unwrap();
        let env = pod.containers[0].env.as_ref().unwrap();
        let token = env
            .iter()
            .find(|e| e.name == "HARNESS_ATTEMPT_TOKEN")
            .unwrap();
        let key_ref = token
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(key_ref.name, "harness-attempt-31");
        let secret = secret(&settings(), &launch());
        assert_eq!(secret.data.unwrap()["HARNESS_ATTEMPT_TOKEN"].0, b"tok");
    }

    #[test]
    fn an_image_chosen_for_the_attempt_wins_over_the_configured_one() {
        let mut launch = launch();
        launch.image = Some("node:22".into());
        let pod = job(&settings(), &launch)
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        assert_eq!(pod.containers[0].image.as_deref(), Some("node:22"));
    }
}
