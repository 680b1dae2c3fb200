//! The kubernetes executor through the scheduler's `ExecutorBackend` interface: statuses
//! polled from the background watch, the scheduler's statuses for success, a worker's
//! exit code and an image that cannot be pulled, secrets apart, and removal.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use harness::executor::{
    ExecutorBackend, ExecutorKind, Handle, Launch, Limits, NetworkMode, Status,
    kubernetes::KubernetesBackend,
};
use serde_json::json;

use crate::{
    NS, TOKEN, executor,
    fake_kube::{FakeKube, Kind},
    settings,
};

fn launch(attempt: i64) -> Launch {
    Launch {
        attempt,
        image: "debian:bookworm-slim".into(),
        command: vec!["worker".into()],
        env: BTreeMap::from([
            (
                "HARNESS_WORKER_URL".into(),
                "http://parent-harness:3333".into(),
            ),
            ("HARNESS_WORKER_TOKEN".into(), TOKEN.into()),
        ]),
        limits: Limits {
            millicpus: 500,
            memory_mb: 1024,
            pids: 256,
        },
        network: NetworkMode::default(),
        labels: BTreeMap::new(),
        deadline: Duration::from_secs(1920),
    }
}

/// Polls the backend until `want` holds for its status, or 10 s pass.
async fn status_until(
    backend: &KubernetesBackend,
    handle: &Handle,
    want: impl Fn(&Status) -> bool,
) -> Status {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = backend.status(handle).await.expect("status");
        if want(&status) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "status still {status:?} after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_launched_job_goes_pending_running_exited_zero_and_is_removed() {
    let fake = FakeKube::start().await;
    // No cpu/memory in the settings: the attempt's limits apply.
    let backend = KubernetesBackend::new(executor(
        &fake,
        harness::executor::kubernetes::KubernetesSettings {
            cpu: None,
            memory: None,
            ..settings("")
        },
    ));
    assert_eq!(backend.kind(), ExecutorKind::Kubernetes);
    let handle = backend.launch(&launch(41)).await.expect("launch");
    assert_eq!(handle.name, "harness-attempt-41");

    let job = fake.get(Kind::Job, NS, &handle.id).expect("job created");
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 1920, "no extra slack");
    let worker = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(worker["image"], "debian:bookworm-slim");
    assert_eq!(
        worker["resources"]["limits"],
        json!({"cpu": "500m", "memory": "1024Mi"})
    );
    let env = worker["env"].as_array().unwrap();
    let url = env
        .iter()
        .find(|e| e["name"] == "HARNESS_WORKER_URL")
        .unwrap();
    assert_eq!(url["value"], "http://parent-harness:3333");
    let token = env
        .iter()
        .find(|e| e["name"] == "HARNESS_WORKER_TOKEN")
        .unwrap();
    assert!(
        token.get("value").is_none(),
        "the credential is not in the Job"
    );
    assert_eq!(
        token["valueFrom"]["secretKeyRef"]["name"],
        "harness-attempt-41"
    );
    let secret = fake.get(Kind::Secret, NS, &handle.id).expect("secret");
    assert!(secret["data"].get("HARNESS_WORKER_TOKEN").is_some());
    assert!(secret["data"].get("HARNESS_WORKER_URL").is_none());

    assert_eq!(backend.status(&handle).await.unwrap(), Status::Pending);
    fake.schedule(NS, &handle.id, "node-a");
    fake.run(NS, &handle.id);
    let on_node_a = Status::Running {
        node: Some("node-a".into()),
    };
    status_until(&backend, &handle, |s| *s == on_node_a).await;
    fake.set_log(NS, &handle.id, "cloning\ndone");
    fake.succeed(NS, &handle.id);
    status_until(&backend, &handle, |s| *s == Status::Exited(0)).await;
    assert_eq!(backend.logs_tail(&handle, 4).await, "one\n");

    backend.remove(&handle).await.expect("remove");
    assert!(fake.get(Kind::Job, NS, &handle.id).is_none());
    assert!(fake.get(Kind::Secret, NS, &handle.id).is_none());
    assert!(
        matches!(backend.status(&handle).await.unwrap(), Status::Lost(_)),
        "a removed attempt is no longer followed"
    );
    backend.remove(&handle).await.expect("removing twice is Ok");
}

#[tokio::test]
async fn a_worker_exit_code_is_reported_as_exited() {
    let fake = FakeKube::start().await;
    let backend = KubernetesBackend::new(executor(&fake, settings("")));
    let handle = backend.launch(&launch(42)).await.expect("launch");
    fake.schedule(NS, &handle.id, "node-a");
    fake.run(NS, &handle.id);
    // As in lifecycle.rs: the exit code is read once the pod was seen running.
    status_until(&backend, &handle, |s| matches!(s, Status::Running { .. })).await;
    fake.fail(NS, &handle.id, 3, "Error");
    status_until(&backend, &handle, |s| *s == Status::Exited(3)).await;
    backend.remove(&handle).await.unwrap();
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_fails_without_using_an_attempt() {
    let fake = FakeKube::start().await;
    let backend = KubernetesBackend::new(executor(&fake, settings("")));
    let handle = backend.launch(&launch(43)).await.expect("launch");
    fake.image_pull_back_off(NS, &handle.id, "node-a");
    let status = status_until(&backend, &handle, |s| *s != Status::Pending).await;
    let Status::Failed {
        reason,
        uses_attempt,
    } = status
    else {
        panic!("expected a failure, got {status:?}")
    };
    assert!(!uses_attempt);
    assert!(reason.starts_with("ImagePullBackOff"), "{reason}");
    backend.remove(&handle).await.unwrap();
    assert!(fake.get(Kind::Job, NS, &handle.id).is_none());
}

#[tokio::test]
async fn after_a_restart_a_running_job_is_re_adopted_and_spared_by_the_sweep() {
    let fake = FakeKube::start().await;
    let before = KubernetesBackend::new(executor(&fake, settings("")));
    let kept = before.launch(&launch(51)).await.expect("launch");
    let stale = before.launch(&launch(52)).await.expect("launch");
    fake.schedule(NS, &kept.id, "node-a");
    fake.run(NS, &kept.id);
    drop(before);

    // The orchestrator restarts: a fresh backend finds the Job by the recorded name.
    let after = KubernetesBackend::new(executor(&fake, settings("")));
    let handle = after.adopt(51, &kept.name).await.expect("adopt");
    assert_eq!(handle, kept);
    status_until(&after, &handle, |s| matches!(s, Status::Running { .. })).await;
    let swept = after
        .sweep(&BTreeMap::new(), &BTreeSet::from([51]))
        .await
        .expect("sweep");
    assert_eq!(swept, 1, "only the attempt that was not adopted");
    assert!(fake.get(Kind::Job, NS, &stale.id).is_none());
    assert!(fake.get(Kind::Secret, NS, &kept.id).is_some());
    // It is followed on to its end.
    fake.succeed(NS, &handle.id);
    status_until(&after, &handle, |s| *s == Status::Exited(0)).await;
    // A Job that is gone cannot be adopted.
    let gone = after.adopt(52, &stale.name).await.unwrap_err();
    assert!(gone.to_string().contains("harness-attempt-52"), "{gone}");
}
