//! Crash safety: kill -9 in the middle of writes loses nothing that was acknowledged.

use std::{path::Path, time::Duration};

use tempfile::TempDir;

use crate::cli::{Server, harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_loses_no_acknowledged_task() {
    let dir = TempDir::new().unwrap();
    let mut server = Server::start(dir.path());
    let base = server.base.clone();
    let writer = tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let mut acknowledged = Vec::new();
        for i in 0..100_000 {
            let title = format!("crash-test {i}");
            let sent = client
                .post(format!("{base}/api/tasks"))
                .body(format!(r#"{{"title":"{title}"}}"#))
                .send()
                .await;
            match sent {
                Ok(r) if r.status() == 201 => acknowledged.push(title),
                _ => break, // the server is gone
            }
        }
        acknowledged
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(5));
    let acknowledged = writer.await.unwrap();
    assert!(
        acknowledged.len() > 10,
        "the loop should have written for a while"
    );

    let restarted = Server::start(dir.path());
    let client = reqwest::Client::new();
    let body: serde_json::Value = client
        .get(format!("{}/api/tasks?limit=1&q=crash-test", restarted.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["total"].as_u64().unwrap() >= acknowledged.len() as u64);
    drop(restarted);

    assert_all_present(&dir.path().join("data/harness.db"), &acknowledged);
    let out = harness(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success(), "the database reopens cleanly");
}

fn assert_all_present(db: &Path, titles: &[String]) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut stmt = conn
        .prepare("SELECT 1 FROM tasks WHERE title = ?1")
        .unwrap();
    let missing: Vec<&String> = titles
        .iter()
        .filter(|t| !stmt.exists([t.as_str()]).unwrap())
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged tasks are missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );
}
