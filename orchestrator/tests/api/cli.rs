//! The `harness` binary itself: subcommands, bad input, signals.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_harness");

/// `harness` with a clean environment, run inside `dir` so no stray config is read.
pub fn harness(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_PATH", dir.join("data/harness.db"))
        .env("HARNESS_DASHBOARD_DIR", dir.join("no-dashboard"))
        .current_dir(dir);
    cmd
}

/// A running `harness serve` on a free port.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    pub fn start(dir: &Path) -> Self {
        Self::start_with(harness(dir))
    }

    /// Starts `cmd` (a [`harness`] command with extra settings) as `serve` on a free port.
    pub fn start_with(mut cmd: Command) -> Self {
        let mut child = cmd
            .args(["serve", "--port", "0", "--bind", "127.0.0.1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("harness starts");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("harness listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Self { child, base }
    }

    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{signal}");
    }

    /// Waits for exit, failing the test after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < limit, "did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn migrate_applies_once_then_reports_up_to_date() {
    let dir = TempDir::new().unwrap();
    let (ok, out, _) = run(harness(dir.path()).arg("migrate"));
    assert!(ok);
    let every: Vec<String> = harness::store::migrations::MIGRATIONS
        .iter()
        .map(|m| format!("applied {:04}_{}", m.version, m.name))
        .collect();
    assert_eq!(out.trim(), every.join("\n"));
    let (ok, out, _) = run(harness(dir.path()).arg("migrate"));
    assert!(ok);
    assert!(out.contains("up to date"), "{out}");
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        "serve",
        "migrate",
        "healthcheck",
        "backup",
        "dashboard",
        "openapi",
    ] {
        let (ok, out, _) = run(Command::new(BIN).args([sub, "--help"]));
        assert!(ok && out.contains("Usage:"), "{sub}");
    }
    let (_, out, _) = run(Command::new(BIN).args(["serve", "--help"]));
    for var in [
        "PORT",
        "HARNESS_BIND",
        "DATABASE_PATH",
        "HARNESS_API_TOKEN",
        "HARNESS_LOG_FORMAT",
    ] {
        assert!(out.contains(var), "serve --help does not mention {var}");
    }
}

#[test]
fn bad_cli_input_is_one_line_and_a_non_zero_exit() {
    let dir = TempDir::new().unwrap();
    let (ok, _, err) = run(harness(dir.path())
        .env("HARNESS_API_TOKEN", "short")
        .arg("serve"));
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("HARNESS_API_TOKEN"), "{err}");

    let (ok, _, err) = run(harness(dir.path()).args(["serve", "--port", "http"]));
    assert!(!ok);
    assert!(err.contains("--port"), "{err}");

    let (ok, _, err) = run(harness(dir.path())
        .arg("backup")
        .arg(dir.path().join("b.db")));
    assert!(!ok, "backup of a missing database must fail");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn healthcheck_exits_0_on_a_healthy_server_and_1_otherwise() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(dir.path());
    let url = format!("{}/health", server.base);
    assert!(run(harness(dir.path()).args(["healthcheck", "--url", &url])).0);
    drop(server);
    let (ok, _, err) =
        run(harness(dir.path()).args(["healthcheck", "--url", &url, "--timeout-ms", "500"]));
    assert!(!ok);
    assert!(err.contains("failed"), "{err}");
}

