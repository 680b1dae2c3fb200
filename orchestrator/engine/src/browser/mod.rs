//! The browser tool group (`browser`): headless Chromium driven over the DevTools
//! protocol (chromiumoxide), for agents that exercise a UI the way people do.
//!
//! [`policy`] decides which URLs may load (loopback unless widened), [`launch`] starts
//! Chromium confined like any agent process, [`session`] is one session's browser,
//! started on first use and killed with the session.

pub mod launch;
pub mod policy;
pub mod session;

use std::{path::PathBuf, time::Duration};

pub use launch::LaunchConfig;
pub use policy::{BadOrigin, OriginPolicy, Refused};
pub use session::{BrowserLimits, PageRead, Screenshot, SessionBrowser};

/// The name of the tool group, as roles and agent settings list it.
pub const GROUP: &str = "browser";

/// What failed in a browser tool call. The text goes back to the model as a tool error.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error(
        "Chromium is not installed at {0} (install Debian's `chromium` package, or set HARNESS_CHROMIUM)"
    )]
    Missing(PathBuf),
    #[error(
        "cannot reach the browser's DevTools port inside the worktree's network namespace (HARNESS_AGENT_NETNS); set HARNESS_AGENT_NETNS=off where roles use the browser"
    )]
    InNamespace,
    #[error("cannot create the browser profile directory: {0}")]
    Profile(#[source] std::io::Error),
    #[error("Chromium exited before it was ready; its output: {0}")]
    Exited(String),
    #[error("Chromium did not start in time; its output: {0}")]
    StartTimeout(String),
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("no element matches the selector `{0}`")]
    NoElement(String),
    #[error("the browser action took longer than {0:?}")]
    ActionTimeout(Duration),
    #[error("the screenshot is {bytes} bytes, over the {max}-byte limit")]
    TooLarge { bytes: usize, max: usize },
    #[error("the session ended")]
    Cancelled,
    #[error("the browser's state is unusable after an earlier failure")]
    Poisoned,
    #[error("DevTools: {0}")]
    Cdp(#[from] chromiumoxide::error::CdpError),
}
