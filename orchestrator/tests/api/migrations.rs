//! Migrations, integrity checks and backups, on real files.

use harness::store::{Store, StoreError, backup, migrations::MIGRATIONS};
use harness_domain::event::Operation;
use harness_domain::task::{NewTask, Title};
use rusqlite::Connection;

#[test]
fn a_fresh_database_gets_every_migration_and_a_second_open_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/harness.db");
    let (_, applied) = Store::open(&path).unwrap();
    assert_eq!(applied.len(), MIGRATIONS.len());
    let (_, again) = Store::open(&path).unwrap();
    assert!(again.is_empty());

    let conn = Connection::open(&path).unwrap();
    let (version, checksum, at): (i64, String, String) = conn
        .query_row(
            "SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(version, MIGRATIONS.last().unwrap().version);
    assert_eq!(checksum.len(), 64);
    assert!(at.ends_with('Z'));
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_tampered_migration_checksum_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("harness.db");
    drop(Store::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE schema_migrations SET checksum = 'abc' WHERE version = 1",
            [],
        )
        .unwrap();
    let err = Store::open(&path).err().expect("refused");
    assert!(matches!(err, StoreError::Migration(_)), "{err}");
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
}

#[test]
fn a_database_from_a_newer_harness_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("harness.db");
    drop(Store::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO schema_migrations VALUES (999, 'future', 'x', '2030-01-01T00:00:00.000Z')",
            [],
        )
        .unwrap();
    let err = Store::open(&path).err().expect("refused");
    assert!(err.to_string().contains("newer harness"), "{err}");
}

#[test]
fn a_file_that_is_not_a_database_stops_startup_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("harness.db");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    let err = Store::open(&path).err().expect("refused");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("restore") && message.contains("Do not delete the -wal"),
        "{message}"
    );
}

#[test]
fn a_damaged_page_is_caught_by_the_startup_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("harness.db");
    {
        let (store, _) = Store::open(&path).unwrap();
        for i in 0..300 {
            store
                .create_task(
                    &NewTask::titled(
                        Title::parse(&format!("task {i} {}", "x".repeat(150))).unwrap(),
                    ),
                    "test",
                    note,
                )
                .unwrap();
        }
        store.checkpoint().unwrap();
    }
    // Scribble over the middle of the file, past the header page.
    let mut bytes = std::fs::read(&path).unwrap();
    let page = 4096;
    let mid = bytes.len() / 2 / page * page;
    for b in &mut bytes[mid..mid + page] {
        *b = 0xAB;
    }
    std::fs::write(&path, bytes).unwrap();
    let err = Store::open(&path).err().expect("refused");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[test]
fn a_backup_taken_during_writes_is_consistent_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("harness.db");
    let (store, _) = Store::open(&path).unwrap();
    let store = std::sync::Arc::new(store);
    for i in 0..50 {
        store
            .create_task(
                &NewTask::titled(Title::parse(&format!("before {i}")).unwrap()),
                "test",
                note,
            )
            .unwrap();
    }
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for i in 0..200 {
                store
                    .create_task(
                        &NewTask::titled(Title::parse(&format!("during {i}")).unwrap()),
                        "test",
                        note,
                    )
                    .unwrap();
            }
        })
    };
    let dest = dir.path().join("backup.db");
    backup(&path, &dest).unwrap();
    writer.join().unwrap();

    let copy = Connection::open(&dest).unwrap();
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let before: i64 = copy
        .query_row(
            "SELECT COUNT(*) FROM tasks WHERE title LIKE 'before %'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        before, 50,
        "everything committed before the backup is in it"
    );
    let err = backup(&path, &dest).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[test]
fn requeue_gives_back_the_attempt_a_claim_took() {
    use harness_domain::{task::TaskStatus, time::Timestamp};
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&dir.path().join("h.db")).unwrap();
    let (task, _) = store
        .create_task(&NewTask::titled(Title::parse("t").unwrap()), "test", note)
        .unwrap();
    let (claimed, _) = store
        .claim_task(task.id, "build-1", "m", Timestamp::now())
        .unwrap();
    assert_eq!(
        (claimed.status, claimed.attempts),
        (TaskStatus::InProgress, 1)
    );
    let (back, _) = store
        .requeue(task.id, "restart", None, "test", None)
        .unwrap();
    assert_eq!((back.status, back.attempts), (TaskStatus::Pending, 0));
}

/// The operations event a store test's change records with it.
fn note(task: &harness_domain::task::Task) -> harness_domain::event::NewEvent {
    harness_domain::event::NewEvent::info(Operation::TaskCreated, task.title.clone())
}
