//! The `kubernetes` executor against a stand-in API server (testkit/src/fake_kube.rs)
//! over real HTTP: what it creates, the statuses it reports as the pod moves, a watch
//! cut and resumed, scheduling failures reported as "not started", and cleanup.

use harness_testkit::fake_kube;

mod backend;
mod client;
mod launch;
mod lifecycle;
mod sweep;

use std::time::Duration;

use futures_util::{StreamExt, stream::BoxStream};
use harness::executor::kubernetes::{
    AttemptRef, KubeError, KubernetesExecutor, KubernetesSettings, Launch, Launched, SecretValue,
    Status, client,
};

use fake_kube::FakeKube;

pub const NS: &str = "harness-jobs";
pub const TOKEN: &str = "attempt-credential-0123456789";

pub fn settings(extra: &str) -> KubernetesSettings {
    toml::from_str(&format!(
        r#"
        namespace = "{NS}"
        image = "rust:1.95-bookworm"
        harness_image = "ghcr.io/example/parent-harness:1.0"
        orchestrator_url = "http://parent-harness:3333"
        cpu = "1500m"
        memory = "3Gi"
        {grace}
        {extra}
        "#,
        grace = if extra.contains("unschedulable_grace_secs") {
            ""
        } else {
            "unschedulable_grace_secs = 0"
        },
    ))
    .expect("test settings parse")
}

/// An executor talking to `fake` through the same client constructor as production.
pub fn executor(fake: &FakeKube, settings: KubernetesSettings) -> KubernetesExecutor {
    let mut config = kube::Config::new(fake.url().parse().unwrap());
    config.default_namespace = NS.into();
    KubernetesExecutor::new(client(config).expect("client"), settings)
}

pub fn launch(id: &str) -> Launch {
    Launch {
        attempt: AttemptRef::parse(id).unwrap(),
        image: None,
        args: vec!["worker".into()],
        env: vec![("HARNESS_URL".into(), "http://parent-harness:3333".into())],
        secret_env: vec![("HARNESS_ATTEMPT_TOKEN".into(), SecretValue::new(TOKEN))],
        timeout: Duration::from_secs(1800),
        limits: None,
    }
}

/// An attempt's statuses, read by a task as the scheduler would, so the watch keeps
/// running between the test's reads.
pub struct Statuses(tokio::sync::mpsc::Receiver<Result<Status, KubeError>>);

pub fn watch(exec: &KubernetesExecutor, launched: &Launched) -> Statuses {
    let mut stream: BoxStream<'static, _> = exec.watch(launched);
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(status) = stream.next().await {
            if tx.send(status).await.is_err() {
                return;
            }
        }
    });
    Statuses(rx)
}

/// The next status (`None` once the watch ended), failing the test after 10 s rather
/// than hanging.
pub async fn next(statuses: &mut Statuses) -> Option<Result<Status, KubeError>> {
    tokio::time::timeout(Duration::from_secs(10), statuses.0.recv())
        .await
        .expect("a status within 10 s")
}

pub async fn next_status(statuses: &mut Statuses) -> Status {
    next(statuses)
        .await
        .expect("stream open")
        .expect("no watch error")
}

/// Polls `check` until it holds or 10 s pass.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
