//! The built single-page app: files from the build directory, `index.html` for the
//! client-side routes, compressed, with cache headers that suit Vite's hashed assets.

use std::{
    convert::Infallible,
    path::{Path, PathBuf},
};

use axum::{
    Router,
    body::Body,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
};
use tower::{ServiceExt, service_fn};
use tower_http::{
    compression::CompressionLayer,
    services::{ServeDir, ServeFile},
};

/// Vite puts a content hash in every file name under `/assets/`, so a browser may keep
/// them for good: a new build has new names.
const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
/// Everything else (above all `index.html`, which names the current assets) must be
/// revalidated on each load, or users keep running an old build after an upgrade.
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// Shown at `/` when the directory holds no build, so the gateway still answers 200
/// (its health check reflects itself) and a person sees what is wrong.
const MISSING_BUILD: &str = "<!doctype html><html><head><meta charset=\"utf-8\">\
<title>Parent Harness</title></head><body><h1>Dashboard build missing</h1>\
<p>No <code>index.html</code> in the dashboard directory (HARNESS_DASHBOARD_DIR). \
Build it with <code>npm ci &amp;&amp; npm run build</code> in <code>dashboard/</code>.</p>\
</body></html>";

/// Shown at `/` by `harness serve` when the binary was built without the dashboard.
pub(super) const MISSING_BUILD_EMBEDDED: &str = "<!doctype html><html><head><meta charset=\"utf-8\">\
<title>Parent Harness</title></head><body><h1>Dashboard not built into this binary</h1>\
<p>This <code>harness</code> was built before <code>dashboard/dist</code> existed. \
Run <code>scripts/start</code>, which builds the dashboard and then the binary, or serve a \
build from a directory with <code>HARNESS_DASHBOARD_DIR</code>. The API is at \
<code>/api</code>.</p></body></html>";

/// The static SPA: files from `dir`, `index.html` for unknown paths that don't look like
/// files. `harness serve` mounts this as its fallback when a dashboard build is present.
pub fn spa_router<S: Clone + Send + Sync + 'static>(dir: &Path) -> Router<S> {
    let index = dir.join("index.html");
    let fallback = service_fn(move |req: Request| spa_fallback(index.clone(), req));
    let files = ServeDir::new(dir)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(fallback);
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(cache_headers))
        .layer(CompressionLayer::new())
}

/// A path the client-side router owns gets `index.html`; a missing file (a name with
/// an extension, like `/assets/old-1a2b.js`) stays a 404 so a stale page fails loudly
/// instead of parsing HTML as JavaScript.
async fn spa_fallback(index: PathBuf, req: Request) -> Result<Response, Infallible> {
    if looks_like_file(req.uri().path()) {
        return Ok(StatusCode::NOT_FOUND.into_response());
    }
    let response = ServeFile::new(index).oneshot(req).await?;
    if response.status() == StatusCode::NOT_FOUND {
        return Ok(Html(MISSING_BUILD).into_response());
    }
    Ok(response.map(Body::new))
}

pub(super) fn looks_like_file(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
}

pub(super) async fn cache_headers(req: Request, next: Next) -> Response {
    let hashed = req.uri().path().starts_with("/assets/");
    let mut response = next.run(req).await;
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        let value = if hashed { IMMUTABLE } else { NO_CACHE };
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::looks_like_file;

    #[test]
    fn client_routes_are_not_files() {
        assert!(!looks_like_file("/"));
        assert!(!looks_like_file("/tasks/12"));
    }

    #[test]
    fn names_with_an_extension_are_files() {
        assert!(looks_like_file("/assets/index-1a2b.js"));
        assert!(looks_like_file("/favicon.ico"));
    }
}
