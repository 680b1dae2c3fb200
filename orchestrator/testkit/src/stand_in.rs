//! What every stand-in server shares: served on its own task from a bound listener,
//! stopped gracefully when its [`Stop`] is dropped (with the test that owns it).

use axum::Router;
use tokio::{net::TcpListener, sync::oneshot};

/// Stops the server it came from when dropped.
pub(crate) struct Stop {
    _tx: oneshot::Sender<()>,
}

/// Serves `app` on `listener` until the returned [`Stop`] is dropped. A test that needs
/// the server running finds out from its requests, so a server error is not raised here.
pub(crate) fn serve(listener: TcpListener, app: Router) -> Stop {
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let stopped = async {
            // A dropped sender stops the server just as a sent one does.
            let _ = rx.await;
        };
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await;
    });
    Stop { _tx: tx }
}
