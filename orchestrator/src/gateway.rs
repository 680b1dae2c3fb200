//! `harness dashboard`: serves the built SPA and proxies `/api`, `/ws` and `/health`
//! to the orchestrator. (Stub: being written.)

use std::{future::Future, path::PathBuf};

use axum::Router;
use tokio::net::TcpListener;

/// What the gateway needs to run.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Base URL of the orchestrator, such as `http://orchestrator:3333`.
    pub upstream: String,
    /// Directory holding the built dashboard (`index.html` and `assets/`).
    pub dir: PathBuf,
}

/// Serves the gateway on `listener` until `shutdown` resolves.
pub async fn serve(
    _listener: TcpListener,
    _config: GatewayConfig,
    _shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    anyhow::bail!("the dashboard gateway is not built yet")
}

/// The static SPA: files from `dir`, `index.html` for unknown paths. `harness serve`
/// mounts this as its fallback when a dashboard build is present.
pub fn spa_router<S: Clone + Send + Sync + 'static>(_dir: &std::path::Path) -> Router<S> {
    Router::new()
}
