//! Child processes in their own process group: stdin prompt, line-by-line output,
//! timeout, cancellation, and a group kill (SIGTERM, then SIGKILL) that leaves no orphans.
//!
//! The system we replace killed only a shell wrapper on timeout, so the agent under it
//! kept running. Here every child leads its own group and the whole group is signalled.
//!
//! This is the one place agent processes are started, so it is where the sandbox is
//! entered: every child starts from the environment policy and enters its Landlock
//! rules and resource limits between fork and exec ([`super::sandbox`]).

use std::{
    future::Future,
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    process::{Child, Command},
    sync::mpsc,
};
use tokio_util::sync::CancellationToken;

use super::{sandbox::SandboxConfig, session::tail};

/// What to run and under which limits.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub program: String,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    /// The worktree whose network namespace the child joins, when it is not `cwd` (the
    /// browser runs in its profile directory but must reach the worktree's servers).
    pub scope: Option<PathBuf>,
    /// Written to stdin, which is then closed. `None` gives the child an empty stdin.
    pub stdin: Option<String>,
    /// Variables set on top of the sandbox's allow-listed environment.
    pub env: Vec<(String, String)>,
    /// How the child is confined; the default confines it with built-in settings.
    pub sandbox: SandboxConfig,
    /// Wall-clock limit; `None` means only cancellation stops it.
    pub timeout: Option<Duration>,
    /// Time between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// Longest line passed on; the rest of a longer line is dropped with a marker.
    pub max_line_bytes: usize,
    /// Bytes of combined output kept for [`Finished::tail`].
    pub tail_bytes: usize,
    /// May create Unix sockets (the sandbox refuses them: a path-named one reaches any
    /// daemon on the host). Only the browser, whose singleton socket Chromium requires.
    pub unix_sockets: bool,
}

impl CommandSpec {
    /// `sh -c script` in `cwd`, with default limits.
    pub fn shell(script: &str, cwd: impl Into<PathBuf>) -> Self {
        Self::new("sh", ["-c", script], cwd)
    }

    /// `program args…` in `cwd`, with default limits.
    pub fn new<I, S>(program: &str, args: I, cwd: impl Into<PathBuf>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            program: program.to_owned(),
            args: args.into_iter().map(Into::into).collect(),
            cwd: cwd.into(),
            scope: None,
            stdin: None,
            env: Vec::new(),
            sandbox: SandboxConfig::default(),
            timeout: None,
            kill_grace: Duration::from_secs(5),
            max_line_bytes: 64 * 1024,
            tail_bytes: 16 * 1024,
            unix_sockets: false,
        }
    }
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of output, without its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: Stream,
    pub text: String,
}

/// How the child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// Exited by itself with this code.
    Exited(i32),
    /// Killed by a signal it did not get from us.
    Signalled(i32),
    /// We killed it because the timeout passed.
    TimedOut,
    /// We killed it because the cancel token fired.
    Cancelled,
}

impl Termination {
    /// True only for a real exit code of 0.
    pub fn success(self) -> bool {
        self == Termination::Exited(0)
    }

    /// A short description for logs and failure summaries.
    pub fn describe(self) -> String {
        match self {
            Termination::Exited(code) => format!("exit code {code}"),
            Termination::Signalled(sig) => format!("killed by signal {sig}"),
            Termination::TimedOut => "timed out".to_owned(),
            Termination::Cancelled => "cancelled".to_owned(),
        }
    }
}

/// The result of [`run`].
#[derive(Debug, Clone)]
pub struct Finished {
    pub termination: Termination,
    /// The last `tail_bytes` of stdout and stderr, interleaved by line.
    pub tail: String,
    pub duration: Duration,
}

/// Lines buffered between the readers and the caller's callback.
const LINE_QUEUE: usize = 256;

