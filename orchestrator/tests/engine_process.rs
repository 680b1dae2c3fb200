//! Process groups: cancelling, timing out or dropping a run kills the child and every
//! process it started. No orphans.

use harness_testkit::procs;

use std::time::Duration;

use harness::engine::process::{self, CommandSpec, Termination};
use tokio_util::sync::CancellationToken;

const SCRIPT: &str = "echo $$ > parent.pid; sleep 300 & echo $! > child.pid; wait";

#[tokio::test]
async fn cancelling_kills_the_script_and_the_child_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = CommandSpec::shell(SCRIPT, dir.path());
    spec.kill_grace = Duration::from_millis(500);
    let cancel = CancellationToken::new();
    let run = tokio::spawn({
        let cancel = cancel.clone();
        async move { process::run(&spec, &cancel, |_| {}).await }
    });
    let parent = procs::read_pid(&dir.path().join("parent.pid")).await;
    let child = procs::read_pid(&dir.path().join("child.pid")).await;
    assert!(procs::running(parent) && procs::running(child));

    cancel.cancel();
    let finished = run.await.unwrap().unwrap();

    assert_eq!(finished.termination, Termination::Cancelled);
    assert!(procs::gone(parent).await, "parent {parent} survived");
    assert!(procs::gone(child).await, "child {child} survived");
}

#[tokio::test]
async fn a_timeout_kills_a_child_that_ignores_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let script = "echo $$ > parent.pid; (trap '' TERM; exec sleep 300) & echo $! > child.pid; wait";
    let mut spec = CommandSpec::shell(script, dir.path());
    spec.timeout = Some(Duration::from_millis(300));
    spec.kill_grace = Duration::from_millis(300);
    let done = process::run(&spec, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(done.termination, Termination::TimedOut);
    let child = procs::read_pid(&dir.path().join("child.pid")).await;
    assert!(procs::gone(child).await, "child {child} survived SIGKILL");
}

#[tokio::test]
async fn dropping_a_run_kills_its_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let spec = CommandSpec::shell(SCRIPT, dir.path());
    let cancel = CancellationToken::new();
    let run = tokio::spawn(async move { process::run(&spec, &cancel, |_| {}).await });
    let child = procs::read_pid(&dir.path().join("child.pid")).await;
    run.abort();
    let _ = run.await;
    assert!(procs::gone(child).await, "child {child} survived the abort");
}

#[tokio::test]
async fn a_grandchild_left_behind_by_a_finished_leader_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    // The leader exits at once, leaving a background sleep in its group.
    let spec = CommandSpec::shell(
        "sleep 300 > /dev/null 2>&1 & echo $! > child.pid",
        dir.path(),
    );
    let done = process::run(&spec, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(done.termination, Termination::Exited(0));
    let child = procs::read_pid(&dir.path().join("child.pid")).await;
    assert!(procs::gone(child).await, "orphan {child} survived");
}
