//! Builds the Kubernetes API client: the cluster's address, credentials and CA from a
//! kubeconfig or the pod's service account, on rustls with the ring provider like
//! every other client of the harness (`http_client`). kube's own TLS setup would
//! install a process-wide crypto provider; this one does not.

use std::{path::PathBuf, sync::Arc, time::Duration};

use base64::Engine as _;
use hyper_rustls::FixedServerNameResolver;
use hyper_util::{client::legacy::connect::HttpConnector, rt::TokioExecutor};
use kube::{
    Client, Config,
    client::ConfigExt,
    config::{KubeConfigOptions, Kubeconfig},
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use secrecy::ExposeSecret;
use tower::{BoxError, ServiceBuilder};

use super::settings::KubernetesSettings;

/// Why the client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read the kubeconfig {path}: {source}")]
    ReadKubeconfig {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error("cannot use the kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error("no cluster configuration found (in-cluster or kubeconfig): {0}")]
    Infer(#[from] kube::config::InferConfigError),
    #[error("the kubeconfig asks to skip TLS verification, which the harness refuses")]
    InsecureSkipVerify,
    #[error("cannot read the client {what}: {detail}")]
    Identity { what: &'static str, detail: String },
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    #[error("cannot set up authentication: {0}")]
    Auth(#[from] kube::Error),
}

/// TCP keepalive on API connections, so a watch over a dead connection ends instead of
/// waiting forever.
const KEEPALIVE: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The cluster configuration the settings point at: their kubeconfig (and context), or
/// else in-cluster, `KUBECONFIG`, `~/.kube/config`.
pub async fn load_config(settings: &KubernetesSettings) -> Result<Config, ClientError> {
    let options = KubeConfigOptions {
        context: settings.context.clone(),
        ..Default::default()
    };
    match &settings.kubeconfig {
        Some(path) => {
            let file =
                Kubeconfig::read_from(path).map_err(|source| ClientError::ReadKubeconfig {
                    path: path.clone(),
                    source,
                })?;
            Ok(Config::from_custom_kubeconfig(file, &options).await?)
        }
        None if settings.context.is_some() => Ok(Config::from_kubeconfig(&options).await?),
        None => Ok(Config::infer().await?),
    }
}

/// A client for `config`.
pub fn client(config: Config) -> Result<Client, ClientError> {
    if config.accept_invalid_certs {
        return Err(ClientError::InsecureSkipVerify);
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_keepalive(Some(KEEPALIVE));
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let mut https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config(&config)?)
        .https_or_http();
    if let Some(name) = &config.tls_server_name {
        let server_name = name
            .clone()
            .try_into()
            .map_err(|_| ClientError::ServerName(name.clone()))?;
        https = https.with_server_name_resolver(FixedServerNameResolver::new(server_name));
    }
    let https = https.enable_http1().wrap_connector(http);
    let hyper = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(https);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(hyper);
    Ok(Client::new(service, config.default_namespace))
}

fn tls_config(config: &Config) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match &config.root_cert {
        Some(certs) => {
            for der in certs {
                roots.add(CertificateDer::from(der.clone()))?;
            }
        }
        // A kubeconfig without a CA trusts the public roots, as kubectl does.
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    Ok(match identity(config)? {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    })
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The client certificate and key of the kubeconfig's user, if it has one.
fn identity(config: &Config) -> Result<Option<Identity>, ClientError> {
    let auth = &config.auth_info;
    let cert = pem_bytes(
        "certificate",
        auth.client_certificate_data.as_deref(),
        auth.client_certificate.as_deref(),
    )?;
    let key_data = auth
        .client_key_data
        .as_ref()
        .map(|k| k.expose_secret().to_owned());
    let key = pem_bytes("key", key_data.as_deref(), auth.client_key.as_deref())?;
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) | (None, Some(_)) => {
            return Err(ClientError::Identity {
                what: "certificate and key",
                detail: "the kubeconfig has one without the other".into(),
            });
        }
    };
    let chain = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::Identity {
            what: "certificate",
            detail: e.to_string(),
        })?;
    let key = PrivateKeyDer::from_pem_slice(&key).map_err(|e| ClientError::Identity {
        what: "key",
        detail: e.to_string(),
    })?;
    Ok(Some((chain, key)))
}

/// PEM from a kubeconfig field: inline base64 data wins over a file path.
fn pem_bytes(
    what: &'static str,
    data: Option<&str>,
    path: Option<&str>,
) -> Result<Option<Vec<u8>>, ClientError> {
    let fail = |detail: String| ClientError::Identity { what, detail };
    if let Some(data) = data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| fail(format!("not base64: {e}")))?;
        return Ok(Some(bytes));
    }
    match path {
        Some(path) => std::fs::read(path)
            .map(Some)
            .map_err(|e| fail(format!("{path}: {e}"))),
        None => Ok(None),
    }
}
