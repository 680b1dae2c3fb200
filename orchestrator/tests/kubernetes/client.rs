//! The client's setup from a kubeconfig: CA and client certificate on rustls with ring,
//! without installing a process-wide crypto provider; the context chosen; what is refused.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use harness::executor::kubernetes::{ClientError, client, load_config};

use crate::settings;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kube")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A kubeconfig with two contexts, the current one authenticating by client certificate.
fn kubeconfig(dir: &Path, insecure: bool) -> PathBuf {
    let text = format!(
        r#"apiVersion: v1
kind: Config
current-context: prod
clusters:
  - name: prod
    cluster:
      server: https://prod.example.com:6443
      {tls}
  - name: staging
    cluster:
      server: https://staging.example.com:6443
      certificate-authority-data: {ca}
users:
  - name: harness
    user:
      client-certificate-data: {cert}
      client-key-data: {key}
  - name: token-user
    user:
      token: not-a-real-token
contexts:
  - name: prod
    context: {{cluster: prod, user: harness, namespace: jobs}}
  - name: staging
    context: {{cluster: staging, user: token-user}}
"#,
        tls = if insecure {
            "insecure-skip-tls-verify: true".to_string()
        } else {
            format!("certificate-authority-data: {}", fixture("ca.pem"))
        },
        ca = fixture("ca.pem"),
        cert = fixture("client.pem"),
        key = fixture("client.key"),
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).unwrap();
    path
}

fn with_kubeconfig(
    path: &Path,
    context: Option<&str>,
) -> harness::executor::kubernetes::KubernetesSettings {
    let mut s = settings("");
    s.kubeconfig = Some(path.to_path_buf());
    s.context = context.map(str::to_string);
    s
}

#[tokio::test]
async fn a_kubeconfig_with_a_ca_and_client_certificate_gives_a_client_and_no_global_provider() {
    let dir = tempfile::tempdir().unwrap();
    let path = kubeconfig(dir.path(), false);
    let config = load_config(&with_kubeconfig(&path, None))
        .await
        .expect("config");
    assert_eq!(
        config.cluster_url.to_string(),
        "https://prod.example.com:6443/"
    );
    assert_eq!(config.default_namespace, "jobs");
    client(config).expect("a client with the CA and the client certificate");
    assert!(
        rustls::crypto::CryptoProvider::get_default().is_none(),
        "building the kube client must not install a process-wide crypto provider"
    );
}

#[tokio::test]
async fn the_configured_context_picks_the_cluster_and_user() {
    let dir = tempfile::tempdir().unwrap();
    let path = kubeconfig(dir.path(), false);
    let config = load_config(&with_kubeconfig(&path, Some("staging")))
        .await
        .expect("config");
    assert_eq!(
        config.cluster_url.to_string(),
        "https://staging.example.com:6443/"
    );
    client(config).expect("a client with a bearer token");
}

#[tokio::test]
async fn a_kubeconfig_that_skips_tls_verification_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = kubeconfig(dir.path(), true);
    let config = load_config(&with_kubeconfig(&path, None))
        .await
        .expect("config");
    assert!(matches!(
        client(config),
        Err(ClientError::InsecureSkipVerify)
    ));
}

#[tokio::test]
async fn a_missing_kubeconfig_is_reported_with_its_path() {
    let err = load_config(&with_kubeconfig(Path::new("/nonexistent/kubeconfig"), None))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/kubeconfig"), "{err}");
}
