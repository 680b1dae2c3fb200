//! Browser-facing guards shared by `harness serve` and the dashboard gateway.
//!
//! - **Host** must name this server: a loopback name, an IP literal, the public URL's
//!   host or one of `HARNESS_ALLOWED_HOSTS`. A DNS-rebinding page reaches us under a
//!   name its author controls, so its Host is none of these.
//! - **Origin**: a state-changing request (anything but GET/HEAD/OPTIONS) and a
//!   WebSocket handshake are refused when a browser says they come from another origin
//!   (`Origin` is not the request's own or the public URL's, or `Sec-Fetch-Site:
//!   cross-site`). Clients that send no Origin, like `curl -d`, are not browsers: the
//!   token guards them.
//! - **Headers**: CSP, frame denial, nosniff and a referrer policy on every response.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{
        HeaderMap, HeaderValue, Method, Uri, header,
        uri::{Authority, Scheme},
    },
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::error_body::{ErrorBody, ErrorDetail};
use crate::web::WebSettings;

/// Paths a container health check calls by address, whatever name it uses.
const OPEN_PATHS: [&str; 2] = ["/health", "/gateway/health"];
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// The SPA loads only its own scripts; the dialogs' scroll lock (Radix) injects a
/// `<style>` element, hence `'unsafe-inline'` for styles (never for scripts). `connect-src 'self'` covers the
/// same-host WebSocket.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The names and origin this server answers to.
#[derive(Debug, Clone)]
pub struct Guard {
    web: WebSettings,
}

/// A request the guard refuses, and why (the message says what to configure).
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    MissingHost,
    UnknownHost(String),
    ForeignOrigin(String),
    CrossSite,
}

impl Refusal {
    fn message(&self) -> String {
        match self {
            Self::MissingHost => "the request has no Host header".to_owned(),
            Self::UnknownHost(host) => format!(
                "Host {host} is not a name of this server; add it to HARNESS_ALLOWED_HOSTS \
                 or HARNESS_PUBLIC_URL"
            ),
            Self::ForeignOrigin(origin) => format!(
                "requests from origin {origin} are refused; open the dashboard at this \
                 server's own address"
            ),
            Self::CrossSite => "cross-site requests are refused".to_owned(),
        }
    }
}

impl Guard {
    pub fn new(web: WebSettings) -> Self {
        Self { web }
    }

    /// Checks one request's Host, and its Origin when it changes state or upgrades.
    pub fn check(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
        if OPEN_PATHS.contains(&uri.path()) {
            return Ok(());
        }
        let host = request_host(uri, headers).ok_or(Refusal::MissingHost)?;
        if !self.host_allowed(host.host()) {
            return Err(Refusal::UnknownHost(host.as_str().to_owned()));
        }
        let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if changes_state || headers.contains_key(header::UPGRADE) {
            self.check_origin(headers, &host)?;
        }
        Ok(())
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        LOOPBACK_NAMES.contains(&host.as_str())
            || is_ip_literal(&host)
            || self.web.public_url.as_ref().is_some_and(|u| u.host == host)
            || self.web.allowed_hosts.contains(&host)
    }

    fn check_origin(&self, headers: &HeaderMap, host: &Authority) -> Result<(), Refusal> {
        let cross_site = headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        if cross_site {
            return Err(Refusal::CrossSite);
        }
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let text = origin.to_str().unwrap_or("?");
        match parse_origin(text) {
            Some(o) if o.matches_host(host) || self.is_public_origin(&o) => Ok(()),
            _ => Err(Refusal::ForeignOrigin(text.to_owned())),
        }
    }

    fn is_public_origin(&self, origin: &Origin) -> bool {
        self.web.public_url.as_ref().is_some_and(|u| {
            u.https == origin.https && u.host == origin.host && u.port == origin.port
        })
    }
}

/// A browser's `Origin`: scheme, host and port, nothing else.
struct Origin {
    https: bool,
    host: String,
    port: u16,
}

impl Origin {
    /// The request's own origin: same host, and same port (a missing port in Host
    /// means the scheme's default).
    fn matches_host(&self, host: &Authority) -> bool {
        let default = if self.https { 443 } else { 80 };
        host.host().eq_ignore_ascii_case(&self.host)
            && host.port_u16().unwrap_or(default) == self.port
    }
}

fn parse_origin(raw: &str) -> Option<Origin> {
    let (scheme, authority) = raw.split_once("://")?;
    let https = match scheme.parse::<Scheme>().ok()? {
        s if s == Scheme::HTTPS => true,
        s if s == Scheme::HTTP => false,
        _ => return None,
    };
    let authority: Authority = authority.parse().ok()?;
    Some(Origin {
        https,
        host: authority.host().to_ascii_lowercase(),
        port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
    })
}

