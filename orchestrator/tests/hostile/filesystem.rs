//! Agents reaching for files outside their worktree: the database, the data directory,
//! other worktrees, and paths out through `..`, absolute paths, symlinks, hard links.

use serde_json::json;

use crate::{attempt, data_dir, run_commands};

fn assert_all_blocked(results: &[String]) {
    for result in results {
        assert!(
            result.contains("BLOCKED") && !result.contains("ESCAPED"),
            "an attempt got through: {result}"
        );
    }
}

#[tokio::test]
async fn the_database_and_the_data_directory_are_out_of_reach() {
    let (app, _task, results, _repo) = run_commands_on_data().await;
    assert_all_blocked(&results);
    assert!(!data_dir(&app).join("planted").exists());
    // The database is intact: the server still reads and writes it.
    let again = app.create_task(json!({"title": "after"})).await;
    assert_eq!(again["status"], "pending");
}

async fn run_commands_on_data() -> (
    crate::helpers::TestApp,
    serde_json::Value,
    Vec<String>,
    tempfile::TempDir,
) {
    // A hostile agent finds the data directory as its worktree's grandparent (worktrees
    // live in data/worktrees/<id> by default).
    let commands = [
        attempt("read the database", "cat ../../harness.db"),
        attempt("append to the database", "echo x >> ../../harness.db"),
        attempt("list the data directory", "ls ../.."),
        attempt("plant in the data directory", "touch ../../planted"),
        attempt(
            "read the database by absolute path",
            "cat \"$(cd ../.. && pwd)/harness.db\"",
        ),
    ];
    run_commands(&commands, |_| {}).await
}

#[tokio::test]
async fn writes_outside_the_worktree_fail_by_every_route() {
    let outside = tempfile::tempdir().unwrap();
    let o = outside.path().display().to_string();
    std::fs::write(outside.path().join("victim.txt"), "original").unwrap();
    let commands = [
        attempt("dot-dot", "echo x > ../escape-dotdot.txt"),
        attempt("absolute path", &format!("echo x > {o}/absolute.txt")),
        attempt(
            "symlink",
            &format!("ln -s {o} out && echo x > out/via-symlink.txt"),
        ),
        attempt(
            "hard link",
            &format!("ln {o}/victim.txt hard && echo x >> hard"),
        ),
        attempt(
            "rename out",
            &format!("echo x > moved && mv moved {o}/moved"),
        ),
        attempt("system file", "echo x >> /etc/hostname"),
        // The symlink out of the repository goes: it would not land (see git_escape.rs).
        "rm -f out && echo inside > inside.txt && cat inside.txt && echo t > \"$TMPDIR/t\" && cat \"$TMPDIR/t\""
            .to_owned(),
    ];
    let (app, _task, results, _repo) = run_commands(&commands, |_| {}).await;
    let (blocked, control) = results.split_at(results.len() - 1);
    assert_all_blocked(blocked);
    // The sandbox is not just "deny everything": the worktree and TMPDIR are writable.
    assert!(
        control[0].starts_with("exit code 0") && control[0].contains("inside\nt"),
        "{}",
        control[0]
    );
    let mut names: Vec<_> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["victim.txt"]);
    assert_eq!(
        std::fs::read_to_string(outside.path().join("victim.txt")).unwrap(),
        "original"
    );
    assert!(!data_dir(&app).join("worktrees/escape-dotdot.txt").exists());
}

#[tokio::test]
async fn another_tasks_worktree_is_out_of_reach() {
    let commands = [
        attempt("read another worktree", "cat ../T-999/secret.txt"),
        attempt("list the worktrees", "ls .."),
        attempt("write another worktree", "echo x >> ../T-999/secret.txt"),
    ];
    let mut other = None;
    let (_app, _task, results, _repo) = run_commands(&commands, |s| {
        let dir = s.database_path.parent().unwrap().join("worktrees/T-999");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("secret.txt"), "another task's work").unwrap();
        other = Some(dir);
    })
    .await;
    assert_all_blocked(&results);
    let other = other.unwrap();
    assert_eq!(
        std::fs::read_to_string(other.join("secret.txt")).unwrap(),
        "another task's work"
    );
}
