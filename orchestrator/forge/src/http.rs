//! The one HTTP path to a forge: its authentication header, JSON both ways, pagination
//! (GitHub's and Gitea's `Link: <…>; rel="next"`, GitLab's `X-Next-Page`), and every
//! status mapped onto [`ForgeError`] in one place. The token goes only into the
//! authentication header, never into a URL or a message.

use std::time::Duration;

use harness_base::http_client::{self, Timeouts};
use reqwest::{
    Method, RequestBuilder, Response, StatusCode,
    header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER},
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{ForgeError, ForgeKind, ForgeSettings};

/// Pages read for one list at most: a list longer than this many pages is cut there.
const MAX_PAGES: usize = 10;
/// The longest the harness waits out a rate limit before asking again.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    base: String,
    headers: HeaderMap,
    kind: ForgeKind,
}

impl Http {
    pub(crate) fn new(settings: &ForgeSettings) -> Result<Self, ForgeError> {
        let client = http_client::client(Timeouts {
            connect: Duration::from_secs(10),
            request: Some(settings.timeout),
        })
        .map_err(|e| ForgeError::Settings(e.to_string()))?;
        let token = settings.token.expose();
        let (name, value) = match settings.kind {
            ForgeKind::GitHub => (AUTHORIZATION, format!("Bearer {token}")),
            ForgeKind::GitLab => (HeaderName::from_static("private-token"), token.to_owned()),
            ForgeKind::Gitea => (AUTHORIZATION, format!("token {token}")),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            ForgeError::Settings("the forge token holds characters a header cannot".into())
        })?;
        value.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        if settings.kind == ForgeKind::GitHub {
            headers.insert(
                ACCEPT,
                HeaderValue::from_static("application/vnd.github+json"),
            );
            headers.insert(
                HeaderName::from_static("x-github-api-version"),
                HeaderValue::from_static("2022-11-28"),
            );
        } else {
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        }
        Ok(Self {
            client,
            base: settings.api_url.trim_end_matches('/').to_owned(),
            headers,
            kind: settings.kind,
        })
    }

    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.client
            .request(method, url)
            .headers(self.headers.clone())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`, one JSON value.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ForgeError> {
        let response = self
            .send(self.request(Method::GET, &self.url(path)))
            .await?;
        json(response).await
    }

    /// `GET path`, the answer as text (GitLab's job logs are `text/plain`).
    pub(crate) async fn get_text(&self, path: &str) -> Result<String, ForgeError> {
        let mut headers = self.headers.clone();
        headers.insert(ACCEPT, HeaderValue::from_static("text/plain, */*"));
        let request = self.client.get(self.url(path)).headers(headers);
        let response = self.send(request).await?;
        response
            .text()
            .await
            .map_err(|e| ForgeError::Unavailable(without_url(e)))
    }

    /// `GET path` and every following page, up to [`MAX_PAGES`].
    pub(crate) async fn get_all<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Vec<T>, ForgeError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let per_page = match self.kind {
            ForgeKind::Gitea => "limit=50",
            _ => "per_page=100",
        };
        let mut url = self.url(&format!("{path}{sep}{per_page}"));
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let response = self.send(self.request(Method::GET, &url)).await?;
            let next = next_page(response.headers(), &url, &self.base);
            let page: Vec<T> = json(response).await?;
            items.extend(page);
            match next {
                Some(next) => url = next,
                None => return Ok(items),
            }
        }
        tracing::warn!(
            path,
            pages = MAX_PAGES,
            "a forge list was cut at its page bound"
        );
        Ok(items)
    }

    /// `method path` with a JSON body; the answer as JSON (`null` when empty).
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<T, ForgeError> {
        let response = self
            .send(self.request(method, &self.url(path)).json(body))
            .await?;
        json(response).await
    }

    async fn send(&self, request: RequestBuilder) -> Result<Response, ForgeError> {
        let response = request
            .send()
            .await
            .map_err(|e| ForgeError::Unavailable(without_url(e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        Err(error_of(
            status,
            response.headers().clone(),
            response.text().await.unwrap_or_default(),
        ))
    }
}

/// `text` percent-encoded for a path segment or a query value ('/' too: GitLab's
/// project id is its encoded path).
pub(crate) fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The answer as `T`; an empty body reads as JSON `null`.
async fn json<T: DeserializeOwned>(response: Response) -> Result<T, ForgeError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ForgeError::Unavailable(without_url(e)))?;
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        &bytes
    };
    serde_json::from_slice(text).map_err(|e| ForgeError::Malformed(e.to_string()))
}

/// reqwest's error without the URL (it may carry a query a person should not see in a
/// log, and says nothing the harness does not already know).
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        "the request timed out".into()
    } else if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    }
}

/// The one mapping of a forge's refusal onto [`ForgeError`].
pub(crate) fn error_of(status: StatusCode, headers: HeaderMap, body: String) -> ForgeError {
    let message = message_of(&body);
    let code = status.as_u16();
    if let Some(retry_after) = rate_limited(status, &headers) {
        return ForgeError::RateLimited { retry_after };
    }
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ForgeError::Unauthorized {
            status: code,
            message,
        },
        StatusCode::NOT_FOUND => ForgeError::NotFound(message),
        s if s.is_server_error() => ForgeError::Unavailable(format!("{code}: {message}")),
        _ => ForgeError::Refused {
            status: code,
            message,
        },
    }
}

/// How long a rate-limited request waits: 429 always is one; a 403 is one when the
/// forge says the limit is used up (GitHub's `x-ratelimit-remaining: 0`, or a
/// `retry-after`). The wait is `retry-after`, else until `x-ratelimit-reset` (an epoch
/// second; GitLab's `ratelimit-reset`), else a minute; at most an hour.
fn rate_limited(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let used_up = number("x-ratelimit-remaining") == Some(0)
        || number("ratelimit-remaining") == Some(0)
        || headers.contains_key(RETRY_AFTER);
    if status != StatusCode::TOO_MANY_REQUESTS && !(status == StatusCode::FORBIDDEN && used_up) {
        return None;
    }
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let wait = number(RETRY_AFTER.as_str())
        .or_else(|| number("x-ratelimit-reset").map(|at| at.saturating_sub(now)))
        .or_else(|| number("ratelimit-reset").map(|at| at.saturating_sub(now)))
        .unwrap_or(60);
    Some(Duration::from_secs(
        wait.clamp(1, MAX_RATE_LIMIT_WAIT.as_secs()),
    ))
}

/// The forge's own words: `message` (GitHub, Gitea, GitLab) or `error` (GitLab), with
/// GitHub's `errors[].message` when there are any; else the body's first line.
fn message_of(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let text = parsed.as_ref().and_then(|v| {
        let main = v
            .get("message")
            .or_else(|| v.get("error"))
            .map(|m| match m {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })?;
        let details: Vec<String> = v
            .get("errors")
            .and_then(Value::as_array)
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e.get("message").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Some(if details.is_empty() {
            main
        } else {
            format!("{main}: {}", details.join("; "))
        })
    });
    let text = text.unwrap_or_else(|| body.lines().next().unwrap_or("").to_owned());
    let mut end = text.len().min(500);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The next page's URL: a `Link` header's `rel="next"` (only on the forge's own
/// origin), else GitLab's `X-Next-Page` applied to `current`.
fn next_page(headers: &HeaderMap, current: &str, base: &str) -> Option<String> {
    if let Some(link) = headers.get("link").and_then(|v| v.to_str().ok()) {
        let next = link.split(',').find_map(|part| {
            let (url, rel) = part.split_once(';')?;
            rel.contains("rel=\"next\"").then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
        });
        let origin = |u: &str| url::Url::parse(u).ok().map(|u| u.origin());
        return next.filter(|n| origin(n).is_some() && origin(n) == origin(base));
    }
    let page = headers
        .get("x-next-page")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|p| !p.is_empty())?;
    let mut url = url::Url::parse(current).ok()?;
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "page")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair("page", page);
    Some(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_errors_a_person_can_act_on() {
        let h = HeaderMap::new();
        let body = r#"{"message":"Bad credentials"}"#.to_owned();
        assert!(matches!(
            error_of(StatusCode::UNAUTHORIZED, h.clone(), body.clone()),
            ForgeError::Unauthorized { status: 401, .. }
        ));
        assert!(matches!(
            error_of(StatusCode::NOT_FOUND, h.clone(), body.clone()),
            ForgeError::NotFound(_)
        ));
        let refused = error_of(
            StatusCode::UNPROCESSABLE_ENTITY,
            h.clone(),
            r#"{"message":"Validation Failed","errors":[{"message":"A pull request already exists"}]}"#.into(),
        );
        assert_eq!(
            refused.to_string(),
            "the forge refused (422): Validation Failed: A pull request already exists"
        );
        assert!(error_of(StatusCode::BAD_GATEWAY, h.clone(), "<html>".into()).is_transient());
    }

    #[test]
    fn a_rate_limit_waits_as_the_forge_says_within_an_hour() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert!(matches!(
            error_of(StatusCode::TOO_MANY_REQUESTS, h, String::new()),
            ForgeError::RateLimited { retry_after } if retry_after == Duration::from_secs(7)
        ));
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("99999999999"));
        assert!(matches!(
            error_of(StatusCode::FORBIDDEN, h, String::new()),
            ForgeError::RateLimited { retry_after } if retry_after == MAX_RATE_LIMIT_WAIT
        ));
    }

    #[test]
    fn pages_follow_link_on_the_same_origin_or_gitlabs_next_page() {
        let base = "https://api.github.com";
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static(r#"<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last""#),
        );
        assert_eq!(
            next_page(&h, "https://api.github.com/x", base).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static(r#"<https://evil.example/x?page=2>; rel="next""#),
        );
        assert_eq!(next_page(&h, "https://api.github.com/x", base), None);
        let mut h = HeaderMap::new();
        h.insert("x-next-page", HeaderValue::from_static("3"));
        assert_eq!(
            next_page(
                &h,
                "https://gitlab.example/api/v4/x?per_page=100&page=2",
                "https://gitlab.example/api/v4"
            )
            .as_deref(),
            Some("https://gitlab.example/api/v4/x?per_page=100&page=3")
        );
    }
}
