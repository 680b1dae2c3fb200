//! What a launch creates.

use serde_json::{Value, json};

use crate::{
    NS, TOKEN, executor,
    fake_kube::{FakeKube, Kind},
    launch, settings,
};

const PLACEMENT: &str = r#"
    ttl_seconds_after_finished = 300
    node_selector = { "pool" = "agents" }
    [[tolerations]]
    key = "dedicated"
    operator = "Equal"
    value = "agents"
    effect = "NoSchedule"
"#;

#[tokio::test]
async fn a_launch_creates_a_confined_job_and_a_secret_the_job_owns() {
    let fake = FakeKube::start().await;
    let exec = executor(&fake, settings(PLACEMENT));
    let launched = exec.launch(&launch("17")).await.expect("launch");
    assert_eq!(launched.name, "harness-attempt-17");

    let job = fake
        .get(Kind::Job, NS, "harness-attempt-17")
        .expect("job created");
    assert_eq!(job["metadata"]["uid"], json!(launched.job_uid));
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 1800);
    assert_eq!(job["spec"]["ttlSecondsAfterFinished"], 300);
    assert_eq!(job["metadata"]["labels"]["parent-harness/attempt"], "17");

    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["nodeSelector"], json!({"pool": "agents"}));
    assert_eq!(
        pod["tolerations"],
        json!([{"key": "dedicated", "operator": "Equal", "value": "agents", "effect": "NoSchedule"}])
    );
    let worker = &pod["containers"][0];
    assert_eq!(worker["image"], "rust:1.95-bookworm");
    assert_eq!(worker["command"], json!(["/opt/harness/harness"]));
    assert_eq!(worker["args"], json!(["worker"]));
    assert_eq!(
        worker["resources"]["limits"],
        json!({"cpu": "1500m", "memory": "3Gi"})
    );
    assert_eq!(
        worker["resources"]["requests"],
        json!({"cpu": "1500m", "memory": "3Gi"})
    );
    let sc = &worker["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    let init = &pod["initContainers"][0];
    assert_eq!(init["image"], "ghcr.io/example/parent-harness:1.0");
    assert_eq!(
        init["securityContext"]["capabilities"]["drop"],
        json!(["ALL"])
    );

    // The credential reaches the pod by reference only.
    let env = worker["env"].as_array().unwrap();
    let token = env
        .iter()
        .find(|e| e["name"] == "HARNESS_ATTEMPT_TOKEN")
        .unwrap();
    assert_eq!(
        token["valueFrom"]["secretKeyRef"],
        json!({"name": "harness-attempt-17", "key": "HARNESS_ATTEMPT_TOKEN", "optional": false})
    );
    assert!(
        !job.to_string().contains(TOKEN),
        "the Job must not carry the secret"
    );

    let secret = fake
        .get(Kind::Secret, NS, "harness-attempt-17")
        .expect("secret created");
    use base64::Engine as _;
    let stored = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["HARNESS_ATTEMPT_TOKEN"].as_str().unwrap())
        .unwrap();
    assert_eq!(stored, TOKEN.as_bytes());
    let owners = secret["metadata"]["ownerReferences"]
        .as_array()
        .expect("owned");
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0]["kind"], "Job");
    assert_eq!(owners[0]["apiVersion"], "batch/v1");
    assert_eq!(owners[0]["name"], "harness-attempt-17");
    assert_eq!(owners[0]["uid"], json!(launched.job_uid));
}

#[tokio::test]
async fn an_image_chosen_for_the_attempt_replaces_the_configured_one() {
    let fake = FakeKube::start().await;
    let exec = executor(&fake, settings(""));
    let mut attempt = launch("18");
    attempt.image = Some("node:22-bookworm".into());
    exec.launch(&attempt).await.expect("launch");
    let job = fake.get(Kind::Job, NS, "harness-attempt-18").unwrap();
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["image"],
        "node:22-bookworm"
    );
    assert_eq!(
        job["spec"]["template"]["spec"].get("nodeSelector"),
        None::<&Value>
    );
}

#[tokio::test]
async fn a_job_the_api_server_refuses_leaves_no_secret_behind() {
    let fake = FakeKube::start().await;
    let exec = executor(&fake, settings(""));
    let mut attempt = launch("19");
    attempt.image = Some(String::new());
    let err = exec.launch(&attempt).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("cannot create the attempt's Job"),
        "{text}"
    );
    assert!(text.contains("containers[0].image"), "{text}");
    assert!(fake.names(Kind::Secret, NS).is_empty());
    assert!(fake.names(Kind::Job, NS).is_empty());
}

#[tokio::test]
async fn a_second_launch_of_the_same_attempt_is_refused_as_already_existing() {
    let fake = FakeKube::start().await;
    let exec = executor(&fake, settings(""));
    exec.launch(&launch("20")).await.expect("first launch");
    let err = exec.launch(&launch("20")).await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(fake.names(Kind::Job, NS), vec!["harness-attempt-20"]);
}