#[test]
fn backup_copies_a_live_database() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(dir.path());
    let client = reqwest::blocking_free_post(&server.base, r#"{"title":"keep me"}"#);
    assert_eq!(client, 201);
    let dest = dir.path().join("backup.db");
    let (ok, out, err) = run(harness(dir.path()).arg("backup").arg(&dest));
    assert!(ok, "{err}");
    assert!(out.contains("backed up"));
    let copy = rusqlite::Connection::open(&dest).unwrap();
    let title: String = copy
        .query_row("SELECT title FROM tasks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(title, "keep me");
}

#[test]
fn sigterm_stops_the_server_cleanly_within_10_seconds() {
    let dir = TempDir::new().unwrap();
    let mut server = Server::start(dir.path());
    assert_eq!(
        reqwest::blocking_free_post(&server.base, r#"{"title":"x"}"#),
        201
    );
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    // A clean stop checkpoints: the WAL is empty afterwards.
    let wal = dir.path().join("data/harness.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
}

#[test]
fn sigterm_closes_open_websockets_instead_of_waiting_for_them() {
    let dir = TempDir::new().unwrap();
    let mut server = Server::start(dir.path());
    let ws_url = server.base.replace("http://", "ws://") + "/ws";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _socket = runtime
        .block_on(tokio_tungstenite::connect_async(ws_url))
        .unwrap();
    server.signal("INT");
    assert!(server.wait_exit(Duration::from_secs(10)).success());
}

/// Tiny blocking HTTP helpers for tests that drive a child process.
mod reqwest {
    pub fn blocking_free_post(base: &str, body: &'static str) -> u16 {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            crate::helpers::test_client(None)
                .post(format!("{base}/api/tasks"))
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        })
    }
}

#[test]
fn a_bad_role_in_harness_toml_stops_startup_naming_the_role_and_field() {
    let dir = TempDir::new().unwrap();
    for (toml, role, field) in [
        (
            "[roles.designer]\nprompt = \"You design.\"\ntools = [\"read_file\", \"hammer\"]\n",
            "designer",
            "tools",
        ),
        ("[roles.qa]\nruntime = \"gpt\"\n", "qa", "runtime"),
        // A read-only role on the CLI, whose agent brings its own tools that can write.
        (
            "[roles.validation]\nruntime = \"cli\"\n",
            "validation",
            "runtime",
        ),
        // Nor on ACP: its agent brings its own tools too.
        (
            "[roles.validation]\nruntime = \"acp\"\n",
            "validation",
            "runtime",
        ),
        // An agent's own tools are checked: an unknown one is not silently ignored.
        (
            "[agents.build-1]\ntools = [\"browser\", \"hammer\"]\n",
            "build-1",
            "tools",
        ),
        (
            "[roles.designer]\nprompt = \"You design.\"\ncategories = [\"feature\"]\n",
            "designer",
            "categories",
        ),
    ] {
        std::fs::write(dir.path().join("harness.toml"), toml).unwrap();
        let (ok, _, err) = run(harness(dir.path()).arg("serve"));
        assert!(!ok, "{toml}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("'{role}'")) && err.contains(field),
            "{toml}: {err}"
        );
    }
    // An agent of a read-only role on the CLI is refused once the stored agents are
    // known (after the startup log lines): the error is the one last line.
    // (The investigator may: its detached worktree is thrown away, nothing it writes lands.)
    let (toml, agent) = (
        "[agents.checker]\nrole = \"validation\"\nruntime = \"cli\"\ncommand = [\"claude\"]\n",
        "checker",
    );
    std::fs::write(dir.path().join("harness.toml"), toml).unwrap();
    let (ok, _, err) = run(harness(dir.path()).arg("serve"));
    assert!(!ok, "{toml}");
    let line = err.trim().lines().last().unwrap_or_default();
    assert!(line.starts_with("harness: "), "{toml}: {err}");
    assert!(
        line.contains(&format!("agent '{agent}'"))
            && line.contains("runtime")
            && line.contains("read-only"),
        "{toml}: {line}"
    );
    let agents = stored_agents(dir.path());
    assert!(
        agents.iter().all(|(_, runtime)| runtime == "anthropic"),
        "nothing was written before the refusal: {agents:?}"
    );
}

#[test]
fn a_bad_price_in_harness_toml_stops_startup_naming_the_model() {
    let dir = TempDir::new().unwrap();
    for (toml, says) in [
        (
            "[prices.\"llama3.1:8b\"]\ninput = -1.0\noutput = 2.0\n",
            "llama3.1:8b",
        ),
        (
            "[prices.\"my-model\"]\ninput = 1.0\noutput = 1e9\n",
            "my-model",
        ),
        ("[prices.\"m\"]\ninput = 1.0\n", "output"),
        (
            "[prices.\"m\"]\ninput = 1.0\noutput = 2.0\ncached = 0.1\n",
            "cached",
        ),
    ] {
        std::fs::write(dir.path().join("harness.toml"), toml).unwrap();
        let (ok, _, err) = run(harness(dir.path()).arg("serve"));
        assert!(!ok, "{toml}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{toml}: {err}");
    }
}

/// Each stored agent's id and runtime, read from the database file.
fn stored_agents(dir: &Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(dir.join("data/harness.db")).unwrap();
    let mut stmt = conn.prepare("SELECT id, runtime FROM agents").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn migrate_and_backup_list_only_their_own_flags() {
    for sub in ["migrate", "backup"] {
        let (ok, out, _) = run(Command::new(BIN).args([sub, "--help"]));
        assert!(ok, "{sub}");
        assert!(out.contains("DATABASE_PATH"), "{sub}: {out}");
        for serve_only in ["HARNESS_WORKSPACE", "HARNESS_AGENT_NETWORK", "TELEGRAM"] {
            assert!(
                !out.contains(serve_only),
                "{sub} --help lists {serve_only}: {out}"
            );
        }
    }
}

#[test]
fn healthcheck_checks_where_serve_listens() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(dir.path());
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let (ok, _, err) = run(harness(dir.path()).env("PORT", &port).arg("healthcheck"));
    assert!(ok, "{err}");
    // The same port on every address `serve` may bind is checked on loopback.
    let (ok, _, err) = run(harness(dir.path())
        .env("PORT", &port)
        .env("HARNESS_BIND", "0.0.0.0")
        .arg("healthcheck"));
    assert!(ok, "{err}");
    // A port where nothing listens is unhealthy, whatever answers on 3333.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unused = free.local_addr().unwrap().port().to_string();
    drop(free);
    let (ok, _, err) = run(harness(dir.path()).env("PORT", &unused).arg("healthcheck"));
    assert!(!ok);
    assert!(err.contains(&format!(":{unused}/health")), "{err}");
}

#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let mut child = Command::new(BIN)
        .arg("openapi")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then hang up, as `harness openapi | head -1` does.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(first.starts_with('{'), "{first}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{stderr}");
}

#[test]
fn the_documented_defaults_are_the_code_s() {
    let (_, help, _) = run(Command::new(BIN).args(["serve", "--help"]));
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/AGENTS.md"))
            .unwrap();
    let mut compared = 0;
    for row in docs.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (name, documented) = (cells[1], cells[2]);
        // Rows of one variable with a plain number as its default.
        let name = name.trim_matches('`');
        if name.contains('`') || documented.parse::<f64>().is_err() {
            continue;
        }
        let Some(line) = help.lines().find(|l| l.contains(&format!("[env: {name}="))) else {
            continue;
        };
        let Some(default) = line
            .split("[default: ")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
        else {
            continue;
        };
        assert_eq!(
            default, documented,
            "{name}: --help says {default}, docs/AGENTS.md {documented}"
        );
        compared += 1;
    }
    assert!(compared >= 10, "only {compared} defaults compared");
}
