//! Server-sent events from a response body: `eventsource-stream` over the body's byte
//! stream, with a bound on the bytes between two events, so a server that never ends
//! an event cannot grow the parser's buffer without limit.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use bytes::Bytes;
use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};

use super::assembler::StreamError;

/// Why the next event could not be read.
#[derive(Debug)]
pub(crate) enum EventError<E> {
    /// The connection broke: worth a retry.
    Transport(E),
    /// The bytes are not a stream we can read: resending will not help.
    Stream(StreamError),
}

/// What the counting layer passes down to the parser.
enum Counted<E> {
    Transport(E),
    TooLarge,
}

/// The events of `body`. More than `max_event_bytes` received without an event coming
/// out ends the stream with [`StreamError::EventTooLarge`].
pub(crate) fn bounded_events<S, E>(
    body: S,
    max_event_bytes: usize,
) -> impl Stream<Item = Result<Event, EventError<E>>>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    // Bytes fed to the parser since it last produced an event: its buffer holds at most
    // this much (plus the rest of the chunk that completed that event).
    let pending = Arc::new(AtomicUsize::new(0));
    let counted = body.map({
        let pending = pending.clone();
        move |chunk| match chunk {
            Ok(chunk) => {
                let total = pending.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len();
                if total > max_event_bytes {
                    Err(Counted::TooLarge)
                } else {
                    Ok(chunk)
                }
            }
            Err(e) => Err(Counted::Transport(e)),
        }
    });
    counted.eventsource().map(move |item| match item {
        Ok(event) => {
            pending.store(0, Ordering::Relaxed);
            Ok(event)
        }
        Err(EventStreamError::Transport(Counted::Transport(e))) => Err(EventError::Transport(e)),
        Err(EventStreamError::Transport(Counted::TooLarge)) => Err(EventError::Stream(
            StreamError::EventTooLarge(max_event_bytes),
        )),
        Err(EventStreamError::Utf8(e)) => Err(EventError::Stream(StreamError::NotUtf8(e))),
        Err(EventStreamError::Parser(e)) => {
            Err(EventError::Stream(StreamError::NotSse(e.to_string())))
        }
    })
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    async fn collect(
        chunks: Vec<Vec<u8>>,
        max: usize,
    ) -> Vec<Result<Event, EventError<Infallible>>> {
        let body = futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, Infallible>(Bytes::from(c))),
        );
        bounded_events(body, max).collect().await
    }

    #[tokio::test]
    async fn crlf_events_split_anywhere_keep_their_name_and_data() {
        let text: &'static [u8] = b"event: error\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n: keep-alive\n\nevent: ping\ndata: {}\n\n";
        let chunks = text.chunks(5).map(<[u8]>::to_vec).collect();
        let events: Vec<Event> = collect(chunks, 1024)
            .await
            .into_iter()
            .map(|e| e.ok().unwrap())
            .collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event, "error");
        assert_eq!(events[0].data, "{\"a\":\n1}");
        assert_eq!(events[1].event, "ping");
    }

    #[tokio::test]
    async fn an_oversized_event_is_an_error_not_an_unbounded_buffer() {
        let big = format!("data: {}", "x".repeat(200)).into_bytes();
        let events = collect(vec![b"data: small\n\n".to_vec(), big], 100).await;
        assert!(events[0].is_ok());
        assert!(matches!(
            events[1],
            Err(EventError::Stream(StreamError::EventTooLarge(100)))
        ));
    }

    #[tokio::test]
    async fn a_character_split_across_chunks_arrives_whole() {
        let text = "data: caf\u{e9} \u{1f600}\n\n".as_bytes().to_vec();
        let chunks = text.chunks(1).map(<[u8]>::to_vec).collect();
        let events = collect(chunks, 1024).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].as_ref().ok().unwrap().data, "caf\u{e9} \u{1f600}");
    }
}
