//! Listening and stopping, the same for both binaries.

use std::future::Future;

use tokio::net::TcpListener;

/// The listener with Nagle's algorithm off on every accepted connection. Without it a
/// WebSocket frame written while the previous one is still unacknowledged waits for
/// the peer's delayed ACK (40 ms on Linux), which is most of a live update's latency.
pub fn without_delay(
    listener: TcpListener,
) -> axum::serve::TapIo<TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt;
    fn no_delay(stream: &mut tokio::net::TcpStream) {
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "cannot turn Nagle's algorithm off on a connection");
        }
    }
    listener.tap_io(no_delay as fn(&mut tokio::net::TcpStream))
}

/// Registers for SIGTERM and SIGINT at once and resolves on the first of them. Call it
/// before announcing readiness: until a handler is registered, a signal kills the
/// process with the default action instead of shutting it down cleanly.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (term, interrupt) {
                (Ok(mut term), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = term.recv() => {},
                        _ = interrupt.recv() => {},
                    }
                }
                (term, interrupt) => {
                    for err in [term.err(), interrupt.err()].into_iter().flatten() {
                        tracing::warn!(%err, "cannot listen for SIGTERM and SIGINT; only Ctrl-C stops the server");
                    }
                    if let Err(err) = tokio::signal::ctrl_c().await {
                        tracing::error!(%err, "cannot listen for Ctrl-C either; shutting down");
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C; shutting down");
        }
    }
}
