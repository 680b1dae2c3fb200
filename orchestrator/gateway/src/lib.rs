//! `harness dashboard`: the dashboard container's process. Serves the built SPA
//! (see [`spa`]) and reverse-proxies `/api`, `/ws` and `/health` to the orchestrator
//! (see [`proxy`]), so the browser only ever talks to one origin.

pub mod cli;
pub mod embedded;
pub mod error_body;
pub mod guard;
mod proxy;
mod spa;
pub mod web;

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Json, Router, middleware,
    routing::{any, get},
};
use tokio::{net::TcpListener, sync::watch};
use tower_http::{
    classify::{ServerErrorsAsFailures, SharedClassifier},
    trace::{DefaultOnFailure, TraceLayer},
};

pub use spa::spa_router;

use crate::guard::Guard;
use crate::web::WebSettings;

/// How long open connections (long polls, WebSockets) may take to finish after a
/// shutdown signal. Docker sends SIGKILL after 10 s, so we must be done well before.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How often, and how far apart, a wide gateway asks whether the orchestrator needs a token.
const UPSTREAM_CHECK_TRIES: u32 = 10;
const UPSTREAM_CHECK_PAUSE: Duration = Duration::from_secs(1);

/// What the gateway needs to run.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Base URL of the orchestrator, such as `http://orchestrator:3333`.
    pub upstream: String,
    /// Directory holding the built dashboard (`index.html` and `assets/`).
    pub dir: PathBuf,
    /// The names and public URL the gateway answers to (see [`crate::guard`]).
    pub web: WebSettings,
}

/// Serves the gateway on `listener` until `shutdown` resolves, then lets open
/// connections finish for at most [`DRAIN_TIMEOUT`].
pub async fn serve(
    listener: TcpListener,
    config: GatewayConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = router(&config)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        // No receiver is left only once the server has stopped by itself.
        let _ = stop_tx.send(true);
    });
    let server = axum::serve(
        harness_base::listen::without_delay(listener),
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stopped(stop_rx.clone()));
    tokio::select! {
        result = server => result.context("the gateway server failed"),
        () = async { stopped(stop_rx).await; tokio::time::sleep(DRAIN_TIMEOUT).await } => {
            tracing::warn!("connections still open after the drain timeout; closing them");
            Ok(())
        }
    }
}

/// The whole gateway: its own health, the proxied routes, then the SPA for the rest.
pub fn router(config: &GatewayConfig) -> anyhow::Result<Router> {
    let proxy = Arc::new(proxy::Proxy::new(&config.upstream)?);
    let guard = Arc::new(Guard::new(config.web.clone()));
    let proxied = any(proxy::forward).with_state(proxy);
    Ok(Router::new()
        .route("/gateway/health", get(health))
        .route("/health", proxied.clone())
        .route("/api", proxied.clone())
        .route("/api/", proxied.clone())
        .route("/api/{*rest}", proxied.clone())
        .route("/ws", proxied)
        .fallback_service(spa_router::<()>(&config.dir))
        .layer(middleware::from_fn_with_state(guard, crate::guard::enforce))
        .layer(middleware::map_response(crate::guard::security_headers))
        .layer(trace_layer()))
}

/// A gateway published beyond this machine must not open an orchestrator that has no
/// token: it asks the orchestrator (a few tries, for a slow start) and refuses otherwise.
pub async fn ensure_upstream_requires_token(upstream: &str) -> anyhow::Result<()> {
    let url = format!("{}/api/auth/status", upstream.trim_end_matches('/'));
    let client = harness_base::http_client::client(harness_base::http_client::Timeouts {
        connect: Duration::from_secs(2),
        request: Some(Duration::from_secs(2)),
    })?;
    let mut last_error = String::new();
    for _ in 0..UPSTREAM_CHECK_TRIES {
        match auth_required(&client, &url).await {
            Ok(true) => return Ok(()),
            Ok(false) => anyhow::bail!(
                "HARNESS_BIND: the gateway is reachable from other machines and the orchestrator at \
                 {upstream} has no HARNESS_API_TOKEN: set it there, publish on 127.0.0.1, or set \
                 HARNESS_ALLOW_OPEN=1 to run open on purpose"
            ),
            Err(err) => last_error = format!("{err:#}"),
        }
        tokio::time::sleep(UPSTREAM_CHECK_PAUSE).await;
    }
    anyhow::bail!(
        "HARNESS_BIND: the gateway is reachable from other machines, and whether the \
         orchestrator requires a token is unknown ({last_error}); start it first or set \
         HARNESS_ALLOW_OPEN=1"
    )
}

async fn auth_required(client: &reqwest::Client, url: &str) -> anyhow::Result<bool> {
    let response = client.get(url).send().await?.error_for_status()?;
    let status: serde_json::Value = response.json().await?;
    status["auth_required"]
        .as_bool()
        .with_context(|| format!("{url} did not say auth_required"))
}

/// Requests are traced at debug (the orchestrator logs them already). A 5xx here is
/// almost always "orchestrator unreachable", already logged as a warning by the
/// proxy, so it is not logged again as an ERROR.
fn trace_layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>> {
    TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(tracing::Level::WARN))
}

/// The gateway's own liveness, independent of the orchestrator, so the dashboard
/// container's health check says whether *it* works.
async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens after it sent `true`.
    let _ = rx.wait_for(|stop| *stop).await;
}