/// The Host header, or the URI's authority (HTTP/2 sends `:authority` instead).
fn request_host(uri: &Uri, headers: &HeaderMap) -> Option<Authority> {
    match headers.get(header::HOST) {
        Some(value) => value.to_str().ok()?.parse().ok(),
        None => uri.authority().cloned(),
    }
}

/// An address typed as such cannot be rebound: rebinding needs a name the attacker owns.
fn is_ip_literal(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>().is_ok()
}

/// Middleware: refuses with our JSON error (403) what [`Guard::check`] refuses.
pub async fn enforce(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    match guard.check(req.method(), req.uri(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(refusal) => {
            tracing::warn!(reason = %refusal.message(), method = %req.method(), path = %req.uri().path(), "request refused");
            let body = ErrorBody {
                error: ErrorDetail {
                    code: "forbidden",
                    message: refusal.message(),
                    field: None,
                },
            };
            (axum::http::StatusCode::FORBIDDEN, axum::Json(body)).into_response()
        }
    }
}

/// Adds the security headers to every response.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::PublicUrl;

    fn guard() -> Guard {
        Guard::new(WebSettings {
            public_url: Some(PublicUrl {
                https: true,
                host: "harness.example.com".into(),
                port: 443,
            }),
            allowed_hosts: vec!["box.lan".into()],
            ..WebSettings::default()
        })
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn uri(path: &str) -> Uri {
        path.parse().unwrap()
    }

    fn post(pairs: &[(&'static str, &str)]) -> Result<(), Refusal> {
        guard().check(&Method::POST, &uri("/api/tasks"), &headers(pairs))
    }

    #[test]
    fn loopback_names_ip_literals_and_configured_names_pass_with_any_port() {
        for host in [
            "localhost:3333",
            "LOCALHOST",
            "127.0.0.1:1",
            "[::1]:3333",
            "192.168.1.5:3333",
            "box.lan:8080",
            "harness.example.com",
        ] {
            let h = headers(&[("host", host)]);
            assert_eq!(
                guard().check(&Method::GET, &uri("/api/tasks"), &h),
                Ok(()),
                "{host}"
            );
        }
    }

    #[test]
    fn a_rebound_name_is_refused_but_health_stays_open() {
        let h = headers(&[("host", "attacker.example:3333")]);
        assert!(matches!(
            guard().check(&Method::GET, &uri("/api/tasks"), &h),
            Err(Refusal::UnknownHost(_))
        ));
        assert_eq!(guard().check(&Method::GET, &uri("/health"), &h), Ok(()));
    }

    #[test]
    fn a_post_from_another_port_on_localhost_is_refused() {
        let r = post(&[
            ("host", "localhost:3333"),
            ("origin", "http://localhost:5173"),
        ]);
        assert!(matches!(r, Err(Refusal::ForeignOrigin(_))));
    }

    #[test]
    fn a_post_from_its_own_origin_or_the_public_url_passes() {
        assert_eq!(
            post(&[
                ("host", "localhost:3333"),
                ("origin", "http://localhost:3333")
            ]),
            Ok(())
        );
        assert_eq!(
            post(&[("host", "box.lan"), ("origin", "http://box.lan")]),
            Ok(())
        );
        // A TLS proxy that does not keep Host: the public URL still matches.
        assert_eq!(
            post(&[
                ("host", "127.0.0.1:3333"),
                ("origin", "https://harness.example.com")
            ]),
            Ok(())
        );
    }

    #[test]
    fn null_and_cross_site_are_refused_and_no_origin_passes() {
        assert!(post(&[("host", "localhost:3333"), ("origin", "null")]).is_err());
        assert_eq!(
            post(&[("host", "localhost:3333"), ("sec-fetch-site", "cross-site")]),
            Err(Refusal::CrossSite)
        );
        assert_eq!(post(&[("host", "localhost:3333")]), Ok(()));
    }

    #[test]
    fn a_get_ignores_origin_but_a_websocket_upgrade_does_not() {
        let pairs = [
            ("host", "localhost:3333"),
            ("origin", "http://evil.example"),
        ];
        assert_eq!(
            guard().check(&Method::GET, &uri("/api/tasks"), &headers(&pairs)),
            Ok(())
        );
        let mut upgrade = headers(&pairs);
        upgrade.insert(header::UPGRADE, "websocket".parse().unwrap());
        assert!(guard().check(&Method::GET, &uri("/ws"), &upgrade).is_err());
    }
}