/// Runs `spec` to the end, passing each output line to `on_line`. Timeout and `cancel`
/// kill the whole process group. Dropping the future also kills the group (SIGKILL).
pub async fn run(
    spec: &CommandSpec,
    cancel: &CancellationToken,
    mut on_line: impl FnMut(&OutputLine) + Send,
) -> std::io::Result<Finished> {
    let started = Instant::now();
    let mut running = Running::start(spec)?;
    let (tx, mut rx) = mpsc::channel::<OutputLine>(LINE_QUEUE);
    feed_stdin(&mut running.child, spec.stdin.clone());
    let readers = start_readers(&mut running.child, &tx, spec.max_line_bytes);
    drop(tx);

    let mut tail_buf = TailBuffer::new(spec.tail_bytes);
    let deadline = spec.timeout.map(|t| tokio::time::Instant::now() + t);
    let mut lines_open = true;
    let termination = loop {
        tokio::select! {
            line = rx.recv(), if lines_open => match line {
                Some(line) => { tail_buf.push(&line.text); on_line(&line); }
                None => lines_open = false,
            },
            status = running.child.wait() => break exit_termination(status?),
            _ = sleep_until(deadline) => {
                running.kill(spec.kill_grace).await;
                break Termination::TimedOut;
            }
            _ = cancel.cancelled() => {
                running.kill(spec.kill_grace).await;
                break Termination::Cancelled;
            }
        }
    };
    running.end().await;
    drain(&mut rx, readers, &mut tail_buf, &mut on_line).await;
    Ok(Finished {
        termination,
        tail: tail_buf.into_string(),
        duration: started.elapsed(),
    })
}

/// The child's stdin and stdout, for a runtime that talks with its agent over them (the
/// Agent Client Protocol's JSON-RPC) instead of handing it one prompt.
pub struct Pipes {
    pub stdin: tokio::process::ChildStdin,
    pub stdout: tokio::process::ChildStdout,
}

/// [`run`] for a conversation: `talk` holds the child's stdin and stdout while its
/// stderr lines go to `on_stderr` (`spec.stdin` is ignored). The run ends when `talk`
/// returns (the child then has `kill_grace` to exit on its closed stdin), when the child
/// exits, at the timeout, or `kill_grace` after `cancel`, which `talk` should also watch
/// to ask its agent to stop. The value is `talk`'s, unless the child ended first.
pub async fn converse<T, F>(
    spec: &CommandSpec,
    cancel: &CancellationToken,
    mut on_stderr: impl FnMut(&OutputLine) + Send,
    talk: impl FnOnce(Pipes) -> F,
) -> std::io::Result<(Finished, Option<T>)>
where
    F: Future<Output = T>,
{
    let started = Instant::now();
    let mut spec = spec.clone();
    spec.stdin = Some(String::new()); // piped, handed to `talk`
    let mut running = Running::start(&spec)?;
    let (Some(stdin), Some(stdout)) = (running.child.stdin.take(), running.child.stdout.take())
    else {
        running.end().await;
        return Err(std::io::Error::other(
            "the agent's stdin or stdout is missing",
        ));
    };
    let (tx, mut rx) = mpsc::channel::<OutputLine>(LINE_QUEUE);
    let readers = start_readers(&mut running.child, &tx, spec.max_line_bytes);
    drop(tx);
    let talking = talk(Pipes { stdin, stdout });
    tokio::pin!(talking);

    let mut tail_buf = TailBuffer::new(spec.tail_bytes);
    let deadline = spec.timeout.map(|t| tokio::time::Instant::now() + t);
    let mut lines_open = true;
    let mut outcome = None;
    let mut stop_by: Option<(tokio::time::Instant, Termination)> = None;
    let termination = loop {
        let stop_at = stop_by.map(|(at, _)| at);
        tokio::select! {
            line = rx.recv(), if lines_open => match line {
                Some(line) => { tail_buf.push(&line.text); on_stderr(&line); }
                None => lines_open = false,
            },
            value = &mut talking, if outcome.is_none() => {
                outcome = Some(value);
                // The conversation is over; the agent should exit on its own.
                let at = tokio::time::Instant::now() + spec.kill_grace;
                stop_by.get_or_insert((at, Termination::Exited(0)));
            }
            status = running.child.wait() => break exit_termination(status?),
            _ = sleep_until(deadline), if stop_by.is_none() => {
                running.kill(spec.kill_grace).await;
                break Termination::TimedOut;
            }
            _ = cancel.cancelled(), if stop_by.is_none() => {
                let at = tokio::time::Instant::now() + spec.kill_grace;
                stop_by = Some((at, Termination::Cancelled));
            }
            _ = sleep_until(stop_at) => {
                running.kill(spec.kill_grace).await;
                let (_, why) = stop_by.expect("the stop time is set");
                break why;
            }
        }
    };
    running.end().await;
    drain(&mut rx, readers, &mut tail_buf, &mut on_stderr).await;
    let finished = Finished {
        termination,
        tail: tail_buf.into_string(),
        duration: started.elapsed(),
    };
    Ok((finished, outcome))
}

