//! One agent session's browser: launched on the first browser tool call, one page, one
//! profile, killed when the session ends (dropped) or the harness shuts down (the
//! session's cancel token).
//!
//! Every request the page makes passes the [`OriginPolicy`] (DevTools `Fetch`
//! interception), so a redirect or a script cannot take the page off the allowed
//! origins; refused requests are remembered and shown to the model.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use chromiumoxide::{
    Page,
    cdp::browser_protocol::{
        accessibility::GetFullAxTreeParams,
        fetch::{
            self, ContinueRequestParams, EventRequestPaused, FailRequestParams, RequestPattern,
            RequestStage,
        },
        network::ErrorReason,
        page::CaptureScreenshotFormat,
    },
    cdp::js_protocol::runtime::{EventConsoleApiCalled, EventExceptionThrown},
    handler::HandlerConfig,
    page::ScreenshotParams,
};
use futures_util::StreamExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{
    BrowserError,
    launch::{self, LaunchConfig, Running},
    policy::{OriginPolicy, Refused},
};
use crate::session::truncate_with_note;

/// Bounds of what the browser keeps and returns.
#[derive(Debug, Clone)]
pub struct BrowserLimits {
    /// Page text returned by `browser_read`.
    pub text_bytes: usize,
    /// Accessibility tree returned by `browser_read`.
    pub tree_bytes: usize,
    /// Console messages kept (the oldest go first).
    pub console_entries: usize,
    /// Longest console message kept.
    pub console_line_bytes: usize,
    /// Largest screenshot accepted (PNG bytes).
    pub screenshot_bytes: usize,
    /// Screenshots kept for `report_finding` to attach.
    pub screenshots_kept: usize,
    /// One browser action (navigation, click, capture).
    pub action_timeout: Duration,
}

impl Default for BrowserLimits {
    fn default() -> Self {
        Self {
            text_bytes: 16 * 1024,
            tree_bytes: 16 * 1024,
            console_entries: 200,
            console_line_bytes: 2 * 1024,
            screenshot_bytes: 4 * 1024 * 1024,
            screenshots_kept: 8,
            action_timeout: Duration::from_secs(30),
        }
    }
}

/// A screenshot taken in this session, named so a finding can attach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screenshot {
    pub id: String,
    pub png: Vec<u8>,
}

/// What `browser_read` returns.
#[derive(Debug, Clone)]
pub struct PageRead {
    pub url: String,
    pub title: String,
    pub text: String,
    pub tree: String,
}

/// The browser of one session. Cheap until used: nothing starts before the first call.
pub struct SessionBrowser {
    launch: LaunchConfig,
    policy: OriginPolicy,
    limits: BrowserLimits,
    cancel: CancellationToken,
    live: tokio::sync::Mutex<Option<Live>>,
    shots: Mutex<Shots>,
}

/// What an action needs of the live browser, cloned out of it.
struct Handle {
    page: Page,
    console: Arc<Mutex<Console>>,
    refused: Arc<Mutex<VecDeque<String>>>,
}

struct Live {
    page: Page,
    console: Arc<Mutex<Console>>,
    refused: Arc<Mutex<VecDeque<String>>>,
    /// The DevTools handler and the listeners; aborted on drop.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Dropped after the tasks: kills Chromium and removes its profile.
    _process: Running,
    _browser: chromiumoxide::Browser,
}

impl Drop for Live {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[derive(Default)]
struct Shots {
    next: u64,
    kept: VecDeque<Screenshot>,
}

#[derive(Default)]
struct Console {
    lines: VecDeque<String>,
    dropped: u64,
}

/// Refused requests remembered for the model.
const REFUSED_KEPT: usize = 20;

impl SessionBrowser {
    pub fn new(
        launch: LaunchConfig,
        policy: OriginPolicy,
        limits: BrowserLimits,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            launch,
            policy,
            limits,
            cancel,
            live: tokio::sync::Mutex::new(None),
            shots: Mutex::new(Shots::default()),
        }
    }

