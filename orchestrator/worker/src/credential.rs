//! The per-attempt credential a worker presents: `w1.<attempt>.<expires unix secs>.<mac>`,
//! an HMAC-SHA256 over the first three fields with the orchestrator's worker key.
//!
//! The key lives in a file next to the database (created 0600 on first start), so a
//! credential stays valid across an orchestrator restart until it expires. A credential
//! names one attempt: it opens that attempt's assignment, events and branch, nothing else.

use std::{io::Write as _, path::Path};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const PREFIX: &str = "w1";
const KEY_BYTES: usize = 32;

/// The orchestrator's secret for signing worker credentials. `Debug` hides it.
#[derive(Clone)]
pub struct WorkerKey([u8; KEY_BYTES]);

impl std::fmt::Debug for WorkerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkerKey(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the worker key {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create the worker key {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
    #[error("the worker key {path} is not {KEY_BYTES} bytes")]
    Malformed { path: String },
    #[error("cannot draw random bytes: {0}")]
    Random(getrandom::Error),
}

/// Why a presented credential is refused (every case answers 401).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("no worker credential")]
    Missing,
    #[error("the worker credential is malformed")]
    Malformed,
    #[error("the worker credential's signature does not match")]
    Forged,
    #[error("the worker credential has expired")]
    Expired,
}

/// What a valid credential says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub attempt: i64,
    pub expires_unix: i64,
}

impl WorkerKey {
    /// Reads `path`, or creates it with fresh random bytes (mode 0600).
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => {
                let key: [u8; KEY_BYTES] = bytes
                    .try_into()
                    .map_err(|_| KeyError::Malformed { path: shown })?;
                Ok(Self(key))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::random()?;
                use std::os::unix::fs::OpenOptionsExt;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|source| KeyError::Create {
                        path: shown.clone(),
                        source,
                    })?;
                file.write_all(&key.0).map_err(|source| KeyError::Create {
                    path: shown,
                    source,
                })?;
                Ok(key)
            }
            Err(source) => Err(KeyError::Read {
                path: shown,
                source,
            }),
        }
    }

    pub fn random() -> Result<Self, KeyError> {
        let mut key = [0u8; KEY_BYTES];
        getrandom::fill(&mut key).map_err(KeyError::Random)?;
        Ok(Self(key))
    }

    /// A public name of this installation, derived from the key (which only it holds):
    /// two orchestrators on one container engine tell their containers apart by it,
    /// even when their databases sit at the same path in their own containers.
    pub fn installation_id(&self) -> String {
        let tag = self
            .mac("parent-harness installation")
            .finalize()
            .into_bytes();
        hex::encode(&tag[..6])
    }

    fn mac(&self, body: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        mac.update(body.as_bytes());
        mac
    }

    /// A credential for `attempt`, valid until `expires_unix`.
    pub fn issue(&self, attempt: i64, expires_unix: i64) -> String {
        let body = format!("{PREFIX}.{attempt}.{expires_unix}");
        let tag = hex::encode(self.mac(&body).finalize().into_bytes());
        format!("{body}.{tag}")
    }

    /// Checks the signature (in constant time) and the expiry against `now_unix`.
    pub fn verify(&self, credential: &str, now_unix: i64) -> Result<Claim, CredentialError> {
        let (body, tag) = credential
            .rsplit_once('.')
            .ok_or(CredentialError::Malformed)?;
        let mut fields = body.split('.');
        let (Some(PREFIX), Some(attempt), Some(expires), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(CredentialError::Malformed);
        };
        let attempt: i64 = attempt.parse().map_err(|_| CredentialError::Malformed)?;
        let expires_unix: i64 = expires.parse().map_err(|_| CredentialError::Malformed)?;
        let tag = hex::decode(tag).map_err(|_| CredentialError::Malformed)?;
        self.mac(body)
            .verify_slice(&tag)
            .map_err(|_| CredentialError::Forged)?;
        if now_unix >= expires_unix {
            return Err(CredentialError::Expired);
        }
        Ok(Claim {
            attempt,
            expires_unix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installation_id_is_stable_per_key_and_differs_between_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.key");
        let first = WorkerKey::load_or_create(&path).unwrap().installation_id();
        let again = WorkerKey::load_or_create(&path).unwrap().installation_id();
        let other = WorkerKey::random().unwrap().installation_id();
        assert_eq!(first, again);
        assert_ne!(first, other);
        assert_eq!(first.len(), 12);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");
    }

    #[test]
    fn an_issued_credential_verifies_until_it_expires() {
        let key = WorkerKey::random().unwrap();
        let cred = key.issue(7, 1_000);
        assert_eq!(
            key.verify(&cred, 999),
            Ok(Claim {
                attempt: 7,
                expires_unix: 1_000
            })
        );
        assert_eq!(key.verify(&cred, 1_000), Err(CredentialError::Expired));
    }

    #[test]
    fn a_changed_field_or_another_key_is_forged() {
        let key = WorkerKey::random().unwrap();
        let cred = key.issue(7, 1_000);
        let other = cred.replacen("w1.7.", "w1.8.", 1);
        assert_eq!(key.verify(&other, 0), Err(CredentialError::Forged));
        let stranger = WorkerKey::random().unwrap();
        assert_eq!(stranger.verify(&cred, 0), Err(CredentialError::Forged));
        assert_eq!(key.verify("w1.7", 0), Err(CredentialError::Malformed));
        assert_eq!(key.verify("", 0), Err(CredentialError::Malformed));
    }

    #[test]
    fn the_key_file_is_created_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.key");
        let a = WorkerKey::load_or_create(&path).unwrap();
        let b = WorkerKey::load_or_create(&path).unwrap();
        assert_eq!(a.0, b.0);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
