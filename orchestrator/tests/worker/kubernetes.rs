//! An agent with `executor = "kubernetes"`: the real server starts the kubernetes
//! backend from its settings (a kubeconfig pointing at the API stand-in of
//! testkit/src/fake_kube.rs), the scheduler launches the attempt as a Job there, and a
//! pod whose image cannot be pulled ends the attempt without using one, saying why.

use std::time::Duration;

use harness::{
    config::AgentOverride,
    executor::{ExecutorKind, kubernetes::KubernetesSettings},
};
use serde_json::json;

use crate::{
    fake_kube::{FakeKube, Kind},
    git_repo,
    helpers::{TestApp, json_with, spawn_with},
    remote_engine, sessions_of,
};

const NS: &str = "harness-jobs";

fn kubeconfig(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters: [{{name: fake, cluster: {{server: \"{url}\"}}}}]\n\
             users: [{{name: fake, user: {{token: test-token}}}}]\n\
             contexts: [{{name: fake, context: {{cluster: fake, user: fake, namespace: {NS}}}}}]\n"
        ),
    )
    .unwrap();
    path
}

/// Waits until the stand-in holds a Job, and returns its name.
async fn first_job(fake: &FakeKube) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(name) = fake.names(Kind::Job, NS).into_iter().next() {
            return name;
        }
        assert!(tokio::time::Instant::now() < deadline, "no Job was created");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server whose `build-1` agent runs on the kubernetes executor, against `fake`.
async fn cluster_app(fake: &FakeKube, dir: &std::path::Path, repo: &std::path::Path) -> TestApp {
    let config = kubeconfig(dir, &fake.url());
    spawn_with(|s| {
        remote_engine(s, repo, "success", 10.0);
        let settings: KubernetesSettings = toml::from_str(&format!(
            "namespace = \"{NS}\"\nimage = \"rust:1.95-bookworm\"\n\
             harness_image = \"harness:test\"\norchestrator_url = \"http://harness:3333\"\n\
             kubeconfig = \"{}\"\n",
            config.display()
        ))
        .unwrap();
        s.engine.executors.set_kubernetes(settings).unwrap();
        let agent: &mut AgentOverride = s.engine.agents.get_mut("build-1").unwrap();
        agent.executor = Some(ExecutorKind::Kubernetes);
    })
    .await
}

#[tokio::test]
async fn a_kubernetes_agent_s_attempt_is_a_job_and_an_image_pull_failure_requeues_it() {
    let fake = FakeKube::start().await;
    let kube_dir = tempfile::tempdir().unwrap();
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let app = cluster_app(&fake, kube_dir.path(), &git_repo::repo_path(&repo)).await;
    let task = app.create_task(json!({"title": "On the cluster"})).await;

    let job = first_job(&fake).await;
    assert!(job.starts_with("harness-attempt-"), "{job}");
    let spec = fake.get(Kind::Job, NS, &job).unwrap();
    let env = spec["spec"]["template"]["spec"]["containers"][0]["env"].to_string();
    assert!(env.contains("http://harness:3333"), "{env}");
    // The agent names no image: the executor's `image` setting.
    assert_eq!(
        spec["spec"]["template"]["spec"]["containers"][0]["image"],
        "rust:1.95-bookworm"
    );
    assert!(
        fake.get(Kind::Secret, NS, &job).is_some(),
        "the credential's Secret"
    );

    fake.image_pull_back_off(NS, &job, "node-a");
    // The attempt ends saying why, its Job is removed, and the task is not failed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let session = loop {
        let sessions = sessions_of(&app, &task).await;
        if let Some(s) = sessions
            .iter()
            .find(|s| s["executor"] == "kubernetes" && s["ended_at"].is_string())
        {
            break s.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the attempt did not end: {sessions:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(session["executor_name"], job.as_str(), "{session:#}");
    let logs = json_with(
        app.get(&format!("/api/sessions/{}/logs", session["id"]))
            .await,
        reqwest::StatusCode::OK,
    )
    .await;
    // The reason is the session's exit reason (and in its log).
    let text = format!("{session}{}", logs["items"]);
    assert!(text.contains("ImagePullBackOff"), "{text}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while fake.get(Kind::Job, NS, &job).is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Job {job} not removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Requeued, not failed: the next attempt is another Job.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !fake.names(Kind::Job, NS).iter().any(|n| *n != job) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task was not launched again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let task = json_with(
        app.get(&format!("/api/tasks/{}", task["id"])).await,
        reqwest::StatusCode::OK,
    )
    .await;
    assert_ne!(task["status"], "failed", "{task:#}");
    assert!(task["last_failure"].is_null(), "{task:#}");
}

#[tokio::test]
async fn the_session_shows_the_node_its_pod_runs_on() {
    let fake = FakeKube::start().await;
    let kube_dir = tempfile::tempdir().unwrap();
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let app = cluster_app(&fake, kube_dir.path(), &git_repo::repo_path(&repo)).await;
    let task = app.create_task(json!({"title": "Placed on a node"})).await;
    let job = first_job(&fake).await;
    fake.schedule(NS, &job, "node-7");
    fake.run(NS, &job);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let sessions = sessions_of(&app, &task).await;
        if let Some(s) = sessions.iter().find(|s| s["executor"] == "kubernetes")
            && s["executor_node"] == "node-7"
        {
            assert_eq!(s["executor_name"], job.as_str(), "{s:#}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node was not recorded: {sessions:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