    /// Loads `url` after checking it against the policy; says where the page ended up.
    pub async fn open(&self, url: &str) -> Result<String, BrowserError> {
        let url = self.policy.check(url)?;
        self.with_page(|live| async move {
            let navigated = live.page.goto(url.as_str()).await;
            let refused = take_refused(&live.refused);
            if let Some(blocked) = refused.first() {
                return Err(BrowserError::Refused(Refused::Origin(blocked.clone())));
            }
            navigated.map_err(BrowserError::Cdp)?;
            let title = live.page.get_title().await?.unwrap_or_default();
            let at = live.page.url().await?.unwrap_or_default();
            Ok(format!("opened {at} (title: {title:?})"))
        })
        .await
    }

    /// Clicks the first element matching the CSS `selector`.
    pub async fn click(&self, selector: &str) -> Result<String, BrowserError> {
        self.with_page(|live| async move {
            let element = find(&live.page, selector).await?;
            element.click().await?;
            Ok(format!("clicked {selector}{}", refused_note(&live.refused)))
        })
        .await
    }

    /// Focuses the element matching `selector` and types `text` as key presses.
    pub(crate) async fn type_text(
        &self,
        selector: &str,
        text: &str,
    ) -> Result<String, BrowserError> {
        self.with_page(|live| async move {
            let element = find(&live.page, selector).await?;
            element.click().await?.type_str(text).await?;
            Ok(format!(
                "typed {} characters into {selector}",
                text.chars().count()
            ))
        })
        .await
    }

    /// The page's URL, title, visible text and accessibility tree, each bounded.
    pub async fn read(&self) -> Result<PageRead, BrowserError> {
        let limits = self.limits.clone();
        self.with_page(|live| async move {
            let text: String = live
                .page
                .evaluate("document.body ? document.body.innerText : ''")
                .await?
                .into_value()
                .unwrap_or_default();
            let nodes = live.page.execute(GetFullAxTreeParams::default()).await?;
            let nodes: Vec<Value> = nodes
                .result
                .nodes
                .iter()
                .filter_map(|n| serde_json::to_value(n).ok())
                .collect();
            Ok(PageRead {
                url: live.page.url().await?.unwrap_or_default(),
                title: live.page.get_title().await?.unwrap_or_default(),
                text: truncate_with_note(&text, limits.text_bytes),
                tree: truncate_with_note(&accessibility_outline(&nodes), limits.tree_bytes),
            })
        })
        .await
    }

    /// A PNG of the viewport, kept under a new id for [`SessionBrowser::screenshot`].
    pub async fn screenshot(&self) -> Result<Screenshot, BrowserError> {
        let max = self.limits.screenshot_bytes;
        let png = self
            .with_page(|live| async move {
                let params = ScreenshotParams::builder()
                    .format(CaptureScreenshotFormat::Png)
                    .build();
                Ok(live.page.screenshot(params).await?)
            })
            .await?;
        if png.len() > max {
            return Err(BrowserError::TooLarge {
                bytes: png.len(),
                max,
            });
        }
        let mut shots = self.shots.lock().map_err(|_| BrowserError::Poisoned)?;
        shots.next += 1;
        let shot = Screenshot {
            id: format!("shot-{}", shots.next),
            png,
        };
        shots.kept.push_back(shot.clone());
        while shots.kept.len() > self.limits.screenshots_kept {
            shots.kept.pop_front();
        }
        Ok(shot)
    }

    /// A screenshot taken earlier in this session, if still kept.
    pub(crate) fn kept_screenshot(&self, id: &str) -> Option<Screenshot> {
        let shots = self.shots.lock().ok()?;
        shots.kept.iter().find(|s| s.id == id).cloned()
    }

    /// The console messages and uncaught errors since the page was opened.
    pub async fn console(&self) -> Result<String, BrowserError> {
        self.with_page(|live| async move {
            let console = live.console.lock().map_err(|_| BrowserError::Poisoned)?;
            let mut out = String::new();
            if console.dropped > 0 {
                out.push_str(&format!("[{} older messages dropped]\n", console.dropped));
            }
            for line in &console.lines {
                out.push_str(line);
                out.push('\n');
            }
            if out.is_empty() {
                out.push_str("(no console messages)");
            }
            Ok(out)
        })
        .await
    }

