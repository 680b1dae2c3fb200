//! The docker executor's backend against the real Docker engine (DOCKER_HOST or the
//! local socket): a container per attempt with the harness binary mounted read-only,
//! the limits and confinement applied, its exit seen, its output read, and nothing left
//! behind. Fails when no engine answers: CI starts one. Uses only `debian:bookworm-slim`
//! (built locally by scripts/docker-base-image; nothing is pulled).

use std::{collections::BTreeMap, time::Duration};

use bollard::{Docker, query_parameters::InspectContainerOptions};
use harness::{
    config::executors::RemoteSettings,
    executor::{
        ExecutorBackend, ExecutorError, Handle, Launch, Limits, NetworkMode, Status,
        docker::DockerBackend,
    },
};

/// Polls the worker's status every `every` until it is neither `Pending` nor `Running`.
async fn wait_done(
    backend: &dyn ExecutorBackend,
    handle: &Handle,
    every: Duration,
) -> Result<Status, ExecutorError> {
    loop {
        match backend.status(handle).await {
            Ok(Status::Pending | Status::Running { .. }) => {}
            done => return done,
        }
        tokio::time::sleep(every).await;
    }
}

fn settings() -> RemoteSettings {
    RemoteSettings {
        max_concurrent: 1,
        orchestrator_url: None,
        network: NetworkMode::None,
        limits: Limits {
            millicpus: 500,
            memory_mb: 256,
            pids: 64,
        },
        image: None,
        heartbeat_timeout: Duration::from_secs(5),
        harness_binary: Some(
            std::env::var("HARNESS_TEST_WORKER_BINARY")
                .unwrap_or_else(|_| env!("CARGO_BIN_EXE_harness").to_owned())
                .into(),
        ),
    }
}

fn launch(attempt: i64, owner: &str) -> Launch {
    Launch {
        attempt,
        image: "debian:bookworm-slim".into(),
        command: vec!["worker".into()],
        // No URL: the worker says so and exits 1, which is what this test needs.
        env: BTreeMap::from([("HARNESS_WORKER_TOKEN".into(), "not-a-real-one".into())]),
        limits: settings().limits,
        network: NetworkMode::None,
        labels: BTreeMap::from([
            ("parent-harness.attempt".into(), attempt.to_string()),
            ("parent-harness.owner".into(), owner.into()),
        ]),
        deadline: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn a_worker_container_is_confined_limited_observed_and_removed() {
    let backend = DockerBackend::connect(&settings())
        .await
        .expect("a Docker engine must answer (CI starts dockerd)");
    let docker = Docker::connect_with_defaults().unwrap();
    let owner = format!("test-{}", std::process::id());
    let attempt = 900_000 + i64::from(std::process::id() % 10_000);
    let handle = backend.launch(&launch(attempt, &owner)).await.unwrap();

    let inspected = docker
        .inspect_container(&handle.id, None::<InspectContainerOptions>)
        .await
        .unwrap();
    let host = inspected.host_config.unwrap();
    assert_eq!(host.memory, Some(256 << 20));
    assert_eq!(host.nano_cpus, Some(500_000_000));
    assert_eq!(host.pids_limit, Some(64));
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    assert!(
        host.security_opt
            .unwrap_or_default()
            .iter()
            .any(|o| o.starts_with("no-new-privileges"))
    );
    let binds = host.binds.unwrap_or_default();
    assert!(
        binds.iter().all(|b| !b.contains("docker.sock")),
        "{binds:?}"
    );
    assert!(
        binds
            .iter()
            .any(|b| b.ends_with(":/opt/harness/harness:ro")),
        "{binds:?}"
    );
    let config = inspected.config.unwrap();
    assert_eq!(config.user.as_deref(), Some("65532:65532"));

    let done = wait_done(&backend, &handle, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(done, Status::Exited(1));
    let tail = backend.logs_tail(&handle, 4096).await;
    assert!(tail.contains("HARNESS_WORKER_URL is not set"), "{tail:?}");

    backend.remove(&handle).await.unwrap();
    assert!(matches!(
        backend.status(&handle).await.unwrap(),
        Status::Lost(_)
    ));
    // Removing twice is fine.
    backend.remove(&handle).await.unwrap();

    // The orchestrator restarts: a new backend re-adopts one attempt's container by its
    // recorded name (checked against the attempt's label), and sweeps only the other.
    let leftover = backend.launch(&launch(attempt + 1, &owner)).await.unwrap();
    let running = backend.launch(&launch(attempt + 2, &owner)).await.unwrap();
    drop(backend);
    let backend = DockerBackend::connect(&settings()).await.unwrap();
    let wrong = backend.adopt(attempt + 1, &running.name).await;
    assert!(wrong.is_err(), "adopted another attempt's container");
    let adopted = backend.adopt(attempt + 2, &running.name).await.unwrap();
    assert_eq!(adopted.id, running.id);
    let owned = BTreeMap::from([("parent-harness.owner".to_owned(), owner.clone())]);
    let swept = backend
        .sweep(&owned, &std::collections::BTreeSet::from([attempt + 2]))
        .await
        .unwrap();
    assert_eq!(swept, 1, "only the attempt that was not adopted");
    assert!(matches!(
        backend.status(&leftover).await.unwrap(),
        Status::Lost(_)
    ));
    assert!(!matches!(
        backend.status(&adopted).await.unwrap(),
        Status::Lost(_)
    ));
    backend.remove(&adopted).await.unwrap();
    assert_eq!(
        backend.sweep(&owned, &Default::default()).await.unwrap(),
        0,
        "nothing left behind"
    );
}
