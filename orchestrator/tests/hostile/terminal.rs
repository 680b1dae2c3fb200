//! Agents reaching for the terminal the person started `harness serve` in: writing to
//! it (escape sequences, fake prompts), and pushing keystrokes into its input with
//! TIOCSTI, which the person's shell runs once the server stops.
//!
//! The real `harness` binary runs with a pseudo-terminal this test creates as its
//! controlling terminal and stdio, as it would in the person's shell.

use std::{
    io::Read,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::Path,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use harness_testkit::git_repo;

/// The real binary, as `harness serve` runs in the person's terminal.
const BIN: &str = env!("CARGO_BIN_EXE_harness");
/// Bytes of terminal output kept; the server's own log is small at `warn`.
const MAX_OUTPUT: usize = 4 << 20;
const TOKEN: &str = "terminal-test-token-0123456789";

/// The agent writes to the terminal it can name (its own controlling terminal, and the
/// server's stdio) and pushes keystrokes into it. Other terminals of the machine are
/// left alone: on a host without the sandbox this would type into them. The markers
/// are spelled with escapes, so neither this script nor a log of it holds them: only a
/// write that reaches the terminal does. Each step is bounded in time.
const SCRIPT: &str = r#"server=$PPID
for f in /dev/tty /proc/$server/fd/0 /proc/$server/fd/1 /proc/$server/fd/2; do
  timeout 5 sh -c 'printf "\101GENT-TTY-WRITE %s\n" "$1" > "$1"' - "$f"
done 2>/dev/null
timeout 10 perl -e '
  for my $f ("/dev/tty", map { "/proc/$ARGV[0]/fd/$_" } 0 .. 2) {
    open(my $t, "+<", $f) or next;
    ioctl($t, 0x5412, $_) for split //, "\111NJECTED-BY-AGENT\n";
    ioctl($t, 0x100005412, $_) for split //, "\111NJECTED-BY-AGENT\n";
  }
  for my $fd (0 .. 2) {
    open(my $t, "+<&=", $fd) or next;
    ioctl($t, 0x5412, $_) for split //, "\111NJECTED-BY-AGENT\n";
  }
' "$server"
echo probed > probed.txt
"#;

/// A pseudo-terminal: the side the person's terminal emulator holds, and the side the
/// server runs on.
fn open_pty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors; null name, termios and window size are
    // allowed and give the defaults (echo on, canonical input).
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// Reads everything the terminal shows into a shared buffer, until the server side is
/// closed.
fn collect(master: OwnedFd) -> Arc<Mutex<Vec<u8>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = seen.clone();
    std::thread::spawn(move || {
        let mut file = std::fs::File::from(master);
        let mut buf = [0u8; 4096];
        // EIO once every slave descriptor is closed: the terminal went away.
        while let Ok(n) = file.read(&mut buf) {
            let mut seen = out.lock().unwrap();
            if n == 0 || seen.len() + n > MAX_OUTPUT {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
    });
    seen
}

/// Bytes waiting in the terminal's input queue (what a shell would read next).
fn pending_input(slave: &OwnedFd) -> i32 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    let rc = unsafe { libc::ioctl(slave.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    n
}

fn config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("harness.toml");
    let command = toml_string(SCRIPT);
    std::fs::write(
        &path,
        format!("[agents.build-1]\nruntime = \"cli\"\ncommand = [\"sh\", \"-c\", {command}]\n"),
    )
    .unwrap();
    path
}

fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// Finds `name` under `dir`, a few levels deep (the agent's worktree).
fn find(dir: &Path, name: &str, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let path = e.path();
        path.file_name().is_some_and(|n| n == name)
            || (depth > 0 && path.is_dir() && find(&path, name, depth - 1))
    })
}

#[tokio::test]
async fn a_server_run_from_a_terminal_receives_nothing_from_its_agents() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let workspace = git_repo::repo_path(&repo);
    let dir = tempfile::tempdir().unwrap();
    let worktrees = dir.path().join("worktrees");
    let (master, slave) = open_pty();
    let stdio = || Stdio::from(slave.try_clone().unwrap());
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("HARNESS_LOG", "warn")
        .env("DATABASE_PATH", dir.path().join("data/harness.db"))
        .env("HARNESS_DASHBOARD_DIR", dir.path().join("no-dashboard"))
        .env("HARNESS_CONFIG", config(dir.path()))
        .env("HARNESS_WORKSPACE", &workspace)
        .env("HARNESS_WORKTREES_DIR", &worktrees)
        .env("HARNESS_TICK_SECS", "0.1")
        .env("HARNESS_SESSION_SPACING_SECS", "0")
        .env("HARNESS_API_TOKEN", TOKEN)
        .args(["serve", "--port", "0", "--bind", "127.0.0.1"])
        .current_dir(dir.path())
        .stdin(stdio())
        .stdout(stdio())
        .stderr(stdio());
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid and ioctl are system calls on descriptors the child owns; nothing
    // is allocated between fork and exec.
    unsafe {
        command.pre_exec(|| {
            // A session of its own whose controlling terminal is the pty, as a shell
            // gives the programs it starts.
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut server = command.spawn().expect("harness starts");
    let screen = collect(master);
    let base = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
            if let Some(rest) = text.split("harness listening on ").nth(1)
                && let Some(url) = rest.split_whitespace().next()
                && rest.contains('\n')
            {
                break url.to_owned();
            }
            assert!(
                Instant::now() < deadline && server.try_wait().unwrap().is_none(),
                "the server did not start: {text}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let client = harness_testkit::app::test_client(Some(Duration::from_secs(10)));
    let created = client
        .post(format!("{base}/api/tasks"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"title": "Type into the terminal"}))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{created:?}");
    let deadline = Instant::now() + Duration::from_secs(90);
    while !find(&worktrees, "probed.txt", 3) {
        let text = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
        assert!(Instant::now() < deadline, "the agent never ran: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Anything the agent wrote is in the terminal by the time its next command ran;
    // a moment more for the reader thread.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pending = pending_input(&slave);
    let _ = server.kill();
    let _ = server.wait();
    let text = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    assert!(
        !text.contains("AGENT-TTY-WRITE"),
        "an agent wrote to the terminal: {text}"
    );
    // With echo on (the default), pushed keystrokes would also show on the screen.
    assert!(
        !text.contains("INJECTED-BY-AGENT"),
        "an agent typed into the terminal: {text}"
    );
    assert_eq!(
        pending, 0,
        "keystrokes wait in the terminal's input: {text}"
    );
}
