//! What a worker credential opens: one attempt's assignment and branch, nothing else.

use std::{path::Path, process::Command};

use harness::worker::WorkerKey;
use reqwest::StatusCode;
use serde_json::json;

use crate::{git_repo, helpers::spawn_with, remote_engine, running_worker};

fn key_of(app: &crate::helpers::TestApp) -> WorkerKey {
    WorkerKey::load_or_create(&app.dir.path().join("data/worker.key")).unwrap()
}

fn far_future() -> i64 {
    chrono::Utc::now().timestamp() + 3600
}

/// `git` with the credential as a header, from no repository config of the test's.
fn git_as(dir: &Path, token: &str, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.extraHeader")
        .env(
            "GIT_CONFIG_VALUE_0",
            format!("Authorization: Bearer {token}"),
        )
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_finished_credentials_are_refused() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        remote_engine(s, &path, "sleep", 10.0);
        s.api_token = Some(harness::config::Secret::new("the-api-token-of-this-test"));
    })
    .await;
    let task = app.create_task(json!({"title": "Guarded"})).await;
    let session = running_worker(&app, &task).await;
    let attempt = session["id"].as_i64().unwrap();
    let url = format!("http://{}/worker/v1/assignment", app.addr);
    let get = |token: String| {
        let client = app.client.clone();
        let url = url.clone();
        async move { client.get(url).bearer_auth(token).send().await.unwrap() }
    };
    // The real key opens the live attempt's assignment.
    let good = get(key_of(&app).issue(attempt, far_future())).await;
    assert_eq!(good.status(), StatusCode::OK);
    let assignment: serde_json::Value = good.json().await.unwrap();
    assert_eq!(assignment["attempt"], attempt);
    assert!(assignment.to_string().contains("Guarded"));

    let forged = WorkerKey::random().unwrap().issue(attempt, far_future());
    let expired = key_of(&app).issue(attempt, chrono::Utc::now().timestamp() - 1);
    let other_attempt = key_of(&app).issue(attempt + 1000, far_future());
    for (what, token) in [
        ("forged", forged),
        ("expired", expired),
        ("another attempt's", other_attempt),
        ("garbage", "not-a-credential".into()),
    ] {
        let response = get(token).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{what} credential"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{what}: {body}");
    }
    let none = app.client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    // The API token's routes do not take a worker credential either.
    let api = app
        .client
        .get(format!("http://{}/api/tasks", app.addr))
        .bearer_auth(key_of(&app).issue(attempt, far_future()))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    // git over HTTP with a forged credential gets nothing.
    let scratch = tempfile::tempdir().unwrap();
    let forged = WorkerKey::random().unwrap().issue(attempt, far_future());
    let git_url = format!("http://{}/worker/v1/git/repo.git", app.addr);
    let listed = git_as(scratch.path(), &forged, &["ls-remote", &git_url]);
    assert!(!listed.status.success(), "a forged credential listed refs");
    crate::stop_with_workers(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_reads_only_the_base_and_its_branch_and_writes_only_its_branch() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    // Another task's branch and a private one: neither may be seen.
    git_repo::git(&path, &["branch", "harness/T-999"]);
    git_repo::git(&path, &["checkout", "-q", "-b", "secret-work"]);
    std::fs::write(path.join("secret.txt"), "not for this attempt\n").unwrap();
    git_repo::git(&path, &["add", "secret.txt"]);
    git_repo::git(&path, &["commit", "-qm", "secret"]);
    git_repo::git(&path, &["checkout", "-q", "main"]);
    let app = spawn_with(|s| remote_engine(s, &path, "sleep", 10.0)).await;
    let task = app.create_task(json!({"title": "Confined"})).await;
    let session = running_worker(&app, &task).await;
    let branch = session["branch"].as_str().unwrap().to_owned();
    let token = key_of(&app).issue(session["id"].as_i64().unwrap(), far_future());
    let url = format!("http://{}/worker/v1/git/repo.git", app.addr);
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();

    let listed = git_as(dir, &token, &["ls-remote", &url]);
    assert!(listed.status.success(), "{listed:?}");
    let refs = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(refs.contains("refs/heads/main"), "{refs}");
    assert!(refs.contains(&format!("refs/heads/{branch}")), "{refs}");
    assert!(
        !refs.contains("T-999") && !refs.contains("secret-work"),
        "{refs}"
    );

    let clone = git_as(
        dir,
        &token,
        &["clone", "-q", "--branch", &branch, &url, "c"],
    );
    assert!(clone.status.success(), "{clone:?}");
    let c = dir.join("c");
    let fetch_other = git_as(&c, &token, &["fetch", "origin", "secret-work"]);
    assert!(!fetch_other.status.success(), "fetched a hidden branch");
    let secret = git_repo::git(&path, &["rev-parse", "secret-work"]);
    let by_sha = git_as(&c, &token, &["fetch", "origin", &secret]);
    assert!(
        !by_sha.status.success(),
        "fetched a hidden commit by its id"
    );

    std::fs::write(c.join("new.txt"), "work\n").unwrap();
    git_repo::git(&c, &["add", "-A"]);
    git_repo::git(
        &c,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-qm",
            "work",
        ],
    );
    let main_before = git_repo::git(&path, &["rev-parse", "main"]);
    for target in ["main", "harness/T-999", "new-branch"] {
        let pushed = git_as(
            &c,
            &token,
            &["push", "origin", &format!("HEAD:refs/heads/{target}")],
        );
        assert!(!pushed.status.success(), "pushed to {target}");
    }
    assert_eq!(git_repo::git(&path, &["rev-parse", "main"]), main_before);
    let own = git_as(
        &c,
        &token,
        &["push", "origin", &format!("HEAD:refs/heads/{branch}")],
    );
    assert!(own.status.success(), "{own:?}");
    let head = git_repo::git(&c, &["rev-parse", "HEAD"]);
    assert_eq!(git_repo::git(&path, &["rev-parse", &branch]), head);
    crate::stop_with_workers(app).await;
}