    /// Runs `action` on the page, starting the browser first if needed, bounded by the
    /// action timeout and the session's cancellation.
    async fn with_page<T, F, Fut>(&self, action: F) -> Result<T, BrowserError>
    where
        F: FnOnce(Handle) -> Fut,
        Fut: std::future::Future<Output = Result<T, BrowserError>>,
    {
        let handle = self.handle().await?;
        tokio::select! {
            outcome = tokio::time::timeout(self.limits.action_timeout, action(handle)) => {
                outcome.map_err(|_| BrowserError::ActionTimeout(self.limits.action_timeout))?
            }
            _ = self.cancel.cancelled() => Err(BrowserError::Cancelled),
        }
    }

    /// The page, starting the browser on first use. Tool calls run one at a time, so
    /// the lock is held only while starting.
    async fn handle(&self) -> Result<Handle, BrowserError> {
        let mut guard = self.live.lock().await;
        if guard.is_none() {
            // Bounded as a whole: a Chromium that prints its address and then never
            // opens a page must not hang the session.
            let bound = self.launch.start_timeout + self.limits.action_timeout;
            let started = tokio::select! {
                started = tokio::time::timeout(bound, self.start()) => {
                    started.map_err(|_| BrowserError::StartTimeout("no page opened".into()))??
                }
                _ = self.cancel.cancelled() => return Err(BrowserError::Cancelled),
            };
            *guard = Some(started);
        }
        let live = guard.as_ref().ok_or(BrowserError::Poisoned)?;
        Ok(Handle {
            page: live.page.clone(),
            console: live.console.clone(),
            refused: live.refused.clone(),
        })
    }

    async fn start(&self) -> Result<Live, BrowserError> {
        let process = launch::launch(&self.launch, &self.policy, &self.cancel).await?;
        let config = HandlerConfig {
            request_timeout: self.limits.action_timeout,
            // chromiumoxide ignores certificate errors by default; an allowed https
            // origin must prove who it is.
            ignore_https_errors: false,
            ..HandlerConfig::default()
        };
        let (browser, mut handler) =
            chromiumoxide::Browser::connect_with_config(process.ws_url.clone(), config).await?;
        let mut tasks = vec![tokio::spawn(async move {
            while handler.next().await.is_some() {}
        })];
        let page = browser.new_page("about:blank").await?;
        let refused = Arc::new(Mutex::new(VecDeque::new()));
        tasks.push(self.guard_requests(&page, refused.clone()).await?);
        let console = Arc::new(Mutex::new(Console::default()));
        tasks.extend(self.collect_console(&page, console.clone()).await?);
        Ok(Live {
            page,
            console,
            refused,
            tasks,
            _process: process,
            _browser: browser,
        })
    }

    /// Pauses every request of the page and lets through only what the policy allows.
    async fn guard_requests(
        &self,
        page: &Page,
        refused: Arc<Mutex<VecDeque<String>>>,
    ) -> Result<tokio::task::JoinHandle<()>, BrowserError> {
        let mut paused = page.event_listener::<EventRequestPaused>().await?;
        let pattern = RequestPattern::builder()
            .url_pattern("*")
            .request_stage(RequestStage::Request)
            .build();
        page.execute(fetch::EnableParams::builder().pattern(pattern).build())
            .await?;
        let page = page.clone();
        let policy = self.policy.clone();
        Ok(tokio::spawn(async move {
            while let Some(event) = paused.next().await {
                let id = event.request_id.clone();
                let url = &event.request.url;
                let answer = if policy.allows_request(url) {
                    page.execute(ContinueRequestParams::new(id)).await.map(drop)
                } else {
                    if let Ok(mut refused) = refused.lock() {
                        refused.push_back(url.clone());
                        while refused.len() > REFUSED_KEPT {
                            refused.pop_front();
                        }
                    }
                    page.execute(FailRequestParams::new(id, ErrorReason::BlockedByClient))
                        .await
                        .map(drop)
                };
                if let Err(error) = answer {
                    tracing::debug!(%error, "browser request guard");
                }
            }
        }))
    }

