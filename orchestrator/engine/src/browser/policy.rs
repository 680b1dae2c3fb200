//! Which URLs the browser may load: loopback by default (the app the agent started in
//! its worktree), plus an allow-list of origins a role or task names on purpose.
//!
//! The same check runs on `browser_open` and on every request the page makes
//! (navigations, redirects, subresources), so a page cannot lead the browser away.

use std::net::IpAddr;

use url::{Host, Url};

/// The origins the browser may load, beyond loopback. The default: loopback only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    extra: Vec<url::Origin>,
}

/// Why an origin in the allow-list was not taken; names the entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("browser allow-list entry `{entry}` is not an http(s) origin like http://example.com:8080")]
pub struct BadOrigin {
    pub entry: String,
}

/// Why a URL may not be loaded. The text is for the model to read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("`{0}` is not a valid absolute URL")]
    Invalid(String),
    #[error("`{0}` is refused: only http and https URLs can be opened")]
    Scheme(String),
    #[error(
        "`{0}` is refused: the browser may open only loopback URLs (127.0.0.1, localhost, [::1]) and the origins its role or task allows"
    )]
    Origin(String),
}

impl OriginPolicy {
    /// Loopback plus `entries`, each an http(s) origin (`https://example.com`,
    /// `http://10.0.0.5:3000`). A path, query or other scheme is refused.
    pub fn with_origins<S: AsRef<str>>(entries: &[S]) -> Result<Self, BadOrigin> {
        let extra = entries
            .iter()
            .map(|entry| parse_origin(entry.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { extra })
    }

    /// The allowed origins beyond loopback, serialised (`https://example.com`).
    pub(crate) fn extra_origins(&self) -> Vec<String> {
        self.extra
            .iter()
            .map(url::Origin::ascii_serialization)
            .collect()
    }

    /// Parses `raw` and says whether it may be loaded.
    pub fn check(&self, raw: &str) -> Result<Url, Refused> {
        let url = Url::parse(raw.trim()).map_err(|_| Refused::Invalid(raw.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme(raw.to_owned()));
        }
        if is_loopback(&url) || self.extra.contains(&url.origin()) {
            Ok(url)
        } else {
            Err(Refused::Origin(raw.to_owned()))
        }
    }

    /// Whether a request the page makes may go out. Schemes the network never sees
    /// (`data:`, `blob:`, `about:`) stay in the page and pass.
    pub(crate) fn allows_request(&self, raw: &str) -> bool {
        match Url::parse(raw) {
            Ok(url) if matches!(url.scheme(), "data" | "blob" | "about") => true,
            Ok(_) => self.check(raw).is_ok(),
            Err(_) => false,
        }
    }
}

fn parse_origin(entry: &str) -> Result<url::Origin, BadOrigin> {
    harness_domain::origin::parse_origin(entry).ok_or_else(|| BadOrigin {
        entry: entry.to_owned(),
    })
}

/// `localhost` (and its subdomains, which resolve to loopback by RFC 6761), 127.0.0.0/8
/// and `[::1]`.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_allowed_by_default() {
        let policy = OriginPolicy::default();
        for url in [
            "http://127.0.0.1:8080/",
            "http://localhost:3000/app?x=1",
            "https://[::1]:8443/",
            "http://127.1.2.3/",
        ] {
            assert!(policy.check(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn other_hosts_schemes_and_garbage_are_refused() {
        let policy = OriginPolicy::default();
        assert!(matches!(
            policy.check("https://example.com/"),
            Err(Refused::Origin(_))
        ));
        assert!(matches!(
            policy.check("http://127.0.0.1.example.com/"),
            Err(Refused::Origin(_))
        ));
        assert!(matches!(
            policy.check("http://10.0.0.1/"),
            Err(Refused::Origin(_))
        ));
        assert!(matches!(
            policy.check("file:///etc/passwd"),
            Err(Refused::Scheme(_))
        ));
        assert!(matches!(
            policy.check("not a url"),
            Err(Refused::Invalid(_))
        ));
    }

    #[test]
    fn an_allow_list_widens_to_exact_origins() {
        let policy = OriginPolicy::with_origins(&["https://example.com"]).unwrap();
        assert!(policy.check("https://example.com/page").is_ok());
        assert!(
            policy.check("http://example.com/").is_err(),
            "scheme is part of it"
        );
        assert!(
            policy.check("https://example.com:8443/").is_err(),
            "so is the port"
        );
        assert!(policy.check("https://sub.example.com/").is_err());
    }

    #[test]
    fn an_allow_list_entry_that_is_not_an_origin_is_refused() {
        for entry in [
            "example.com",
            "https://example.com/path",
            "ftp://x",
            "file:///tmp",
        ] {
            assert_eq!(
                OriginPolicy::with_origins(&[entry]),
                Err(BadOrigin {
                    entry: entry.into()
                }),
                "{entry}"
            );
        }
    }

    #[test]
    fn requests_that_never_reach_the_network_pass() {
        let policy = OriginPolicy::default();
        assert!(policy.allows_request("data:text/plain,hi"));
        assert!(policy.allows_request("about:blank"));
        assert!(!policy.allows_request("https://cdn.example.com/x.js"));
    }
}
