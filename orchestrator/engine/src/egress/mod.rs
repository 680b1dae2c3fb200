//! Agent egress: which destinations an agent in its own network namespace may reach,
//! through the proxy the harness runs for it ([`proxy`]).
//!
//! An agent with its own network namespace has only its own loopback. The one way out
//! is the proxy (HTTP CONNECT, absolute-URI HTTP requests, SOCKS5) that the harness
//! serves on a listener inside that namespace and that connects from the host only to
//! what the allow-list ([`Egress`], `HARNESS_AGENT_EGRESS`) names; never to the
//! harness's own ports; never to loopback, link-local or private addresses unless an
//! entry names that host exactly (a `*.suffix` entry never opens them).

pub mod proxy;

use std::net::{IpAddr, SocketAddr};

/// The package registries agents need by default; the model API host is added to them.
pub(crate) const DEFAULT_HOSTS: [&str; 7] = [
    "crates.io",
    "static.crates.io",
    "index.crates.io",
    "registry.npmjs.org",
    "pypi.org",
    "files.pythonhosted.org",
    "deb.debian.org",
];

/// Entries in one allow-list at most, so a setting cannot make every check slow.
const MAX_ENTRIES: usize = 256;

/// One entry: a host (exact, or every name under a suffix) and an optional port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Entry {
    host: Host,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Host {
    /// `name` or an IP literal, lower case.
    Exact(String),
    /// `*.suffix`: names ending in `.suffix` (not `suffix` itself), stored with its dot.
    Suffix(String),
}

/// The destinations agents may reach through the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Egress {
    entries: Vec<Entry>,
}

/// Why the proxy did not connect, as the agent and the log read it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0} is not in the agents' egress allow-list (HARNESS_AGENT_EGRESS)")]
    NotListed(String),
    #[error("port {0} is the harness's own")]
    HarnessPort(u16),
    #[error("{host} resolves to {ip}, a local or private address that only an exact entry opens")]
    Private { host: String, ip: IpAddr },
    #[error("{0} does not resolve")]
    Unresolved(String),
}

impl Egress {
    /// Parses `host`, `host:port`, `*.suffix`, `*.suffix:port`, `[v6]:port`, comma-separated.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if entries.len() == MAX_ENTRIES {
                return Err(format!("more than {MAX_ENTRIES} entries"));
            }
            entries.push(parse_entry(item)?);
        }
        Ok(Self { entries })
    }

    /// The default list plus `model_host` (the host of the model API the runtime uses).
    pub fn default_with(model_host: Option<&str>) -> Self {
        let mut list = DEFAULT_HOSTS.join(",");
        if let Some(host) = model_host.filter(|h| !h.is_empty()) {
            list.push(',');
            list.push_str(host);
        }
        Self::parse(&list).unwrap_or_default()
    }

    /// This list with `more`'s entries added (a role's, beyond the server's).
    pub fn with(&self, more: &Egress) -> Egress {
        let mut entries = self.entries.clone();
        for entry in &more.entries {
            if !entries.contains(entry) {
                entries.push(entry.clone());
            }
        }
        Egress { entries }
    }

    /// Adds an exact `host:port` entry (a model API the harness relays).
    pub fn allow(&mut self, host: &str, port: u16) {
        self.entries.push(Entry {
            host: Host::Exact(host.to_ascii_lowercase()),
            port: Some(port),
        });
    }

    /// Whether an entry names `host` on `port`; `exact` when that entry is no wildcard.
    fn find(&self, host: &str, port: u16) -> Option<bool> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.entries
            .iter()
            .filter(|e| e.port.is_none_or(|p| p == port))
            .find_map(|e| match &e.host {
                Host::Exact(name) if name == host => Some(true),
                Host::Suffix(suffix) if host.ends_with(suffix.as_str()) => Some(false),
                _ => None,
            })
    }

    /// Where the proxy may connect for `host:port`: resolved here, on the host, and
    /// checked address by address (a name that resolves to 127.0.0.1 opens nothing).
    pub async fn resolve(
        &self,
        host: &str,
        port: u16,
        harness_ports: &[u16],
    ) -> Result<Vec<SocketAddr>, Refusal> {
        if harness_ports.contains(&port) {
            return Err(Refusal::HarnessPort(port));
        }
        let exact = self
            .find(host, port)
            .ok_or_else(|| Refusal::NotListed(format!("{host}:{port}")))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|_| Refusal::Unresolved(host.to_owned()))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(Refusal::Unresolved(host.to_owned()));
        }
        if !exact && let Some(local) = addrs.iter().find(|a| is_local(a.ip())) {
            return Err(Refusal::Private {
                host: host.to_owned(),
                ip: local.ip(),
            });
        }
        Ok(addrs)
    }
}

