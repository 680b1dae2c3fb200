//! Settings of the web boundary shared by `harness serve` and `harness dashboard`:
//! which names the server answers to, where it is really published, and whether it
//! may run open on a network.

use std::net::IpAddr;

use axum::http::{Uri, uri::Scheme};
use clap::{Args, builder::BoolishValueParser};

/// A web setting that is not valid: the setting's name and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{name} is not valid: {message}")]
pub struct WebError {
    pub name: &'static str,
    pub message: String,
}

fn invalid(name: &'static str, message: &str) -> WebError {
    WebError {
        name,
        message: message.to_owned(),
    }
}

/// Flags and environment variables of the web boundary.
#[derive(Debug, Clone, Default, Args)]
pub struct WebArgs {
    /// The URL people open the dashboard at, such as https://harness.example.com. Its
    /// host is accepted in Host and Origin; https marks the login cookie Secure.
    #[arg(long, env = "HARNESS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// More host names the server answers to, comma-separated (besides localhost,
    /// 127.0.0.1, [::1] and the public URL's host). Others get 403 (DNS rebinding).
    #[arg(long, env = "HARNESS_ALLOWED_HOSTS")]
    pub allowed_hosts: Option<String>,
    /// Where the port is really published, when that differs from the bind address
    /// (compose: the host address of the dashboard port) [default: the bind address].
    #[arg(long, env = "HARNESS_PUBLISHED_BIND")]
    pub published_bind: Option<IpAddr>,
    /// Run on a non-loopback address without HARNESS_API_TOKEN anyway [default: false].
    #[arg(long, env = "HARNESS_ALLOW_OPEN", value_parser = BoolishValueParser::new())]
    pub allow_open: Option<bool>,
}

/// The same settings from `harness.toml` (`allowed_hosts` as a list there).
#[derive(Debug, Default)]
pub struct WebFile {
    pub public_url: Option<String>,
    pub allowed_hosts: Option<Vec<String>>,
    pub published_bind: Option<IpAddr>,
    pub allow_open: Option<bool>,
}

impl WebArgs {
    /// Fills what flags and environment left unset from `harness.toml`.
    pub fn or_file(self, file: WebFile) -> Self {
        Self {
            public_url: self.public_url.or(file.public_url),
            allowed_hosts: self
                .allowed_hosts
                .or(file.allowed_hosts.map(|hosts| hosts.join(","))),
            published_bind: self.published_bind.or(file.published_bind),
            allow_open: self.allow_open.or(file.allow_open),
        }
    }
}

/// The public URL's parts the guards need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    pub https: bool,
    /// Lower-case host, IPv6 in brackets.
    pub host: String,
    pub port: u16,
}

impl PublicUrl {
    /// `scheme://host[:port]`, the base of links to the dashboard.
    pub fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let default_port = if self.https { 443 } else { 80 };
        if self.port == default_port {
            format!("{scheme}://{}", self.host)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// Validated web settings.
#[derive(Debug, Clone, Default)]
pub struct WebSettings {
    pub public_url: Option<PublicUrl>,
    /// Lower-case host names (IPv6 in brackets), without ports.
    pub allowed_hosts: Vec<String>,
    pub published_bind: Option<IpAddr>,
    pub allow_open: bool,
}

impl WebSettings {
    pub fn load(args: WebArgs) -> Result<Self, WebError> {
        let public_url = args
            .public_url
            .filter(|u| !u.trim().is_empty())
            .map(|u| parse_public_url(u.trim()))
            .transpose()?;
        let allowed_hosts = args
            .allowed_hosts
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(parse_host_name)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            public_url,
            allowed_hosts,
            published_bind: args.published_bind,
            allow_open: args.allow_open.unwrap_or(false),
        })
    }

    /// Refuses a server reachable from other machines with no token, unless the person
    /// said they mean it. `bind` is the address the process listens on.
    pub fn check_exposure(&self, bind: IpAddr, has_token: bool) -> Result<(), WebError> {
        let (name, exposed) = match self.published_bind {
            Some(published) => ("HARNESS_PUBLISHED_BIND", published),
            None => ("HARNESS_BIND", bind),
        };
        if exposed.is_loopback() || has_token || self.allow_open {
            return Ok(());
        }
        Err(invalid(
            name,
            &format!(
                "{exposed} is reachable from other machines and HARNESS_API_TOKEN is not set: \
                 set HARNESS_API_TOKEN (or HARNESS_API_TOKEN_FILE), publish on 127.0.0.1, \
                 or set HARNESS_ALLOW_OPEN=1 to run open on purpose"
            ),
        ))
    }

