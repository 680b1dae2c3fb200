//! Statuses as the pod moves, a cut watch, scheduling failures, logs and removal.

use harness::executor::kubernetes::{Latest, Status};
use serde_json::json;

use crate::{
    NS, eventually, executor,
    fake_kube::{FakeKube, Kind},
    launch, next, next_status, settings, watch,
};

#[tokio::test]
async fn a_pod_that_runs_and_exits_zero_is_reported_pending_running_succeeded() {
    let fake = FakeKube::start().await;
    let exec = executor(&fake, settings(""));
    let launched = exec.launch(&launch("1")).await.unwrap();
    let mut statuses = watch(&exec, &launched);
    assert_eq!(next_status(&mut statuses).await, Status::Pending);

    fake.schedule(NS, &launched.name, "node-a");
    fake.run(NS, &launched.name);
    let pod = fake.pod_of(NS, &launched.name).unwrap();
    assert_eq!(
        next_status(&mut statuses).await,
        Status::Running {
            pod: pod.clone(),
            node: Some("node-a".into())
        }
    );
    fake.set_log(NS, &launched.name, "cloning\nrunning agent\ndone");
    fake.succeed(NS, &launched.name);
    assert_eq!(next_status(&mut statuses).await, Status::Succeeded);
    assert!(
        next(&mut statuses).await.is_none(),
        "the watch ends after a final status"
    );

    let log = exec.logs(&launched).await.unwrap().expect("pod exists");
    assert_eq!(log, "cloning\nrunning agent\ndone\n");
    let log_request = fake
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/log"))
        .unwrap();
    assert_eq!(
        log_request.path,
        format!("/api/v1/namespaces/{NS}/pods/{pod}/log")
    );
    assert_eq!(log_request.query["container"], "worker");
    assert_eq!(log_request.query["tailLines"], "200");
}

#[tokio::test]
async fn a_worker_that_exits_non_zero_is_reported_failed_with_its_exit_code() {
    let fake = FakeKube::start().await;
    let exec = executor(&fake, settings(""));
    let launched = exec.launch(&launch("2")).await.unwrap();
    let mut statuses = watch(&exec, &launched);
    assert_eq!(next_status(&mut statuses).await, Status::Pending);
    fake.schedule(NS, &launched.name, "node-a");
    fake.run(NS, &launched.name);
    assert!(matches!(
        next_status(&mut statuses).await,
        Status::Running { .. }
    ));
    fake.fail(NS, &launched.name, 3, "Error");
    assert_eq!(
        next_status(&mut statuses).await,
        Status::Failed {
            reason: "worker exited 3 (Error)".into(),
            exit_code: Some(3),
        }
    );
}

#[tokio::test]
async fn a_job_past_its_deadline_is_reported_failed_for_the_deadline() {
    let fake = FakeKube::start().await;
    let exec = executor(&fake, settings(""));
    let launched = exec.launch(&launch("3")).await.unwrap();
    let mut statuses = watch(&exec, &launched);
    assert_eq!(next_status(&mut statuses).await, Status::Pending);
    fake.schedule(NS, &launched.name, "node-a");
    fake.run(NS, &launched.name);
    assert!(matches!(
        next_status(&mut statuses).await,
        Status::Running { .. }
    ));
    fake.deadline_exceeded(NS, &launched.name);
    let Status::Failed { reason, .. } = next_status(&mut statuses).await else {
        panic!("expected a failure")
    };
    assert!(reason.contains("deadline"), "{reason}");
}

