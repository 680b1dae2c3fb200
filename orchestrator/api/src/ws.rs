//! `/ws`: the live stream of every change.
//!
//! A client first gets `hello` with the newest seq, then (with `?after=SEQ`) what it
//! missed or a `resync`, then live messages. A client that falls behind the bounded
//! queue, or stops answering pings, is closed; it reconnects with its last seq.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket},
    },
    response::Response,
    routing::get,
};
use futures_util::{SinkExt, StreamExt, stream::SplitSink};
use harness_domain::time::Timestamp;
use tokio::{
    sync::broadcast::{
        self,
        error::{RecvError, TryRecvError},
    },
    time::{Instant, interval, timeout},
};

use super::{
    AppState,
    error::ApiError,
    extract::{Query, query_number},
};
use harness_board::live::{Backlog, Hello, LiveFrame, LiveKind, LiveMessage, Resync, Subscription};

const PING_EVERY: Duration = Duration::from_secs(20);
/// No pong for this long and the client is gone.
const PONG_DEADLINE: Duration = Duration::from_secs(60);
/// A send that takes longer than this means the client is not reading.
const SEND_DEADLINE: Duration = Duration::from_secs(10);
/// Close code 4000: "you fell behind, reconnect with ?after".
const CLOSE_LAGGED: u16 = 4000;
/// Bytes read from a client at a time. Clients send only pongs and a close, and the
/// buffer grows for a longer frame anyway. tungstenite's default of 128 KiB is allocated
/// per connection and zeroed before every read attempt, which each message sent wakes:
/// with 500 clients that was 64 MB of buffers, and zeroing them took half the server's
/// CPU during a fan-out.
const READ_BUFFER: usize = 4 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

/// Query parameters of `GET /ws`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct WsQuery {
    /// Replay live messages with a greater seq before the live stream.
    #[serde(default, deserialize_with = "query_number::<_, _, 0, { u64::MAX }>")]
    after: Option<u64>,
}

/// Upgrades to a WebSocket. A foreign Origin or Host never gets here: the guard in
/// front of every route (`harness_gateway::guard`) refuses it, so a page on another site cannot
/// ride on the operator's cookie.
pub async fn upgrade(
    State(state): State<AppState>,
    Query(q): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let subscription = state.board.live().subscribe(q.after);
    let shutdown = state.shutdown.clone();
    Ok(ws
        .max_message_size(64 * 1024)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| serve(socket, subscription, shutdown)))
}

async fn serve(
    socket: WebSocket,
    mut sub: Subscription,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let (mut sink, mut stream) = socket.split();
    if send_intro(&mut sink, &mut sub).await.is_err() {
        return;
    }
    let mut ping = interval(PING_EVERY);
    let mut last_pong = Instant::now();
    loop {
        tokio::select! {
            received = sub.receiver.recv() => match received {
                Ok(message) => match send_ready(&mut sink, &message, &mut sub.receiver).await {
                    Ok(()) => {}
                    Err(Some(RecvError::Lagged(_))) => {
                        close(&mut sink, CLOSE_LAGGED, "client fell behind; reconnect with ?after").await;
                        return;
                    }
                    Err(_) => return,
                },
                Err(RecvError::Lagged(_)) => {
                    close(&mut sink, CLOSE_LAGGED, "client fell behind; reconnect with ?after").await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Pong(_))) => last_pong = Instant::now(),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {} // Clients have nothing to say; axum answers pings itself.
            },
            _ = ping.tick() => {
                if last_pong.elapsed() > PONG_DEADLINE
                    || send(&mut sink, Message::Ping(Default::default())).await.is_err()
                {
                    return;
                }
            }
            () = shutdown.cancelled() => {
                close(&mut sink, 1001, "server shutting down").await;
                return;
            }
        }
    }
}

async fn send_intro(
    sink: &mut SplitSink<WebSocket, Message>,
    sub: &mut Subscription,
) -> Result<(), ()> {
    let hello = LiveFrame {
        seq: sub.latest,
        message: LiveKind::Hello(Hello {
            server_time: Timestamp::now(),
        }),
    };
    send(sink, Message::Text(hello.to_json().into())).await?;
    match std::mem::replace(&mut sub.backlog, Backlog::Replay(Vec::new())) {
        Backlog::Replay(messages) => {
            for m in messages {
                send(sink, text(&m)).await?;
            }
        }
        Backlog::Resync(reason) => {
            let resync = LiveFrame {
                seq: sub.latest,
                message: LiveKind::Resync(Resync {
                    reason: reason.to_owned(),
                }),
            };
            send(sink, Message::Text(resync.to_json().into())).await?;
        }
    }
    Ok(())
}

/// Most messages a connection writes in one go.
const SEND_BATCH: usize = 64;

/// Sends `first` and whatever else is already waiting (a change publishes a few messages
/// at once: the task and its event), flushing once: one wake-up and one write for the
/// lot rather than one each. `Err(None)` when the client is gone or too slow.
async fn send_ready(
    sink: &mut SplitSink<WebSocket, Message>,
    first: &LiveMessage,
    receiver: &mut broadcast::Receiver<Arc<LiveMessage>>,
) -> Result<(), Option<RecvError>> {
    let batch = async {
        sink.feed(text(first)).await?;
        for _ in 1..SEND_BATCH {
            match receiver.try_recv() {
                Ok(message) => sink.feed(text(&message)).await?,
                Err(TryRecvError::Lagged(n)) => return Ok(Some(RecvError::Lagged(n))),
                Err(_) => break,
            }
        }
        sink.flush().await.map(|()| None)
    };
    match timeout(SEND_DEADLINE, batch).await {
        Ok(Ok(None)) => Ok(()),
        Ok(Ok(Some(lagged))) => Err(Some(lagged)),
        _ => Err(None),
    }
}

fn text(message: &LiveMessage) -> Message {
    Message::Text(message.json.clone())
}

async fn send(sink: &mut SplitSink<WebSocket, Message>, message: Message) -> Result<(), ()> {
    match timeout(SEND_DEADLINE, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn close(sink: &mut SplitSink<WebSocket, Message>, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    // The last frame: a client that is already gone cannot be told anything more.
    let _ = send(sink, Message::Close(Some(frame))).await;
}
