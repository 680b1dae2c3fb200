//! The sweep at startup.

use serde_json::json;

use crate::{
    NS, executor,
    fake_kube::{FakeKube, Kind},
    launch, settings,
};

#[tokio::test]
async fn the_sweep_removes_this_harness_leftovers_and_nothing_else() {
    let fake = FakeKube::start().await;
    let before = executor(&fake, settings(""));
    before.launch(&launch("40")).await.unwrap();
    before.launch(&launch("41")).await.unwrap();
    // Another harness's Job in the same namespace, and a Secret of the user's.
    fake.create(
        Kind::Job,
        NS,
        json!({"metadata": {"name": "harness-attempt-40-other", "labels": {
                "app.kubernetes.io/managed-by": "parent-harness",
                "app.kubernetes.io/component": "attempt",
                "parent-harness/instance": "team-b"}},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "worker", "image": "busybox"}]}}}}),
    );
    fake.create(
        Kind::Secret,
        NS,
        json!({"metadata": {"name": "user-secret"}, "data": {}}),
    );

    // The orchestrator restarts: a fresh executor sweeps.
    let after = executor(&fake, settings(""));
    let mut swept = after.sweep().await.expect("sweep");
    swept.jobs.sort();
    swept.secrets.sort();
    assert_eq!(swept.jobs, vec!["harness-attempt-40", "harness-attempt-41"]);
    assert_eq!(
        swept.secrets,
        vec!["harness-attempt-40", "harness-attempt-41"]
    );
    assert_eq!(fake.names(Kind::Job, NS), vec!["harness-attempt-40-other"]);
    assert_eq!(fake.names(Kind::Secret, NS), vec!["user-secret"]);
    let pods = fake.names(Kind::Pod, NS);
    assert_eq!(
        pods.len(),
        1,
        "only the other harness's pod is left: {pods:?}"
    );
    assert!(pods[0].starts_with("harness-attempt-40-other-"));

    // A second sweep finds nothing.
    assert_eq!(after.sweep().await.unwrap(), Default::default());
}
