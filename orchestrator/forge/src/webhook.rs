//! A forge's webhook delivery is believed only with the shared secret: GitHub signs the
//! body (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256>`), Gitea and Forgejo too
//! (`X-Gitea-Signature` / `X-Forgejo-Signature: <hex>`), GitLab sends the secret itself
//! (`X-Gitlab-Token`). Every comparison is in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::ForgeKind;

/// Whether a delivery with these `header`s and `body` comes from the forge that holds
/// `secret`. `header` looks a header up by its lowercase name.
pub fn is_genuine<'a>(
    kind: ForgeKind,
    secret: &str,
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
) -> bool {
    match kind {
        ForgeKind::GitHub => header("x-hub-signature-256")
            .and_then(|v| v.strip_prefix("sha256="))
            .is_some_and(|sig| signed(secret, body, sig)),
        ForgeKind::Gitea => header("x-gitea-signature")
            .or_else(|| header("x-forgejo-signature"))
            .is_some_and(|sig| signed(secret, body, sig)),
        ForgeKind::GitLab => header("x-gitlab-token")
            .is_some_and(|token| bool::from(token.as_bytes().ct_eq(secret.as_bytes()))),
    }
}

/// `hex_signature` is the HMAC-SHA256 of `body` under `secret`.
fn signed(secret: &str, body: &[u8], hex_signature: &str) -> bool {
    let Ok(given) = hex::decode(hex_signature.trim()) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    fn check(kind: ForgeKind, secret: &str, name: &str, value: &str, body: &[u8]) -> bool {
        is_genuine(kind, secret, |h| (h == name).then_some(value), body)
    }

    #[test]
    fn each_forge_is_believed_only_with_its_secret() {
        let body = br#"{"action":"opened"}"#;
        let sig = sign("s3cret", body);
        let github = format!("sha256={sig}");
        let hub = "x-hub-signature-256";
        assert!(check(ForgeKind::GitHub, "s3cret", hub, &github, body));
        assert!(!check(ForgeKind::GitHub, "other", hub, &github, body));
        assert!(
            !check(ForgeKind::GitHub, "s3cret", hub, &sig, body),
            "needs sha256="
        );
        assert!(check(
            ForgeKind::Gitea,
            "s3cret",
            "x-gitea-signature",
            &sig,
            body
        ));
        assert!(check(
            ForgeKind::Gitea,
            "s3cret",
            "x-forgejo-signature",
            &sig,
            body
        ));
        assert!(!check(
            ForgeKind::Gitea,
            "s3cret",
            "x-gitea-signature",
            &sig,
            b"tampered"
        ));
        assert!(check(
            ForgeKind::GitLab,
            "s3cret",
            "x-gitlab-token",
            "s3cret",
            body
        ));
        assert!(!check(
            ForgeKind::GitLab,
            "s3cret",
            "x-gitlab-token",
            "nope",
            body
        ));
        assert!(!is_genuine(ForgeKind::GitHub, "s3cret", |_| None, body));
    }
}
