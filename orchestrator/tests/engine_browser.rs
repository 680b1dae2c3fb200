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
        OriginPolicy::default(),
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

/// An agent can reach the DevTools port from `run_command` and drive the browser past
/// the URL rule (docs/SECURITY.md). The browser is still confined: what it may read
/// shows, a file outside its sandbox (the database's directory, say) does not.
#[tokio::test]
async fn a_browser_driven_past_the_harness_still_cannot_read_outside_its_sandbox() {
    use futures_util::StreamExt;

    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("harness.db"), "secret-row-of-the-database").unwrap();
    std::fs::write(dir.path().join("readable.txt"), "readable-by-the-browser").unwrap();
    let browser = browser(dir.path(), SandboxConfig::default());
    browser.read().await.unwrap();

    let active = std::fs::read_dir(dir.path().join(".browsers"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().join("DevToolsActivePort"))
        .find(|p| p.is_file())
        .expect("Chromium wrote its DevTools port into the profile");
    let text = std::fs::read_to_string(active).unwrap();
    let mut lines = text.lines();
    let (port, path) = (lines.next().unwrap(), lines.next().unwrap());
    let (hostile, mut handler) =
        chromiumoxide::Browser::connect(format!("ws://127.0.0.1:{port}{path}"))
            .await
            .unwrap();
    tokio::spawn(async move { while handler.next().await.is_some() {} });

    let readable = format!("file://{}/readable.txt", dir.path().display());
    let page = hostile.new_page(readable.as_str()).await.unwrap();
    let shown = page.content().await.unwrap();
    assert!(shown.contains("readable-by-the-browser"), "{shown}");

    let secret = format!("file://{}/harness.db", data.path().display());
    page.goto(secret.as_str()).await.ok();
    let shown = page.content().await.unwrap_or_default();
    assert!(
        !shown.contains("secret-row-of-the-database"),
        "the browser read outside its sandbox: {shown}"
    );
}
