//! Reverse proxy to the orchestrator: method, path, query, headers and streamed bodies
//! pass through; hop-by-hop headers don't. A WebSocket upgrade is forwarded as an
//! upgrade and then bridged byte for byte, so auth headers, cookies, subprotocols and
//! the query string (`/ws?after=12`) reach the orchestrator untouched.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Json,
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{
        HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, Version, header,
        uri::{Authority, Scheme},
    },
    response::{IntoResponse, Response},
};
use hyper::upgrade::OnUpgrade;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo},
};

/// A refused or unroutable connection should turn into a 502 quickly, not hang the UI.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the orchestrator's response headers. Bodies are streamed and not
/// bounded here, so long downloads and WebSockets are not cut off.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle pooled connections are dropped after this, so a restarted orchestrator is
/// reached on a fresh connection.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), so they
/// are never forwarded. `connection` itself can name more.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
];

/// The upstream orchestrator and a pooled HTTP/1.1 client to reach it.
pub(super) struct Proxy {
    scheme: Scheme,
    authority: Authority,
    /// The upstream as configured, for error messages.
    display: String,
    client: Client<HttpConnector, Body>,
}

impl Proxy {
    /// Accepts `http://host:port` with no path; anything else fails at startup with
    /// a message naming the setting.
    pub(super) fn new(upstream: &str) -> anyhow::Result<Self> {
        let uri: Uri = upstream
            .parse()
            .with_context(|| format!("HARNESS_UPSTREAM is not a URL: {upstream:?}"))?;
        anyhow::ensure!(
            uri.scheme() == Some(&Scheme::HTTP),
            "HARNESS_UPSTREAM must start with http:// (got {upstream:?})"
        );
        anyhow::ensure!(
            matches!(uri.path(), "" | "/") && uri.query().is_none(),
            "HARNESS_UPSTREAM must not have a path or query (got {upstream:?})"
        );
        let authority = uri
            .authority()
            .cloned()
            .with_context(|| format!("HARNESS_UPSTREAM has no host: {upstream:?}"))?;
        Ok(Self {
            scheme: Scheme::HTTP,
            authority,
            display: upstream.trim_end_matches('/').to_owned(),
            client: client(),
        })
    }

    /// The orchestrator's address for the path and query of `uri`.
    fn target(&self, uri: &Uri) -> Result<Uri, axum::http::Error> {
        let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
    }
}

fn client() -> Client<HttpConnector, Body> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(connector)
}

/// Forwards one request and streams the answer back. A WebSocket handshake that the
/// orchestrator accepts (101) is then bridged in a task of its own.
pub(super) async fn forward(State(proxy): State<Arc<Proxy>>, mut req: Request) -> Response {
    let client_upgrade = is_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
    let outgoing = match upstream_request(&proxy, req, client_upgrade.is_some()) {
        Ok(outgoing) => outgoing,
        Err(err) => return error(StatusCode::BAD_REQUEST, "bad_request", &err.to_string()),
    };
    let answer = tokio::time::timeout(RESPONSE_TIMEOUT, proxy.client.request(outgoing)).await;
    let mut response = match answer {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => {
            tracing::warn!(upstream = %proxy.display, error = %err, "orchestrator unreachable");
            let message = format!("orchestrator unreachable at {}", proxy.display);
            return error(StatusCode::BAD_GATEWAY, "upstream_unavailable", &message);
        }
        Err(_) => {
            let message = format!("orchestrator at {} did not answer in time", proxy.display);
            return error(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", &message);
        }
    };
    match client_upgrade {
        Some(client) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
            let upstream = hyper::upgrade::on(&mut response);
            tokio::spawn(bridge(client, upstream));
        }
        _ => strip_hop_by_hop(response.headers_mut()),
    }
    response.map(Body::new)
}

/// Rewrites the browser's request for the orchestrator: its URI, no hop-by-hop
/// headers (but the upgrade ones when upgrading), and the `x-forwarded-*` headers.
fn upstream_request(
    proxy: &Proxy,
    req: Request,
    upgrade: bool,
) -> Result<Request, axum::http::Error> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let (mut parts, body) = req.into_parts();
    parts.uri = proxy.target(&parts.uri)?;
    // The client may speak HTTP/2 to us; the orchestrator gets HTTP/1.1.
    parts.version = Version::HTTP_11;
    parts.extensions = Default::default();
    let upgrade_to = parts.headers.get(header::UPGRADE).cloned();
    strip_hop_by_hop(&mut parts.headers);
    if let (true, Some(protocol)) = (upgrade, upgrade_to) {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, protocol);
    }
    add_forwarded(&mut parts.headers, peer);
    Ok(Request::from_parts(parts, body))
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && connection_tokens(headers).any(|token| token.eq_ignore_ascii_case("upgrade"))
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty())
}

/// Removes the fixed hop-by-hop headers, the ones `Connection` names, and `Upgrade`
/// (which only survives when the caller puts it back for a handshake).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|token| HeaderName::try_from(token).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// Tells the orchestrator who the real client is. The gateway itself speaks plain
/// HTTP, so `x-forwarded-proto` keeps what a TLS proxy in front of us said.
fn add_forwarded(headers: &mut HeaderMap, peer: Option<std::net::IpAddr>) {
    if let Some(ip) = peer {
        let chain = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(previous) => format!("{previous}, {ip}"),
            None => ip.to_string(),
        };
        if let Ok(value) = HeaderValue::try_from(chain) {
            headers.insert("x-forwarded-for", value);
        }
    }
    if !headers.contains_key("x-forwarded-proto") {
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    }
    if let Some(host) = headers.get(header::HOST).cloned() {
        headers.entry("x-forwarded-host").or_insert(host);
    }
}

/// Copies bytes both ways between the browser and the orchestrator until either side
/// closes. WebSocket frames pass through unchanged, close frames included.
async fn bridge(client: OnUpgrade, upstream: OnUpgrade) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(err) => {
            tracing::warn!(error = %err, "WebSocket upgrade failed");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    if let Err(err) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(error = %err, "WebSocket bridge closed");
    }
}

/// Our JSON error shape, the same as the orchestrator's, so the UI shows one format.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_with_a_path_is_rejected() {
        assert!(Proxy::new("http://orchestrator:3333/api").is_err());
    }

    #[test]
    fn an_https_upstream_is_rejected() {
        assert!(Proxy::new("https://orchestrator:3333").is_err());
    }

    #[test]
    fn the_target_keeps_path_and_query() {
        let proxy = Proxy::new("http://orchestrator:3333/").unwrap();
        let target = proxy.target(&"/ws?after=12".parse().unwrap()).unwrap();
        assert_eq!(target, "http://orchestrator:3333/ws?after=12");
    }

    #[test]
    fn headers_named_by_connection_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            "keep-alive, x-secret-hop".parse().unwrap(),
        );
        headers.insert("x-secret-hop", "1".parse().unwrap());
        headers.insert(header::AUTHORIZATION, "Bearer t".parse().unwrap());
        strip_hop_by_hop(&mut headers);
        assert!(headers.get("x-secret-hop").is_none());
        assert!(headers.get(header::CONNECTION).is_none());
        assert!(headers.get(header::AUTHORIZATION).is_some());
    }
}
