//! The one way the harness builds an outgoing HTTP client (the Messages API, the
//! health check, and the Telegram Bot API next): reqwest on rustls with the ring
//! provider and the bundled Mozilla roots. No OpenSSL, no cmake (aws-lc), no CA files
//! needed in a scratch image, and no process-wide crypto provider. Plain `http://`
//! stays allowed, for a local `ANTHROPIC_BASE_URL` (proxies, the test fake).
//!
//! reqwest is built with `rustls-no-provider`, so a bare `reqwest::Client::new()` would
//! panic for want of a provider: every client comes from [`client`].
//!
//! Two outgoing connections are not clients of an API and stay on hyper, on purpose:
//! - the gateway's reverse proxy (`gateway/proxy.rs`) forwards axum's own request and
//!   hands back hyper's response and upgraded connection untouched (a WebSocket is
//!   bridged byte for byte); reqwest would convert bodies and headers both ways.
//! - the Kubernetes client (`executor/kubernetes/client.rs`): kube's `Client` is a
//!   tower service over a hyper connector, so it gets a hyper-rustls connector on the
//!   same ring provider and no process-wide crypto provider.

use std::{sync::Arc, time::Duration};

/// Sent with every request, so a server's logs can tell the harness apart.
pub(crate) const USER_AGENT: &str = concat!("parent-harness/", env!("CARGO_PKG_VERSION"));

/// How long a client waits.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// To open a connection.
    pub connect: Duration,
    /// For a whole request, body included. `None` for streams, which bound their own
    /// silences instead.
    pub request: Option<Duration>,
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot build the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

/// A client with our TLS setup, user agent and `timeouts`. Cheap to clone; build one
/// per kind of job and share it, so connections are pooled.
pub fn client(timeouts: Timeouts) -> Result<reqwest::Client, HttpClientError> {
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config()?)
        .user_agent(USER_AGENT)
        .connect_timeout(timeouts.connect);
    if let Some(timeout) = timeouts.request {
        builder = builder.timeout(timeout);
    }
    Ok(builder.build()?)
}

fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_builds_with_ring_and_bundled_roots_and_no_process_wide_provider() {
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
        let timeouts = Timeouts {
            connect: Duration::from_secs(1),
            request: Some(Duration::from_secs(1)),
        };
        assert!(client(timeouts).is_ok());
    }
}
