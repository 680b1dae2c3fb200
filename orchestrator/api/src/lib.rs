//! The HTTP API: the route table, shared state and cross-cutting layers.
//!
//! Each resource has its own module exporting `router()`. Handlers parse input into
//! domain types, call the [`Board`], and return JSON; errors go through [`ApiError`].

mod agents;
mod auth;
mod budget;
pub mod error;
mod events;
mod extract;
mod findings;
mod forge;
mod git_http;
mod health;
mod login_limit;
pub mod openapi;
mod orchestrator;
mod review;
mod roles;
mod sessions;
mod settings;
mod tasks;
mod telegram;
mod worker;
mod ws;

use std::{
    sync::{Arc, atomic::AtomicBool},
    time::Duration,
};

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath, Request},
    middleware,
    response::Response,
    routing::any,
};
use harness_domain::time::Timestamp;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

pub use auth::Auth;
use error::ApiError;

use harness_board::Board;
use harness_config::Settings;
use harness_gateway::guard::Guard;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub board: Board,
    pub settings: Arc<Settings>,
    pub auth: Auth,
    pub started_at: Timestamp,
    /// Set by the database probe; read by `/health`.
    pub db_healthy: Arc<AtomicBool>,
    /// Cancelled at shutdown so long-lived WebSockets close and let the server stop.
    pub shutdown: CancellationToken,
    pub telegram: harness_telegram::Telegram,
    /// The remote attempts' credentials and what each opens (`/worker/v1`).
    pub workers: harness_worker::Grants,
}

/// The whole application: API, WebSocket, health, and the dashboard when built, behind
/// the Host/Origin guard and with the security headers on every response.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .merge(tasks::router())
        .merge(review::router())
        .merge(agents::router())
        .merge(roles::router())
        .merge(sessions::router())
        .merge(findings::router())
        .merge(events::router())
        .merge(orchestrator::router())
        .merge(settings::router())
        .merge(budget::router())
        .merge(telegram::router())
        .merge(ws::router())
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require));
    let api = Router::new()
        .merge(protected)
        .merge(auth::router())
        .merge(openapi::router())
        .merge(health::router())
        .merge(telegram::webhook_router())
        .merge(forge::webhook_router())
        // Unknown /api paths answer JSON even when the dashboard is the fallback.
        .route("/api", any(api_not_found))
        .route("/api/{*rest}", any(api_not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(api_not_found)
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes));
    // The dashboard: a build on disk when one is named, else the one in the binary.
    let app = match &state.settings.dashboard_dir {
        Some(dir) => api.fallback_service(harness_gateway::spa_router::<()>(dir).with_state(())),
        None => api.fallback_service(harness_gateway::embedded::router::<()>().with_state(())),
    };
    let guard = Arc::new(Guard::new(state.settings.web.clone()));
    // Workers are not browsers: their routes skip the Host/Origin guard and answer
    // only to the attempt's credential.
    let workers = worker::router(state.workers.clone()).with_state(());
    app.layer(middleware::from_fn_with_state(guard, harness_gateway::guard::enforce))
        .merge(workers)
        .layer(middleware::map_response(harness_gateway::guard::security_headers))
        .layer(
        TraceLayer::new_for_http()
            .make_span_with(|req: &Request| {
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), route)
            })
            .on_request(())
            .on_response(log_response),
    )
    .with_state(state)
}

/// One line per request. Health checks log at debug: they come every few seconds.
fn log_response(response: &Response, latency: Duration, _span: &tracing::Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if response.extensions().get::<health::HealthCheck>().is_some() {
        tracing::debug!(status, latency_ms, "request");
    } else if status >= 500 {
        tracing::error!(status, latency_ms, "request");
    } else {
        tracing::info!(status, latency_ms, "request");
    }
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{} is not allowed on {}",
        req.method(),
        req.uri().path()
    ))
}

async fn api_not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
}