/// A started child and what must outlive it: its sandbox (private temp dir, process
/// tree) and the guard that kills its group if the run is dropped half-way.
struct Running {
    child: Child,
    sandbox: super::sandbox::Prepared,
    pgid: i32,
    leader: Option<super::sandbox::tree::Leader>,
    guard: GroupGuard,
}

impl Running {
    fn start(spec: &CommandSpec) -> std::io::Result<Self> {
        // No end-of-run sweep may take the child for an escaped process before it is
        // registered as a run's first process.
        let spawning = super::sandbox::tree::spawning();
        let (child, sandbox) = spawn(spec)?;
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .ok_or_else(|| std::io::Error::other("child exited before its pid was read"))?;
        let leader = spawning.register(pgid);
        Ok(Self {
            child,
            sandbox,
            pgid,
            leader: Some(leader),
            guard: GroupGuard { pgid, armed: true },
        })
    }

    async fn kill(&mut self, grace: Duration) {
        kill_group(self.pgid, grace, &mut self.child).await;
    }

    /// The leader is gone; anything it left in its group must go too, or it would keep
    /// the pipes open and run on unsupervised. So must what left the group (`setsid`):
    /// the run's process tree is killed as a whole (sandbox/tree.rs).
    async fn end(mut self) {
        signal_group(self.pgid, libc::SIGKILL);
        self.guard.armed = false;
        drop(self.leader.take());
        let mut sandbox = self.sandbox;
        // Off the async threads: it waits (bounded) for the killed processes to be gone.
        let ended = tokio::task::spawn_blocking(move || sandbox.end()).await;
        if let Err(error) = ended {
            tracing::warn!(%error, "ending an agent's process tree failed");
        }
    }
}

fn spawn(spec: &CommandSpec) -> std::io::Result<(Child, super::sandbox::Prepared)> {
    let scope = spec.scope.as_deref().unwrap_or(&spec.cwd);
    let mut prepared = spec.sandbox.prepare(&spec.cwd, scope, &spec.env)?;
    if spec.unix_sockets {
        prepared.allow_unix_sockets()?;
    }
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            // Opened here, not by `spawn` on a spawner thread inside the worktree's
            // Landlock domain, where the descriptor would refuse every ioctl (EACCES
            // instead of the ENOTTY a tool expects from a non-terminal).
            Stdio::from(std::fs::File::open("/dev/null")?)
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // No `process_group(0)`: `enter` makes the child a session leader (setsid fails
        // in a group leader), which also leads a group of its own whose id is its pid,
        // so one signal to `-pid` still reaches the child and everything it starts.
        .kill_on_drop(true)
        .env_clear()
        .envs(prepared.env().iter().map(|(k, v)| (k, v)));
    let entry = prepared.entry();
    // SAFETY: `enter` makes only system calls (setrlimit, setsid, prctl, capset,
    // landlock_restrict_self unless forked from a worktree's spawner thread, seccomp)
    // on values prepared before the fork; it neither
    // allocates nor takes locks, as the child of a threaded process must not.
    unsafe {
        command.pre_exec(move || entry.enter());
    }
    // From the port guard's thread when there is one (sandbox/net.rs).
    let child = prepared.spawn(command)?;
    Ok((child, prepared))
}

