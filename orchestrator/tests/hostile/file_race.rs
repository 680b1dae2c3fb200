//! Class 4 of issue #22: the file tools run in the server, outside Landlock, so an agent
//! that swaps a directory of its worktree for a symlink to the outside
//! (`renameat2(RENAME_EXCHANGE)` in a loop) could get `write_file` to create a file
//! outside, or `read_file` to return an outside file, between the tools' check and
//! their open.
//!
//! The swapper here is run by the test, not by the agent: since class 6 is closed an
//! agent's background process dies when its `run_command` returns, so it could not keep
//! swapping between tool calls, and the file tools must hold on their own against any
//! process that changes the worktree while they work.

use std::{
    ffi::CString,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};

use crate::{completes, data_dir, engine, git_repo, helpers::spawn_with};
use harness_testkit::fake_anthropic::{FakeAnthropic, Reply};

/// Write and read calls each; the attacker won in 15 tries.
const TRIES: usize = 200;
/// Tool calls per model turn, so the whole attack fits in a few turns.
const CALLS_PER_TURN: usize = 40;
const SECRET: &str = "OUTSIDE-SECRET-CONTENT";

/// Exchanges `a` and `b` until `stop`; counts the exchanges.
fn swap_until(a: &Path, b: &Path, stop: &AtomicBool, swaps: &AtomicU64) {
    let a = CString::new(a.as_os_str().as_encoded_bytes()).unwrap();
    let b = CString::new(b.as_os_str().as_encoded_bytes()).unwrap();
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: renameat2 reads the two NUL-terminated paths we pass.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        assert_eq!(rc, 0, "renameat2: {}", std::io::Error::last_os_error());
        swaps.fetch_add(1, Ordering::Relaxed);
    }
}

/// The worktree in which the agent's first command left `race-ready`.
async fn ready_worktree(worktrees: &Path) -> PathBuf {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let found = std::fs::read_dir(worktrees).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.join("race-ready").exists())
        });
        if let Some(found) = found {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent never prepared its worktree"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn swapping_a_symlink_under_the_file_tools_never_reaches_outside() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("f"), SECRET).unwrap();
    let setup = format!(
        // Returns once the swap has begun, so the file tools below all run under it.
        "mkdir d && echo inside > d/f && ln -s {} link && touch race-ready && \
         for i in $(seq 1000); do [ -L d ] && break; sleep 0.01; done",
        outside.path().display()
    );
    let mut script = vec![Reply::tool(
        "run_command",
        json!({"command": setup, "timeout_secs": 30}),
    )];
    let calls: Vec<(&str, Value)> = (0..TRIES)
        .flat_map(|i| {
            [
                (
                    "write_file",
                    json!({"path": format!("d/w{i}.txt"), "content": "written"}),
                ),
                ("read_file", json!({"path": "d/f"})),
            ]
        })
        .collect();
    script.extend(
        calls
            .chunks(CALLS_PER_TURN)
            .map(|turn| Reply::tools(None, turn)),
    );
    // Once the test has stopped swapping (below), leave a tree the landing takes as is.
    script.push(Reply::tool(
        "run_command",
        json!({
            "command": "for i in $(seq 500); do [ -e swap-stopped ] && break; sleep 0.02; done; \
                        rm -rf d link race-ready swap-stopped",
            "timeout_secs": 30
        }),
    ));
    script.push(Reply::tool("complete_task", json!({"summary": "raced"})));
    let turns = script.len();
    let fake = FakeAnthropic::start(script).await;

    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let app = spawn_with(|s| engine(s, &path, Some(&fake.base_url))).await;
    let task = app.create_task(json!({"title": "Race"})).await;

    let worktree = ready_worktree(&data_dir(&app).join("worktrees")).await;
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let swapper = {
        let (stop, swaps) = (stop.clone(), swaps.clone());
        let (a, b) = (worktree.join("d"), worktree.join("link"));
        std::thread::spawn(move || swap_until(&a, &b, &stop, &swaps))
    };
    // Stop swapping once the last batch of file tools has been answered (the request
    // that carries its results is the one before the cleanup command).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while fake.request_count() < turns - 1 {
        assert!(tokio::time::Instant::now() < deadline, "the agent stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    std::fs::write(worktree.join("swap-stopped"), "").unwrap();
    completes(&app, &task).await;

    let results: Vec<String> = fake
        .requests()
        .iter()
        .flat_map(|r| r.last_tool_results())
        .map(|r| match &r["content"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    let swapped = swaps.load(Ordering::Relaxed);
    assert!(swapped > TRIES as u64, "the swapper barely ran: {swapped}");
    let leaked: Vec<&String> = results.iter().filter(|r| r.contains(SECRET)).collect();
    assert!(
        leaked.is_empty(),
        "read_file returned outside content: {leaked:?}"
    );
    let outside_files: Vec<_> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside_files, ["f"], "write_file created files outside");
    // The tools worked whenever `d` was the real directory, so the race was really run.
    let wrote = results.iter().filter(|r| r.starts_with("wrote ")).count();
    let read_inside = results.iter().filter(|r| r.as_str() == "inside\n").count();
    assert!(wrote > 0 && read_inside > 0, "{results:?}");
}
