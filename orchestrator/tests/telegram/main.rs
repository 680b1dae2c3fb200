//! Telegram end to end: the real `harness serve` binary on port 0 with a temporary
//! database, talking over real HTTP to a stand-in Bot API (testkit/src/fake_telegram.rs).

use harness_testkit::fake_telegram;
use harness_testkit::git_repo;

mod commands;
mod delivery;
mod notifications;
mod webhook;

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use fake_telegram::{FakeTelegram, TOKEN};

/// The binary under test: cargo's build of this crate, or `HARNESS_TEST_BINARY` (where
/// a shared target directory may hold another checkout's build under cargo's path).
pub fn bin() -> String {
    std::env::var("HARNESS_TEST_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_harness").to_owned())
}
/// The chat the tests talk from.
pub const CHAT: i64 = 4242;
pub const USER: &str = "alice";

/// A running `harness serve`, killed on drop.
pub struct Harness {
    pub child: Child,
    pub base: String,
    pub log: PathBuf,
    client: reqwest::Client,
}

/// Environment for a harness talking to `fake` from chat [`CHAT`].
pub fn telegram_env(fake: &FakeTelegram) -> Vec<(&'static str, String)> {
    vec![
        ("TELEGRAM_BOT_TOKEN", TOKEN.to_owned()),
        ("TELEGRAM_CHAT_ID", CHAT.to_string()),
        ("TELEGRAM_API_URL", fake.url()),
        ("TELEGRAM_POLL_TIMEOUT_SECS", "2".to_owned()),
    ]
}

impl Harness {
    /// Starts the binary in `dir` (clean environment plus `env`); logs go to a file.
    pub fn start(dir: &Path, env: &[(&str, String)]) -> Self {
        let log = dir.join(format!("harness-{}.log", std::process::id()));
        let stderr = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut cmd = Command::new(bin());
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_PATH", dir.join("data/harness.db"))
            .env("HARNESS_DASHBOARD_DIR", dir.join("no-dashboard"))
            .env("HARNESS_LOG", "debug")
            .current_dir(dir)
            .args(["serve", "--port", "0", "--bind", "127.0.0.1"])
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("harness starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("harness listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {line:?}; log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_owned();
        Self {
            child,
            base,
            log,
            client: http_client(),
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.client
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// `kill -9`: no shutdown code runs.
    pub fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "harness did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls `GET path` until `check` accepts it.
    pub async fn wait_json(&self, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.get(path).await;
            if check(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A harness.toml with a git workspace and a fake Claude CLI in `mode`
/// (`success` completes and merges, `error` fails), one attempt per task.
pub fn engine_config(dir: &Path, repo: &Path, mode: &str) {
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake-claude");
    // The fake CLI lives in the source tree, which the agent sandbox does not grant.
    let fixtures = fake.parent().unwrap().display().to_string();
    let toml = format!(
        "workspace = {repo:?}\ntick_secs = 0.1\nsession_spacing_secs = 0\nretry_base_secs = 0.05\n\
         agent_read_paths = [{fixtures:?}]\n\
         [agents.build-1]\nruntime = \"cli\"\ncommand = [\"env\", \"FAKE_CLAUDE_MODE={mode}\", {fake:?}]\n",
        repo = repo.display().to_string(),
        fake = fake.display().to_string(),
    );
    std::fs::write(dir.join("harness.toml"), toml).unwrap();
}

/// Every client goes through the product's one builder: reqwest has no TLS provider of
/// its own here, so a bare `reqwest::Client::new()` would panic.
pub fn http_client() -> reqwest::Client {
    harness::http_client::client(harness::http_client::Timeouts {
        connect: Duration::from_secs(10),
        request: Some(Duration::from_secs(10)),
    })
    .unwrap()
}
