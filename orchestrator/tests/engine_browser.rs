//! The browser building block on its own: real headless Chromium, confined like any
//! agent process, started on first use and gone when its session ends.

use std::time::Duration;

use harness::engine::{
    browser::{BrowserLimits, LaunchConfig, OriginPolicy, SessionBrowser},
    sandbox::SandboxConfig,
};
use tokio_util::sync::CancellationToken;

fn browser(worktree: &std::path::Path, sandbox: SandboxConfig) -> SessionBrowser {
    SessionBrowser::new(
        LaunchConfig {
            chromium: std::env::var_os("HARNESS_CHROMIUM")
                .map_or_else(|| "/usr/bin/chromium".into(), Into::into),
            sandbox,
            worktree: worktree.to_path_buf(),
            profiles_dir: worktree.join(".browsers"),
            start_timeout: Duration::from_secs(30),
        },
        OriginPolicy::loopback_only(),
        BrowserLimits::default(),
        CancellationToken::new(),
    )
}

#[tokio::test]
async fn a_confined_browser_starts_reads_a_data_page_and_refuses_other_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let browser = browser(dir.path(), SandboxConfig::default());
    let refused = browser.open("https://example.com/").await.unwrap_err();
    assert!(refused.to_string().contains("refused"), "{refused}");
    let console = browser.console().await;
    assert!(console.is_ok(), "{console:?}");
    let read = browser.read().await.unwrap();
    assert_eq!(read.url, "about:blank");
}
