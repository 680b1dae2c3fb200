//! The dashboard inside the binary: `harness serve` serves the UI from any directory.
//! `dashboard/dist` is embedded when the binary is built (`rust-embed`; debug builds
//! read it from disk at run time instead). A binary built before the dashboard holds no
//! files and says so at `/` and in the startup log.

use axum::{
    Router,
    body::Body,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware,
    response::{Html, IntoResponse, Response},
};
use rust_embed::RustEmbed;
use tower_http::compression::CompressionLayer;

use super::spa::{MISSING_BUILD_EMBEDDED, cache_headers, looks_like_file};

#[derive(RustEmbed)]
#[folder = "../../dashboard/dist"]
#[allow_missing = true]
struct Dashboard;

/// Whether this binary carries a dashboard build.
pub fn present() -> bool {
    Dashboard::get("index.html").is_some()
}

/// The embedded SPA, with the same cache rules and `index.html` fallback as the one
/// served from a directory ([`super::spa_router`]).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .fallback(serve)
        .layer(middleware::from_fn(cache_headers))
        .layer(CompressionLayer::new())
}

async fn serve(req: Request) -> Response {
    let path = req.uri().path().trim_start_matches('/');
    let name = if path.is_empty() { "index.html" } else { path };
    if let Some(file) = Dashboard::get(name) {
        return file_response(file);
    }
    // A client-side route gets `index.html`; a missing file stays a 404 (spa.rs).
    if looks_like_file(req.uri().path()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match Dashboard::get("index.html") {
        Some(index) => file_response(index),
        None => Html(MISSING_BUILD_EMBEDDED).into_response(),
    }
}

fn file_response(file: rust_embed::EmbeddedFile) -> Response {
    let mime = file.metadata.mimetype();
    let mut response = Response::new(Body::from(file.data.into_owned()));
    if let Ok(value) = HeaderValue::from_str(mime) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