/// Writes the prompt in its own task so a child that does not read stdin cannot block us.
fn feed_stdin(child: &mut Child, input: Option<String>) {
    if let (Some(mut stdin), Some(input)) = (child.stdin.take(), input) {
        tokio::spawn(async move {
            // A child that exits without reading closes the pipe; that is not our error.
            let _ = stdin.write_all(input.as_bytes()).await;
            let _ = stdin.shutdown().await;
        });
    }
}

fn start_readers(
    child: &mut Child,
    tx: &mpsc::Sender<OutputLine>,
    max_line: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = Vec::new();
    if let Some(out) = child.stdout.take() {
        handles.push(tokio::spawn(read_lines(
            out,
            Stream::Stdout,
            tx.clone(),
            max_line,
        )));
    }
    if let Some(err) = child.stderr.take() {
        handles.push(tokio::spawn(read_lines(
            err,
            Stream::Stderr,
            tx.clone(),
            max_line,
        )));
    }
    handles
}

/// Splits a stream into lines of at most `max_line` bytes. Reads in chunks rather than
/// `lines()`, because one endless line must not grow a buffer without bound.
async fn read_lines(
    mut reader: impl AsyncRead + Unpin,
    stream: Stream,
    tx: mpsc::Sender<OutputLine>,
    max_line: usize,
) {
    let mut chunk = vec![0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    let mut dropped = 0usize;
    loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &byte in &chunk[..n] {
            if byte == b'\n' {
                let text = finish_line(&mut line, &mut dropped);
                if tx.send(OutputLine { stream, text }).await.is_err() {
                    return;
                }
            } else if line.len() < max_line {
                line.push(byte);
            } else {
                dropped += 1;
            }
        }
    }
    if !line.is_empty() || dropped > 0 {
        let text = finish_line(&mut line, &mut dropped);
        // The receiver is gone only when the run was dropped: nobody reads the line.
        let _ = tx.send(OutputLine { stream, text }).await;
    }
}

fn finish_line(line: &mut Vec<u8>, dropped: &mut usize) -> String {
    let mut text = String::from_utf8_lossy(line).into_owned();
    if text.ends_with('\r') {
        text.pop();
    }
    if *dropped > 0 {
        text.push_str(&format!(" [... {dropped} bytes of this line dropped]"));
    }
    line.clear();
    *dropped = 0;
    text
}

/// Passes on the lines still queued after the child ended. Bounded in time: a reader
/// whose pipe is held open by an escaped grandchild is abandoned after a moment.
async fn drain(
    rx: &mut mpsc::Receiver<OutputLine>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    tail_buf: &mut TailBuffer,
    on_line: &mut (impl FnMut(&OutputLine) + Send),
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(line)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        tail_buf.push(&line.text);
        on_line(&line);
    }
    for reader in readers {
        reader.abort();
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn exit_termination(status: std::process::ExitStatus) -> Termination {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Termination::Exited(code),
        (None, Some(sig)) => Termination::Signalled(sig),
        (None, None) => Termination::Exited(-1),
    }
}