/// Processes started for `root` by the git endpoint (`GIT_PROJECT_ROOT` in their
/// environment), by pid.
fn backends_for(root: &Path) -> Vec<i32> {
    let needle = format!("GIT_PROJECT_ROOT={}", root.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == needle.as_bytes()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_git_http_backend_times_out_and_its_processes_are_killed() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| {
        remote_engine(s, &path, "sleep", 10.0);
        s.engine.reliability.git_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let task = app.create_task(json!({"title": "Hangs in git"})).await;
    let session = running_worker(&app, &task).await;
    // The worker cloned and its agent runs; it was told the orchestrator's git timeout.
    crate::wait_for(
        &app,
        &format!("/api/sessions/{}/logs", session["id"]),
        |l| l.to_string().contains("Thinking for a long time"),
    )
    .await;
    let token = key_of(&app).issue(session["id"].as_i64().unwrap(), far_future());
    let assignment: serde_json::Value = app
        .client
        .get(format!("http://{}/worker/v1/assignment", app.addr))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(assignment["git_timeout_secs"], 1.0, "{assignment}");

    // Listing refs reads packed-refs: a FIFO there blocks git for as long as nobody
    // writes to it, like a credential prompt or a stuck LFS fetch.
    let packed = path.join(".git/packed-refs");
    let _ = std::fs::remove_file(&packed);
    let made = Command::new("mkfifo").arg(&packed).status().unwrap();
    assert!(made.success());
    let url = format!("http://{}/worker/v1/git/repo.git", app.addr);
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().to_path_buf();
    let listed = tokio::task::spawn_blocking(move || git_as(&dir, &token, &["ls-remote", &url]))
        .await
        .unwrap();
    // The answer started (http-backend sends its headers first) and was cut at the
    // timeout, as an error: git sees the transfer end short.
    assert!(!listed.status.success(), "{listed:?}");
    assert!(
        String::from_utf8_lossy(&listed.stderr).contains("transfer closed"),
        "{listed:?}"
    );
    // Its whole process group is gone, not left blocked on the FIFO.
    let root = path.canonicalize().unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !backends_for(&root).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "left running: {:?}",
            backends_for(&root)
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    std::fs::remove_file(&packed).unwrap();
    crate::stop_with_workers(app).await;
}