#[tokio::test]
async fn a_cut_watch_resumes_from_the_last_resource_version_without_relisting() {
    let fake = FakeKube::start().await;
    let exec = executor(&fake, settings(""));
    let launched = exec.launch(&launch("4")).await.unwrap();
    let mut statuses = watch(&exec, &launched);
    assert_eq!(next_status(&mut statuses).await, Status::Pending);
    eventually("the Job and pod watches open", || fake.open_watches() == 2).await;

    fake.cut_watches();
    // The pod starts while the watches are down: only a resumed watch can tell.
    fake.schedule(NS, &launched.name, "node-b");
    fake.run(NS, &launched.name);
    assert!(matches!(
        next_status(&mut statuses).await,
        Status::Running { node: Some(node), .. } if node == "node-b"
    ));

    let pod_path = format!("/api/v1/namespaces/{NS}/pods");
    let requests: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == pod_path && r.method == "GET")
        .collect();
    let lists = requests.iter().filter(|r| !r.is_watch()).count();
    let watches: Vec<_> = requests.iter().filter(|r| r.is_watch()).collect();
    assert_eq!(lists, 1, "a resumed watch does not relist: {requests:?}");
    assert_eq!(watches.len(), 2, "the watch was opened again: {requests:?}");
    // No pod event reached the first watch, so the second resumes where it began.
    let resumed_from = &watches[1].query["resourceVersion"];
    assert_ne!(resumed_from, "0");
    assert_eq!(resumed_from, &watches[0].query["resourceVersion"]);
    assert_eq!(
        watches[1].query["labelSelector"],
        watches[0].query["labelSelector"]
    );

    fake.succeed(NS, &launched.name);
    assert_eq!(next_status(&mut statuses).await, Status::Succeeded);
}

#[tokio::test]
async fn a_watch_resumed_after_its_version_expired_lists_again_and_goes_on() {
    let fake = FakeKube::start_with_history(4).await;
    let exec = executor(&fake, settings(""));
    let launched = exec.launch(&launch("9")).await.unwrap();
    let mut statuses = watch(&exec, &launched);
    assert_eq!(next_status(&mut statuses).await, Status::Pending);
    eventually("the Job and pod watches open", || fake.open_watches() == 2).await;
    // Other objects change while the watches are open, until the server has forgotten
    // the version they started from.
    for i in 0..6 {
        fake.create(
            Kind::Secret,
            NS,
            json!({"metadata": {"name": format!("noise-{i}")}, "data": {}}),
        );
    }
    fake.cut_watches();
    fake.schedule(NS, &launched.name, "node-c");
    fake.run(NS, &launched.name);
    assert!(matches!(
        next_status(&mut statuses).await,
        Status::Running { node: Some(node), .. } if node == "node-c"
    ));
    let pod_lists = fake
        .requests()
        .into_iter()
        .filter(|r| {
            r.path == format!("/api/v1/namespaces/{NS}/pods") && r.method == "GET" && !r.is_watch()
        })
        .count();
    assert_eq!(
        pod_lists, 2,
        "an expired version is answered by listing again"
    );
}

#[tokio::test]
async fn an_image_pull_back_off_is_reported_as_not_started_with_the_kubelet_reason() {
    let fake = FakeKube::start().await;
    let exec = executor(&fake, settings(""));
    let mut attempt = launch("5");
    attempt.image = Some("registry.example/missing:1".into());
    let launched = exec.launch(&attempt).await.unwrap();
    let mut statuses = watch(&exec, &launched);
    assert_eq!(next_status(&mut statuses).await, Status::Pending);
    fake.image_pull_back_off(NS, &launched.name, "node-a");
    let status = next_status(&mut statuses).await;
    assert!(!status.uses_attempt(), "{status:?}");
    let Status::NotStarted { reason } = status else {
        panic!("an image pull failure is not a failed attempt")
    };
    assert!(reason.starts_with("ImagePullBackOff (worker)"), "{reason}");
    assert!(reason.contains("registry.example/missing:1"), "{reason}");
    assert!(next(&mut statuses).await.is_none());

    exec.remove(&launched).await.unwrap();
    assert!(fake.names(Kind::Job, NS).is_empty());
    assert!(fake.names(Kind::Pod, NS).is_empty());
    assert!(fake.names(Kind::Secret, NS).is_empty());
}