/// SIGTERM to the group, reap the leader, and SIGKILL the group if anything is still
/// alive after `grace`.
pub async fn kill_group(pgid: i32, grace: Duration, child: &mut Child) {
    signal_group(pgid, libc::SIGTERM);
    let deadline = tokio::time::Instant::now() + grace;
    let mut leader_reaped = false;
    loop {
        if !leader_reaped {
            leader_reaped = matches!(child.try_wait(), Ok(Some(_)));
        }
        // Once the leader is reaped, a live group means a descendant is still running.
        if leader_reaped && !group_alive(pgid) {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    signal_group(pgid, libc::SIGKILL);
    // Reaps the leader after SIGKILL; an error means it was reaped already.
    let _ = child.wait().await;
}

/// Sends `signal` to every process in group `pgid`. A group that is already gone is fine.
pub fn signal_group(pgid: i32, signal: i32) {
    if pgid <= 1 {
        return; // never signal our own group or init by mistake
    }
    // SAFETY: kill(2) with a negative pid only sends a signal; no memory is touched.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// True while any process (zombies included) is in group `pgid`.
pub(crate) fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks existence and permission.
    let rc = unsafe { libc::kill(-pgid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Kills the group if [`run`] is dropped half-way (the scheduler aborted the task).
struct GroupGuard {
    pgid: i32,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            signal_group(self.pgid, libc::SIGKILL);
        }
    }
}

/// The last `max` bytes of output, line by line.
#[derive(Debug)]
pub(crate) struct TailBuffer {
    text: String,
    max: usize,
}

impl TailBuffer {
    pub fn new(max: usize) -> Self {
        Self {
            text: String::new(),
            max,
        }
    }

    pub fn push(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
        // Trim only when well over the limit, so trimming stays amortized O(1) per byte.
        if self.text.len() > self.max.saturating_mul(2).max(1024) {
            self.text = tail(&self.text, self.max).to_owned();
        }
    }

    /// The last `max` bytes so far.
    pub fn text(&self) -> &str {
        tail(&self.text, self.max)
    }

    fn into_string(self) -> String {
        self.text().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[tokio::test]
    async fn the_real_exit_code_is_reported() {
        let dir = tmp();
        let spec = CommandSpec::shell("echo hi; exit 3", dir.path());
        let done = run(&spec, &CancellationToken::new(), |_| {}).await.unwrap();
        assert_eq!(done.termination, Termination::Exited(3));
        assert_eq!(done.tail, "hi\n");
    }

    #[tokio::test]
    async fn stdin_reaches_the_child_and_lines_stream_in_order() {
        let dir = tmp();
        let mut spec = CommandSpec::shell("cat; echo err >&2", dir.path());
        spec.stdin = Some("one\ntwo\n".into());
        let mut seen = Vec::new();
        let done = run(&spec, &CancellationToken::new(), |l| seen.push(l.clone()))
            .await
            .unwrap();
        assert!(done.termination.success());
        let stdout: Vec<_> = seen
            .iter()
            .filter(|l| l.stream == Stream::Stdout)
            .map(|l| l.text.as_str())
            .collect();
        assert_eq!(stdout, ["one", "two"]);
        assert!(
            seen.iter()
                .any(|l| l.stream == Stream::Stderr && l.text == "err")
        );
    }

    #[tokio::test]
    async fn a_very_long_line_is_cut_to_the_limit() {
        let dir = tmp();
        let mut spec = CommandSpec::shell("head -c 100000 /dev/zero | tr '\\0' a", dir.path());
        spec.max_line_bytes = 1000;
        spec.tail_bytes = 4000;
        let mut longest = 0;
        let done = run(&spec, &CancellationToken::new(), |l| {
            longest = longest.max(l.text.len())
        })
        .await
        .unwrap();
        assert!(longest < 1100, "line of {longest} bytes");
        assert!(done.tail.len() <= 4000);
    }

    #[tokio::test]
    async fn a_timeout_kills_the_child() {
        let dir = tmp();
        let mut spec = CommandSpec::shell("sleep 30", dir.path());
        spec.timeout = Some(Duration::from_millis(200));
        spec.kill_grace = Duration::from_millis(200);
        let started = Instant::now();
        let done = run(&spec, &CancellationToken::new(), |_| {}).await.unwrap();
        assert_eq!(done.termination, Termination::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_child_that_ignores_sigterm_is_killed_after_the_grace_period() {
        let dir = tmp();
        let mut spec = CommandSpec::shell("trap '' TERM; sleep 30 & wait", dir.path());
        spec.timeout = Some(Duration::from_millis(100));
        spec.kill_grace = Duration::from_millis(300);
        let started = Instant::now();
        let done = run(&spec, &CancellationToken::new(), |_| {}).await.unwrap();
        assert_eq!(done.termination, Termination::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