/// `host:port` of a URL (the model API's), as an allow-list entry.
pub fn host_port_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let port = url.port_or_known_default()?;
    match url.host()? {
        url::Host::Ipv6(ip) => Some(format!("[{ip}]:{port}")),
        host => Some(format!("{host}:{port}")),
    }
}

fn parse_entry(item: &str) -> Result<Entry, String> {
    let bad = |why: &str| format!("{item:?}: {why}");
    let lower = item.to_ascii_lowercase();
    let (host, port) = if let Some(rest) = lower.strip_prefix('[') {
        let (v6, tail) = rest.split_once(']').ok_or_else(|| bad("no closing ]"))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p),
            None if tail.is_empty() => None,
            None => return Err(bad("junk after ]")),
        };
        (v6.to_owned(), port.map(str::to_owned))
    } else if lower.matches(':').count() > 1 {
        (lower.clone(), None)
    } else {
        match lower.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p.to_owned())),
            None => (lower.clone(), None),
        }
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| bad("the port must be 1 to 65535"))?,
        ),
        None => None,
    };
    let host = host.trim_end_matches('.');
    let valid = |name: &str| {
        !name.is_empty()
            && name.len() <= 253
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':'))
    };
    let host = match host.strip_prefix("*.") {
        Some(suffix) if valid(suffix) && !suffix.contains(':') => {
            Host::Suffix(format!(".{suffix}"))
        }
        Some(_) => return Err(bad("not a domain after *.")),
        None if host.contains('*') => return Err(bad("a wildcard only as a leading *.")),
        None if valid(host) => Host::Exact(host.to_owned()),
        None => return Err(bad("not a host name or address")),
    };
    Ok(Entry { host, port })
}

/// Loopback, link-local, private (RFC 1918, ULA, CGNAT), unspecified or multicast.
pub(crate) fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_local(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_list_parses_hosts_ports_and_suffixes() {
        let list =
            Egress::parse(" crates.io, *.Example.com:443 ,127.0.0.1:8080, [::1]:81").unwrap();
        assert_eq!(list.find("crates.io", 443), Some(true));
        assert_eq!(list.find("CRATES.IO.", 80), Some(true));
        assert_eq!(list.find("a.example.com", 443), Some(false));
        assert_eq!(list.find("example.com", 443), None);
        assert_eq!(list.find("a.example.com", 80), None);
        assert_eq!(list.find("127.0.0.1", 8080), Some(true));
        assert_eq!(list.find("127.0.0.1", 8081), None);
        assert_eq!(list.find("[::1]", 81), Some(true));
        assert_eq!(list.find("evilcrates.io", 443), None);
        for bad in [
            "a:0",
            "a:x",
            "*.",
            "a*.b",
            "ex ample.com",
            "[::1",
            "*.a:b:c",
        ] {
            assert!(Egress::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Egress::parse("").unwrap(), Egress::default());
    }

    #[test]
    fn the_default_names_the_registries_and_the_model_api() {
        let list = Egress::default_with(Some("api.anthropic.com"));
        assert_eq!(list.find("index.crates.io", 443), Some(true));
        assert_eq!(list.find("api.anthropic.com", 443), Some(true));
        assert_eq!(list.find("github.com", 443), None);
    }

    #[tokio::test]
    async fn local_addresses_need_an_exact_entry_and_harness_ports_never_pass() {
        let list = Egress::parse("127.0.0.1:9000,*.localhost,localhost:9001").unwrap();
        assert!(list.resolve("127.0.0.1", 9000, &[]).await.is_ok());
        assert_eq!(
            list.resolve("127.0.0.1", 9000, &[9000]).await,
            Err(Refusal::HarnessPort(9000))
        );
        assert!(matches!(
            list.resolve("a.localhost", 9000, &[]).await,
            Err(Refusal::Private { .. }) | Err(Refusal::Unresolved(_))
        ));
        assert!(matches!(
            list.resolve("10.0.0.1", 80, &[]).await,
            Err(Refusal::NotListed(_))
        ));
        assert!(is_local("169.254.169.254".parse().unwrap()));
        assert!(is_local("::ffff:127.0.0.1".parse().unwrap()));
        assert!(is_local("fd00::1".parse().unwrap()));
        assert!(!is_local("151.101.1.1".parse().unwrap()));
    }
}