#[tokio::test]
async fn an_unschedulable_pod_is_reported_as_not_started_with_the_scheduler_message() {
    let fake = FakeKube::start().await;
    let exec = executor(&fake, settings(""));
    let launched = exec.launch(&launch("6")).await.unwrap();
    let mut statuses = watch(&exec, &launched);
    assert_eq!(next_status(&mut statuses).await, Status::Pending);
    let message =
        "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available";
    fake.unschedulable(NS, &launched.name, message);
    assert_eq!(
        next_status(&mut statuses).await,
        Status::NotStarted {
            reason: format!("unschedulable: {message}")
        }
    );
}

#[tokio::test]
async fn an_unschedulable_pod_within_the_grace_stays_pending_and_can_still_run() {
    let fake = FakeKube::start().await;
    let exec = executor(&fake, settings("unschedulable_grace_secs = 3600").clone());
    let launched = exec.launch(&launch("7")).await.unwrap();
    let mut statuses = watch(&exec, &launched);
    assert_eq!(next_status(&mut statuses).await, Status::Pending);
    fake.unschedulable(NS, &launched.name, "0/3 nodes are available");
    // A node comes up (autoscaler): the next status is Running, not NotStarted.
    fake.schedule(NS, &launched.name, "node-new");
    fake.run(NS, &launched.name);
    assert!(matches!(
        next_status(&mut statuses).await,
        Status::Running { node: Some(node), .. } if node == "node-new"
    ));
}

#[tokio::test]
async fn remove_deletes_the_job_in_the_background_and_its_secret() {
    let fake = FakeKube::start().await;
    let exec = executor(&fake, settings(""));
    let launched = exec.launch(&launch("8")).await.unwrap();
    fake.schedule(NS, &launched.name, "node-a");
    fake.run(NS, &launched.name);
    exec.remove(&launched).await.unwrap();

    let deletes: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .collect();
    let job_delete = deletes
        .iter()
        .find(|r| r.path == format!("/apis/batch/v1/namespaces/{NS}/jobs/harness-attempt-8"))
        .expect("the Job is deleted");
    assert_eq!(
        job_delete.body.as_ref().unwrap()["propagationPolicy"],
        json!("Background")
    );
    assert!(
        deletes
            .iter()
            .any(|r| r.path == format!("/api/v1/namespaces/{NS}/secrets/harness-attempt-8")),
        "the Secret is deleted explicitly: {deletes:?}"
    );
    assert!(fake.names(Kind::Job, NS).is_empty());
    assert!(fake.names(Kind::Pod, NS).is_empty());
    assert!(fake.names(Kind::Secret, NS).is_empty());

    // Removing again (a retry after a cut connection) is not an error.
    exec.remove(&launched).await.expect("idempotent");
    assert_eq!(exec.logs(&launched).await.unwrap(), None);
}

#[tokio::test]
async fn a_follower_keeps_the_latest_status_and_stops_watching_when_dropped() {
    let fake = FakeKube::start().await;
    let exec = executor(&fake, settings(""));
    let launched = exec.launch(&launch("10")).await.unwrap();
    let mut follower = exec.follow(&launched);
    eventually("the Job and pod watches open", || fake.open_watches() == 2).await;
    assert!(matches!(follower.latest(), Latest::Status(Status::Pending)));

    fake.schedule(NS, &launched.name, "node-a");
    fake.run(NS, &launched.name);
    let running = tokio::time::timeout(std::time::Duration::from_secs(10), follower.changed())
        .await
        .unwrap();
    assert!(
        matches!(running, Latest::Status(Status::Running { .. })),
        "{running:?}"
    );
    assert!(matches!(
        follower.latest(),
        Latest::Status(Status::Running { .. })
    ));

    drop(follower);
    eventually("the watches closed", || fake.open_watches() == 0).await;
}
