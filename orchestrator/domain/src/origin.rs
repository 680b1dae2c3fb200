//! Origins a task's browser may open beyond loopback: each an http(s) origin such as
//! `https://staging.example.com` or `http://10.0.0.5:3000`, with no path or query. The
//! one rule for what an allow-list entry is; the harness's browser policy uses it for
//! roles' and agents' lists too.

use crate::ValidationError;

/// The most origins one task may name.
pub(crate) const MAX_ORIGINS: usize = 16;

/// `entry` as an http(s) origin, or `None` when it is not exactly one.
pub fn parse_origin(entry: &str) -> Option<url::Origin> {
    let url = url::Url::parse(entry.trim()).ok()?;
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    let ok = matches!(url.scheme(), "http" | "https") && bare && url.host().is_some();
    ok.then(|| url.origin())
}

/// A task's `browser_origins`: valid origins, each written as `scheme://host[:port]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowserOrigins(Vec<String>);

impl BrowserOrigins {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, ValidationError> {
        if entries.len() > MAX_ORIGINS {
            return Err(ValidationError::new(
                "browser_origins",
                format!("browser_origins may name at most {MAX_ORIGINS} origins"),
            ));
        }
        let mut origins = Vec::with_capacity(entries.len());
        for entry in entries {
            let entry = entry.as_ref();
            let origin = parse_origin(entry).ok_or_else(|| {
                ValidationError::new(
                    "browser_origins",
                    format!(
                        "`{entry}` is not an http(s) origin like https://example.com or http://10.0.0.5:3000"
                    ),
                )
            })?;
            let text = origin.ascii_serialization();
            if !origins.contains(&text) {
                origins.push(text);
            }
        }
        Ok(Self(origins))
    }

    pub fn items(&self) -> &[String] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_kept_in_its_plain_form() {
        let origins =
            BrowserOrigins::parse(&["https://Example.com/", "http://10.0.0.5:3000"]).unwrap();
        assert_eq!(
            origins.items(),
            ["https://example.com", "http://10.0.0.5:3000"]
        );
    }

    #[test]
    fn an_entry_that_is_not_an_origin_is_refused_naming_the_field() {
        for entry in [
            "example.com",
            "https://example.com/path",
            "ftp://x",
            "file:///tmp",
            "",
        ] {
            let err = BrowserOrigins::parse(&[entry]).unwrap_err();
            assert_eq!(err.field, "browser_origins", "{entry}");
        }
    }

    #[test]
    fn too_many_origins_are_refused() {
        let many: Vec<String> = (0..=MAX_ORIGINS)
            .map(|i| format!("http://10.0.0.{i}"))
            .collect();
        assert!(BrowserOrigins::parse(&many).is_err());
    }
}
