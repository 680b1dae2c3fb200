//! Starts headless Chromium for one agent session, confined like every agent process.
//!
//! The harness starts Chromium itself, through the one spawn point
//! ([`crate::process`]): allow-listed environment, Landlock (its profile dir
//! writable, the worktree readable), resource limits, its own process group. The
//! DevTools client then connects to the address Chromium prints; nothing here ever
//! downloads a browser.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::oneshot;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{BrowserError, policy::OriginPolicy};
use crate::{
    egress::proxy,
    process::{self, CommandSpec, Stream},
    sandbox::{SandboxConfig, net::netns},
};

/// Where Chromium is, and how to confine it.
#[derive(Debug, Clone)]
pub struct LaunchConfig {
    /// The Chromium binary (`HARNESS_CHROMIUM`, default `/usr/bin/chromium`).
    pub chromium: PathBuf,
    pub sandbox: SandboxConfig,
    /// Readable by the browser (the agent may open files it built), never writable.
    pub worktree: PathBuf,
    /// Where each browser's profile directory is made: `.browsers/` in the worktrees
    /// directory, so the startup orphan sweep finds a browser a crash left running.
    pub profiles_dir: PathBuf,
    /// How long Chromium may take to print its DevTools address.
    pub start_timeout: Duration,
}

/// A running Chromium. Dropping it kills the process group; its supervisor then
/// removes the profile.
pub struct Running {
    pub ws_url: String,
    /// Cancels the process's supervisor, which kills its group.
    _stop: DropGuard,
    _supervisor: tokio::task::JoinHandle<()>,
}

/// Lines of Chromium's early output kept for the error when it does not start.
const STARTUP_LINES: usize = 20;

/// The line Chromium prints once its DevTools endpoint listens.
const LISTENING: &str = "DevTools listening on ";

/// Starts Chromium on `about:blank` and waits for its DevTools address. `cancel` (the
/// session's) stops it too.
pub async fn launch(
    config: &LaunchConfig,
    policy: &OriginPolicy,
    cancel: &CancellationToken,
) -> Result<Running, BrowserError> {
    if !config.chromium.is_file() {
        return Err(BrowserError::Missing(config.chromium.clone()));
    }

    std::fs::create_dir_all(&config.profiles_dir).map_err(BrowserError::Profile)?;
    let profile = tempfile::Builder::new()
        .prefix("harness-browser-")
        .tempdir_in(&config.profiles_dir)
        .map_err(BrowserError::Profile)?;
    let spec = command(config, policy, profile.path());
    let stop = cancel.child_token();
    let (ready_tx, ready_rx) = oneshot::channel::<String>();
    let early = Arc::new(Mutex::new(Vec::<String>::new()));
    let supervisor = tokio::spawn({
        let stop = stop.clone();
        let early = early.clone();
        async move {
            // Owned here so the profile goes only once the process group is gone.
            let _profile = profile;
            let mut ready = Some(ready_tx);
            let watch = |line: &process::OutputLine| {
                if ready.is_none() || line.stream != Stream::Stderr {
                    return;
                }
                if let Some(url) = line.text.split(LISTENING).nth(1) {
                    if let Some(tx) = ready.take() {
                        // Its receiver is gone once the launch stopped waiting (timed out).
                        let _ = tx.send(url.trim().to_owned());
                    }
                } else if let Ok(mut early) = early.lock()
                    && early.len() < STARTUP_LINES
                {
                    early.push(line.text.clone());
                }
            };
            match process::run(&spec, &stop, watch).await {
                Ok(done) => tracing::debug!(ended = %done.termination.describe(), "chromium ended"),
                Err(error) => tracing::warn!(%error, "chromium could not be started"),
            }
        }
    });
    let ws_url = match tokio::time::timeout(config.start_timeout, ready_rx).await {
        Ok(Ok(url)) if url.starts_with("ws://127.0.0.1:") => url,
        outcome => {
            stop.cancel();
            let output = early.lock().map(|l| l.join("\n")).unwrap_or_default();
            return Err(match outcome {
                Err(_) => BrowserError::StartTimeout(output),
                _ => BrowserError::Exited(output),
            });
        }
    };
    let ws_url = if config.sandbox.agents_have_netns() {
        relay_devtools(config, &ws_url, &stop).inspect_err(|_| stop.cancel())?
    } else {
        ws_url
    };
    Ok(Running {
        ws_url,
        _stop: stop.drop_guard(),
        _supervisor: supervisor,
    })
}

