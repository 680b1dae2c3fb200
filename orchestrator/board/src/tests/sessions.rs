//! Sessions: their records, output and interruption (board/sessions.rs, the session
//! records of board/work.rs).

use harness_domain::session::SessionId;
use harness_domain::session::{LogKind, SessionStatus, Usage};

use super::Fixture;

#[tokio::test]
async fn session_records_publish_the_updated_session() {
    let mut f = Fixture::new();
    let task = f.task("git").await;
    let (_, session) = f.board.claim(task.id, &f.agent()).await.unwrap();
    f.published();
    let id = session.id;
    f.board
        .record_worktree(id, "/tmp/w".into(), "harness/T-1".into())
        .await
        .unwrap();
    f.board.record_commit(id, "abc123".into()).await.unwrap();
    f.board
        .record_verify_output(id, "all passed".into())
        .await
        .unwrap();
    f.board
        .append_log(id, LogKind::System, "hello".into())
        .await
        .unwrap();
    f.board
        .add_session_usage(id, Usage::default(), 0.25)
        .await
        .unwrap();
    f.board
        .finish_session(id, SessionStatus::Succeeded, "done".into())
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(
        kinds,
        [
            "session.updated",
            "session.updated",
            "session.updated",
            "session.log",
            "session.updated",
            "session.updated"
        ]
    );
    let stored = serde_json::to_value(f.board.store.get_session(id).unwrap()).unwrap();
    assert_eq!(frames[5]["data"], stored);
    assert_eq!(stored["commit_sha"], "abc123");
    assert_eq!(stored["verify_output"], "all passed");
    assert_eq!(frames[3]["data"]["content"], "hello");
}

#[tokio::test]
async fn create_session_publishes_the_new_session() {
    let mut f = Fixture::new();
    let task = f.task("inspect").await;
    let agent = f.agent();
    let session = f
        .board
        .create_session(task.id, agent.id.clone(), "m".into())
        .await
        .unwrap();
    assert_eq!(f.one_new_session()["id"], session.id.get());
}

#[tokio::test]
async fn interrupting_sessions_publishes_each_with_its_event() {
    let mut f = Fixture::new();
    let task = f.task("interrupted").await;
    f.board.claim(task.id, &f.agent()).await.unwrap();
    f.published();
    let n = f
        .board
        .interrupt_running_sessions("the orchestrator stopped")
        .await
        .unwrap();
    assert_eq!(n, 1);
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["session.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["status"], "interrupted");
    f.assert_event_stored(&frames[1], "session.interrupted");
}

#[tokio::test]
async fn a_batch_of_output_publishes_each_stored_line_then_the_session_totals() {
    let mut f = Fixture::new();
    let (_, session) = f.claimed("chatty").await;
    let usage = Usage {
        input_tokens: 10,
        output_tokens: 5,
        ..Usage::default()
    };
    let lines = vec![
        (LogKind::Text, "thinking".to_owned()),
        (LogKind::ToolCall, "read_file".to_owned()),
    ];
    f.board
        .append_session_output(session.id, lines, Some((usage, 0.5)), Some(7))
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["session.log", "session.log", "session.updated"]);
    let stored = f.board.store.session_logs(session.id, 0, 10).unwrap();
    assert_eq!(
        [&frames[0]["data"], &frames[1]["data"]],
        [
            &serde_json::to_value(&stored[0]).unwrap(),
            &serde_json::to_value(&stored[1]).unwrap()
        ]
    );
    assert_eq!(frames[1]["data"]["content"], "read_file");
    assert_eq!(frames[2]["data"], f.stored_session(session.id));
    assert_eq!(frames[2]["data"]["cost_usd"], 0.5);
    assert_eq!(
        f.board.session_worker_seq(session.id).await.unwrap(),
        Some(7)
    );

    // Lines without usage: the lines alone, the totals unchanged.
    f.board
        .append_session_output(
            session.id,
            vec![(LogKind::System, "more".into())],
            None,
            None,
        )
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["session.log"]);
    assert_eq!(frames[0]["data"]["seq"], 3);
}

/// At shutdown, a remote attempt whose worker was started (its name recorded) on one
/// of the named executors carries on; every other running session is interrupted.
#[tokio::test]
async fn interrupting_all_but_started_remote_workers_keeps_exactly_those() {
    let mut f = Fixture::new();
    let (_, kept) = f.claimed("remote, started").await;
    let (_, unnamed) = f.claimed("remote, not started").await;
    let (_, local) = f.claimed("local").await;
    let (_, other) = f.claimed("another executor").await;
    f.board
        .record_executor(kept.id, "docker", Some("worker-1".into()), None)
        .await
        .unwrap();
    f.board
        .record_executor(unnamed.id, "docker", None, None)
        .await
        .unwrap();
    f.board
        .record_executor(local.id, "local", None, None)
        .await
        .unwrap();
    f.board
        .record_executor(other.id, "process", Some("pid-9".into()), None)
        .await
        .unwrap();
    f.published();
    let n = f
        .board
        .interrupt_running_sessions_except("the orchestrator stopped", vec!["docker"])
        .await
        .unwrap();
    assert_eq!(n, 3);
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["session.updated", "event.created"].repeat(3));
    let mut interrupted: Vec<i64> = frames
        .chunks(2)
        .map(|pair| {
            assert_eq!(
                pair[0]["data"],
                f.stored_session(SessionId::new(pair[0]["data"]["id"].as_i64().unwrap()).unwrap())
            );
            assert_eq!(pair[0]["data"]["status"], "interrupted");
            f.assert_event_stored(&pair[1], "session.interrupted");
            pair[0]["data"]["id"].as_i64().unwrap()
        })
        .collect();
    interrupted.sort_unstable();
    assert_eq!(
        interrupted,
        [unnamed.id.get(), local.id.get(), other.id.get()]
    );
    assert_eq!(f.stored_session(kept.id)["status"], "running");
}