    /// True when the server is reachable beyond this machine.
    pub fn exposed(&self, bind: IpAddr) -> bool {
        !self.published_bind.unwrap_or(bind).is_loopback()
    }
}

fn parse_public_url(raw: &str) -> Result<PublicUrl, WebError> {
    const NAME: &str = "HARNESS_PUBLIC_URL";
    let uri: Uri = raw
        .parse()
        .map_err(|_| invalid(NAME, "must be a URL such as https://harness.example.com"))?;
    let https = match uri.scheme() {
        Some(s) if *s == Scheme::HTTPS => true,
        Some(s) if *s == Scheme::HTTP => false,
        _ => return Err(invalid(NAME, "must start with http:// or https://")),
    };
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(invalid(NAME, "must not have a path or query"));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| invalid(NAME, "has no host"))?;
    Ok(PublicUrl {
        https,
        host: authority.host().to_ascii_lowercase(),
        port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
    })
}

/// A bare host name or IP address, as it appears in a Host header without its port.
fn parse_host_name(raw: &str) -> Result<String, WebError> {
    let ok = raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '[' | ']'))
        && raw.parse::<axum::http::uri::Authority>().is_ok_and(|a| {
            a.port().is_none() && a.host().eq_ignore_ascii_case(raw) && !raw.contains('@')
        });
    if ok {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(invalid(
            "HARNESS_ALLOWED_HOSTS",
            &format!("{raw:?} is not a host name (no scheme, port or path)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(args: WebArgs) -> Result<WebSettings, WebError> {
        WebSettings::load(args)
    }

    #[test]
    fn a_public_url_keeps_its_host_port_and_scheme() {
        let s = web(WebArgs {
            public_url: Some("https://Harness.Example.com".into()),
            ..WebArgs::default()
        })
        .unwrap();
        assert_eq!(
            s.public_url,
            Some(PublicUrl {
                https: true,
                host: "harness.example.com".into(),
                port: 443
            })
        );
    }

    #[test]
    fn a_public_url_with_a_path_is_rejected_by_name() {
        let err = web(WebArgs {
            public_url: Some("https://example.com/harness".into()),
            ..WebArgs::default()
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("HARNESS_PUBLIC_URL"), "{err}");
    }

    #[test]
    fn allowed_hosts_are_trimmed_lowercased_and_empty_items_skipped() {
        let s = web(WebArgs {
            allowed_hosts: Some(" Orchestrator, ,box.lan,[::1],".into()),
            ..WebArgs::default()
        })
        .unwrap();
        assert_eq!(s.allowed_hosts, ["orchestrator", "box.lan", "[::1]"]);
    }

    #[test]
    fn an_allowed_host_with_a_port_or_scheme_is_rejected() {
        for bad in ["box.lan:80", "http://box.lan", "box lan", "a/b"] {
            let err = web(WebArgs {
                allowed_hosts: Some(bad.into()),
                ..WebArgs::default()
            })
            .unwrap_err();
            assert!(
                err.to_string().starts_with("HARNESS_ALLOWED_HOSTS"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_wide_bind_without_a_token_is_refused_unless_allowed_open() {
        let wide: IpAddr = [0, 0, 0, 0].into();
        let local: IpAddr = [127, 0, 0, 1].into();
        let s = WebSettings::default();
        assert!(s.check_exposure(local, false).is_ok());
        assert!(s.check_exposure(wide, true).is_ok());
        let err = s.check_exposure(wide, false).unwrap_err();
        assert!(err.to_string().starts_with("HARNESS_BIND"), "{err}");
        let open = WebSettings {
            allow_open: true,
            ..WebSettings::default()
        };
        assert!(open.check_exposure(wide, false).is_ok());
    }

    #[test]
    fn the_published_address_decides_in_compose() {
        let wide: IpAddr = [0, 0, 0, 0].into();
        let published_local = WebSettings {
            published_bind: Some([127, 0, 0, 1].into()),
            ..WebSettings::default()
        };
        assert!(published_local.check_exposure(wide, false).is_ok());
        let published_wide = WebSettings {
            published_bind: Some(wide),
            ..WebSettings::default()
        };
        let err = published_wide
            .check_exposure([127, 0, 0, 1].into(), false)
            .unwrap_err();
        assert!(
            err.to_string().starts_with("HARNESS_PUBLISHED_BIND"),
            "{err}"
        );
    }
}
