//! Honest pagination: the page the client asked for, and the headers that tell it
//! where the next one is (`Link` for GitHub and Gitea, `X-Next-Page` and friends for
//! GitLab, which sends `Link` as well).

use axum::{
    Json,
    http::{HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::{ForgeKind, Req};

/// One page of a list.
pub(super) struct Page {
    pub(super) items: Vec<Value>,
    pub(super) page: usize,
    pub(super) per_page: usize,
    pub(super) total: usize,
}

/// The page size parameter, its default and its maximum, per forge.
fn size_param(kind: ForgeKind) -> (&'static str, usize, usize) {
    match kind {
        ForgeKind::GitHub => ("per_page", 30, 100),
        ForgeKind::GitLab => ("per_page", 20, 100),
        ForgeKind::Gitea => ("limit", 30, 50),
    }
}

impl Page {
    /// The page of `items` the request asks for (`page` counts from 1).
    pub(super) fn of(kind: ForgeKind, req: &Req, items: Vec<Value>) -> Page {
        let (size_key, default, max) = size_param(kind);
        let per_page = req
            .q(size_key)
            .and_then(|v| v.parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or(default)
            .min(max);
        let page = req
            .q("page")
            .and_then(|v| v.parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or(1);
        let total = items.len();
        let items = items
            .into_iter()
            .skip((page - 1).saturating_mul(per_page))
            .take(per_page)
            .collect();
        Page {
            items,
            page,
            per_page,
            total,
        }
    }

    fn pages(&self) -> usize {
        self.total.div_ceil(self.per_page).max(1)
    }

    fn next(&self) -> Option<usize> {
        (self.page < self.pages()).then_some(self.page + 1)
    }

    /// The page as a JSON array with the forge's pagination headers.
    pub(super) fn respond(self, kind: ForgeKind, origin: &str, req: &Req) -> Response {
        let headers = self.headers(kind, origin, req);
        (headers, Json(Value::Array(self.items))).into_response()
    }

    /// The forge's pagination headers for this page.
    pub(super) fn headers(&self, kind: ForgeKind, origin: &str, req: &Req) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: String| {
            headers.insert(name, HeaderValue::from_str(&value).unwrap());
        };
        if let Some(link) = self.link(origin, req) {
            put("link", link);
        }
        match kind {
            ForgeKind::GitHub => {}
            ForgeKind::Gitea => put("x-total-count", self.total.to_string()),
            ForgeKind::GitLab => {
                let show = |n: Option<usize>| n.map(|n| n.to_string()).unwrap_or_default();
                put("x-page", self.page.to_string());
                put("x-per-page", self.per_page.to_string());
                put("x-total", self.total.to_string());
                put("x-total-pages", self.pages().to_string());
                // Empty on the last page, as GitLab sends it.
                put("x-next-page", show(self.next()));
                put("x-prev-page", show((self.page > 1).then(|| self.page - 1)));
            }
        }
        headers
    }

    /// `Link` with absolute URLs: `next` and `last` while there is a next page,
    /// `first` and `prev` after the first.
    fn link(&self, origin: &str, req: &Req) -> Option<String> {
        let mut rels = Vec::new();
        if let Some(next) = self.next() {
            rels.push((next, "next"));
            rels.push((self.pages(), "last"));
        }
        if self.page > 1 {
            rels.push((1, "first"));
            rels.push(((self.page - 1).min(self.pages()), "prev"));
        }
        let links: Vec<String> = rels
            .into_iter()
            .map(|(page, rel)| format!("<{}>; rel=\"{rel}\"", page_url(origin, req, page)))
            .collect();
        (!links.is_empty()).then(|| links.join(", "))
    }
}

/// The request's own URL with `page` set to `page`.
fn page_url(origin: &str, req: &Req, page: usize) -> String {
    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| k != "page")
        .cloned()
        .collect();
    query.push(("page".into(), page.to_string()));
    let query = serde_urlencoded::to_string(&query).unwrap_or_default();
    format!("{origin}{}?{query}", req.path)
}
