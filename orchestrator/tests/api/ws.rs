//! The live WebSocket stream.

use std::time::Duration;

use futures_util::StreamExt;
use harness_domain::session::{LogKind, Session};
use harness_domain::{agent::AgentId, task::TaskId};
use serde_json::{Value, json};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async, tungstenite::Message};

use crate::helpers::{TestApp, spawn_app};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(ws: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("stream open")
            .expect("no error");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// A session of `build-1` on `task`, written through the board (it announces it).
async fn session_on(app: &TestApp, task: &Value) -> Session {
    app.board
        .create_session(
            TaskId::new(task["id"].as_i64().unwrap()).unwrap(),
            AgentId::parse("build-1").unwrap(),
            "m".into(),
        )
        .await
        .unwrap()
}

/// Reads until a message of `kind` arrives, checking seq order on the way.
async fn next_of(ws: &mut Socket, kind: &str, last_seq: &mut u64) -> Value {
    loop {
        let m = next_json(ws).await;
        let seq = m["seq"].as_u64().unwrap();
        assert!(seq > *last_seq, "seq went from {last_seq} to {seq}");
        *last_seq = seq;
        if m["type"] == kind {
            return m;
        }
    }
}

#[tokio::test]
async fn a_client_receives_task_created_for_a_task_made_over_http() {
    let app = spawn_app().await;
    let (mut ws, _) = connect_async(app.ws_url("/ws")).await.unwrap();
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    let mut seq = hello["seq"].as_u64().unwrap();

    let task = app.task_titled("live one").await;
    let created = next_of(&mut ws, "task.created", &mut seq).await;
    assert_eq!(created["data"], task);
    let event = next_of(&mut ws, "event.created", &mut seq).await;
    assert_eq!(event["data"]["type"], "task.created");

    app.post_empty(&format!("/api/tasks/{}/cancel", task["id"]))
        .await;
    let updated = next_of(&mut ws, "task.updated", &mut seq).await;
    assert_eq!(updated["data"]["status"], "cancelled");
}

#[tokio::test]
async fn a_reconnect_with_after_replays_what_was_missed() {
    let app = spawn_app().await;
    let (mut ws, _) = connect_async(app.ws_url("/ws")).await.unwrap();
    let mut seq = next_json(&mut ws).await["seq"].as_u64().unwrap();
    app.task_titled("seen").await;
    next_of(&mut ws, "task.created", &mut seq).await;
    drop(ws);

    app.task_titled("missed 1").await;
    app.task_titled("missed 2").await;

    let (mut ws, _) = connect_async(app.ws_url(&format!("/ws?after={seq}")))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "hello");
    let mut replay_seq = seq;
    let first = next_of(&mut ws, "task.created", &mut replay_seq).await;
    let second = next_of(&mut ws, "task.created", &mut replay_seq).await;
    assert_eq!(first["data"]["title"], "missed 1");
    assert_eq!(second["data"]["title"], "missed 2");
}

#[tokio::test]
async fn a_seq_the_server_never_issued_gets_a_resync() {
    let app = spawn_app().await;
    let (mut ws, _) = connect_async(app.ws_url(&format!("/ws?after={}", u64::MAX / 2)))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "hello");
    let resync = next_json(&mut ws).await;
    assert_eq!(resync["type"], "resync");
    assert!(resync["data"]["reason"].is_string());
}

#[tokio::test]
async fn a_gap_older_than_the_replay_buffer_gets_a_resync() {
    let app = crate::helpers::spawn_with(|s| s.ws_replay = 16).await;
    let (mut ws, _) = connect_async(app.ws_url("/ws")).await.unwrap();
    let seq = next_json(&mut ws).await["seq"].as_u64().unwrap();
    drop(ws);
    for i in 0..10 {
        app.task_titled(&format!("t{i}")).await; // two messages each
    }
    let (mut ws, _) = connect_async(app.ws_url(&format!("/ws?after={seq}")))
        .await
        .unwrap();
    next_json(&mut ws).await;
    assert_eq!(next_json(&mut ws).await["type"], "resync");
}

#[tokio::test]
async fn session_log_lines_are_pushed_live() {
    let app = spawn_app().await;
    let task = app.task_titled("logged").await;
    let (mut ws, _) = connect_async(app.ws_url("/ws")).await.unwrap();
    let mut seq = next_json(&mut ws).await["seq"].as_u64().unwrap();
    let session = session_on(&app, &task).await;
    app.board
        .append_log(session.id, LogKind::Text, "hello from the model".into())
        .await
        .unwrap();
    let created = next_of(&mut ws, "session.created", &mut seq).await;
    assert_eq!(created["data"]["id"], session.id.get());
    let line = next_of(&mut ws, "session.log", &mut seq).await;
    assert_eq!(
        line["data"],
        json!({
            "session_id": session.id, "seq": 1, "kind": "text",
            "content": "hello from the model", "at": line["data"]["at"],
        })
    );
}

#[tokio::test]
async fn many_clients_all_receive_every_message() {
    let app = spawn_app().await;
    let mut sockets = Vec::new();
    for _ in 0..20 {
        let (mut ws, _) = connect_async(app.ws_url("/ws")).await.unwrap();
        let seq = next_json(&mut ws).await["seq"].as_u64().unwrap();
        sockets.push((ws, seq));
    }
    app.task_titled("broadcast").await;
    for (ws, seq) in &mut sockets {
        let m = next_of(ws, "task.created", seq).await;
        assert_eq!(m["data"]["title"], "broadcast");
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_instead_of_buffered_without_bound() {
    let app = spawn_app().await;
    let task = app.task_titled("chatty").await;
    let session = session_on(&app, &task).await;
    let (mut ws, _) = connect_async(app.ws_url("/ws")).await.unwrap();
    next_json(&mut ws).await; // hello
    // Far more than the per-client queue (1024) plus what socket buffers absorb, as
    // session log lines: only a board write puts a message on the bus. One write, so
    // they are published back to back, faster than the connection can send them.
    let padding = "x".repeat(1024);
    let lines = (0..20_000)
        .map(|i| (LogKind::Text, format!("{i}{padding}")))
        .collect();
    app.board
        .append_session_output(session.id, lines, None, None)
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(message) = ws.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the server closes a lagging client");
    assert_eq!(
        closed,
        Some(4000),
        "closed with the lag code so the client reconnects with ?after"
    );
}

#[tokio::test]
async fn a_client_frame_longer_than_the_read_buffer_is_read_whole_and_the_stream_goes_on() {
    use futures_util::SinkExt;

    let app = spawn_app().await;
    let (mut ws, _) = connect_async(app.ws_url("/ws")).await.unwrap();
    let mut seq = next_json(&mut ws).await["seq"].as_u64().unwrap();
    // Five times the server's read buffer, within its 64 KiB message limit.
    ws.send(Message::Text("x".repeat(20 * 1024).into()))
        .await
        .unwrap();
    ws.send(Message::Ping(b"still there?".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Pong(payload))) => return payload,
                Some(Ok(_)) => {}
                other => panic!("the stream ended: {other:?}"),
            }
        }
    })
    .await
    .expect("a pong within 5 s");
    assert_eq!(&pong[..], b"still there?");
    let task = app.task_titled("after a long frame").await;
    assert_eq!(
        next_of(&mut ws, "task.created", &mut seq).await["data"],
        task
    );
}