    async fn collect_console(
        &self,
        page: &Page,
        console: Arc<Mutex<Console>>,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>, BrowserError> {
        let mut calls = page.event_listener::<EventConsoleApiCalled>().await?;
        let mut errors = page.event_listener::<EventExceptionThrown>().await?;
        let limits = self.limits.clone();
        let push = move |console: &Arc<Mutex<Console>>, line: String| {
            if let Ok(mut c) = console.lock() {
                c.lines
                    .push_back(truncate_with_note(&line, limits.console_line_bytes));
                while c.lines.len() > limits.console_entries {
                    c.lines.pop_front();
                    c.dropped += 1;
                }
            }
        };
        let push2 = push;
        let console2 = console.clone();
        Ok(vec![
            tokio::spawn(async move {
                while let Some(call) = calls.next().await {
                    let args: Vec<String> = call.args.iter().map(remote_text).collect();
                    let kind = serde_json::to_value(&call.r#type)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_else(|| "log".into());
                    push(&console, format!("[{kind}] {}", args.join(" ")));
                }
            }),
            tokio::spawn(async move {
                while let Some(thrown) = errors.next().await {
                    let details = &thrown.exception_details;
                    let text = details
                        .exception
                        .as_ref()
                        .and_then(|e| e.description.clone())
                        .unwrap_or_else(|| details.text.clone());
                    push2(&console2, format!("[uncaught] {text}"));
                }
            }),
        ])
    }
}

async fn find(page: &Page, selector: &str) -> Result<chromiumoxide::Element, BrowserError> {
    page.find_element(selector)
        .await
        .map_err(|_| BrowserError::NoElement(selector.to_owned()))
}

fn take_refused(refused: &Mutex<VecDeque<String>>) -> Vec<String> {
    refused
        .lock()
        .map(|mut r| r.drain(..).collect())
        .unwrap_or_default()
}

fn refused_note(refused: &Mutex<VecDeque<String>>) -> String {
    let blocked = take_refused(refused);
    if blocked.is_empty() {
        String::new()
    } else {
        format!(
            "; the page tried to load URLs outside the allowed origins, refused: {}",
            blocked.join(", ")
        )
    }
}

/// A console argument as text: its value when it has one, else its description.
fn remote_text(object: &chromiumoxide::cdp::js_protocol::runtime::RemoteObject) -> String {
    match (&object.value, &object.description) {
        (Some(Value::String(s)), _) => s.clone(),
        (Some(value), _) => value.to_string(),
        (None, Some(description)) => description.clone(),
        (None, None) => "undefined".into(),
    }
}

/// The accessibility tree as indented `role "name"` lines, ignored nodes left out.
pub(super) fn accessibility_outline<'a>(nodes: &'a [Value]) -> String {
    let parent: HashMap<&'a str, &'a str> = nodes
        .iter()
        .filter_map(|n| Some((n["nodeId"].as_str()?, n["parentId"].as_str()?)))
        .collect();
    let depth = |mut id: &'a str| {
        let mut d = 0usize;
        while let Some(p) = parent.get(id) {
            d += 1;
            id = p;
            if d > 64 {
                break;
            }
        }
        d
    };
    let mut out = String::new();
    for node in nodes {
        if node["ignored"].as_bool() == Some(true) {
            continue;
        }
        let role = node["role"]["value"].as_str().unwrap_or("");
        let name = node["name"]["value"].as_str().unwrap_or("");
        if role.is_empty() || (role == "generic" && name.is_empty()) || role == "none" {
            continue;
        }
        let id = node["nodeId"].as_str().unwrap_or("");
        out.push_str(&"  ".repeat(depth(id).min(20)));
        out.push_str(role);
        if !name.is_empty() {
            out.push_str(&format!(" {name:?}"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_outline_indents_children_and_leaves_out_ignored_nodes() {
        let nodes = [
            json!({"nodeId":"1","ignored":false,"role":{"value":"RootWebArea"},"name":{"value":"Demo"}}),
            json!({"nodeId":"2","parentId":"1","ignored":true,"role":{"value":"generic"}}),
            json!({"nodeId":"3","parentId":"1","ignored":false,"role":{"value":"button"},"name":{"value":"Save"}}),
        ];
        assert_eq!(
            accessibility_outline(&nodes),
            "RootWebArea \"Demo\"\n  button \"Save\"\n"
        );
    }
}