/// Chromium in the worktree's network namespace listens for DevTools on that
/// namespace's loopback: a listener on the host's loopback relays each connection to it
/// through a socket made inside ([`netns::Shared::connect_inside`]), until `stop`.
/// Returns the DevTools URL on the relay.
fn relay_devtools(
    config: &LaunchConfig,
    ws_url: &str,
    stop: &CancellationToken,
) -> Result<String, BrowserError> {
    let rest = ws_url.trim_start_matches("ws://127.0.0.1:");
    let (port, path) = rest.split_once('/').unwrap_or((rest, ""));
    let port: u16 = port
        .parse()
        .map_err(|_| BrowserError::Exited(format!("an unexpected DevTools URL: {ws_url}")))?;
    let shared = netns::Shared::live(&config.worktree, &config.sandbox.netns.egress)
        .ok_or(BrowserError::InNamespace)?;
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|_| BrowserError::InNamespace)?;
    let relay_port = listener
        .local_addr()
        .map_err(|_| BrowserError::InNamespace)?
        .port();
    proxy::relay_via(listener, stop.clone(), move || {
        let shared = shared.clone();
        async move {
            let stream = tokio::task::spawn_blocking(move || shared.connect_inside(port))
                .await
                .map_err(std::io::Error::other)??;
            stream.set_nonblocking(true)?;
            tokio::net::TcpStream::from_std(stream)
        }
    })
    .map_err(|_| BrowserError::InNamespace)?;
    Ok(format!("ws://127.0.0.1:{relay_port}/{path}"))
}

/// The command line: headless, no GPU, no background traffic, a fresh profile, and a
/// proxy that goes nowhere for every host the policy does not allow (loopback always
/// bypasses a proxy), so no tab of this browser reaches anything else.
fn command(config: &LaunchConfig, policy: &OriginPolicy, profile: &Path) -> CommandSpec {
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-extensions".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-breakpad".to_owned(),
        "--no-first-run".to_owned(),
        "--no-default-browser-check".to_owned(),
        "--password-store=basic".to_owned(),
        "--remote-debugging-address=127.0.0.1".to_owned(),
        "--remote-debugging-port=0".to_owned(),
        format!("--user-data-dir={}", profile.display()),
        "--window-size=1280,800".to_owned(),
    ];
    let extra = policy.extra_origins();
    if config.sandbox.agents_have_netns() {
        // In the worktree's namespace only its loopback is reachable directly: the
        // allowed origins go through the egress proxy, which applies its own list too.
        args.push(format!(
            "--proxy-server=http://127.0.0.1:{}",
            netns::PROXY_PORT
        ));
    } else {
        // Port 9 (discard) on loopback: nothing listens, so proxied requests fail.
        args.push("--proxy-server=http://127.0.0.1:9".to_owned());
        if !extra.is_empty() {
            args.push(format!("--proxy-bypass-list={}", extra.join(";")));
        }
    }
    args.push("about:blank".to_owned());
    let mut sandbox = config.sandbox.clone();
    sandbox.read_paths.push(config.worktree.clone());
    // Chromium's zygote and crash handler read /proc/self and their children's
    // /proc/<pid>; the sandbox withholds /proc from agents when the server runs as root
    // (docs/SECURITY.md says what that means for the browser).
    sandbox.read_paths.push(PathBuf::from("/proc"));
    let mut spec = CommandSpec::new(&config.chromium.to_string_lossy(), args, profile);
    spec.sandbox = sandbox;
    // On the worktree's loopback, where the app its commands started listens.
    spec.scope = Some(config.worktree.clone());
    spec.kill_grace = Duration::from_secs(2);
    // Chromium aborts without its ProcessSingleton socket (in the profile directory).
    spec.unix_sockets = true;
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_headless_confined_to_its_profile_and_proxies_other_hosts() {
        let config = LaunchConfig {
            chromium: "/usr/bin/chromium".into(),
            sandbox: SandboxConfig::default(),
            worktree: "/work/tree".into(),
            profiles_dir: "/work/.browsers".into(),
            start_timeout: Duration::from_secs(1),
        };
        let policy = OriginPolicy::with_origins(&["https://example.com"]).unwrap();
        let spec = command(&config, &policy, Path::new("/tmp/profile"));
        for flag in [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--user-data-dir=/tmp/profile",
            "--proxy-bypass-list=https://example.com",
        ] {
            assert!(
                spec.args.iter().any(|a| a == flag),
                "{flag} in {:?}",
                spec.args
            );
        }
        assert_eq!(spec.cwd, Path::new("/tmp/profile"));
        assert!(
            spec.sandbox
                .read_paths
                .contains(&PathBuf::from("/work/tree"))
        );
        assert!(
            !spec
                .sandbox
                .write_paths
                .contains(&PathBuf::from("/work/tree"))
        );
    }
}
