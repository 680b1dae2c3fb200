//! Commands an agent runs in the background (`run_command` with `background: true`):
//! the app the browser tool opens, a database its tests need. Each is confined like
//! every command and joins the worktree's network namespace, so the next command and
//! the browser reach it on loopback. It runs until the session ends (the [`Services`]
//! of the session is dropped), and at most [`MAX_SERVICES`] run at once per session.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio_util::sync::CancellationToken;

use super::ToolOutcome;
use crate::process::{self, CommandSpec, TailBuffer, Termination};

/// Background commands one session may have running at once.
pub(crate) const MAX_SERVICES: usize = 4;
/// How long `run_command` waits for a background command before it answers: long
/// enough for a server's first lines, or for a command that fails at once to fail.
const SETTLE: Duration = Duration::from_secs(3);

/// One session's background commands. Dropping it stops them all (each one's process
/// tree is killed as a command's is at its timeout).
#[derive(Debug, Default)]
pub struct Services {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The last id given.
    last: u32,
    running: Vec<Service>,
}

#[derive(Debug)]
struct Service {
    id: u32,
    command: String,
    stop: CancellationToken,
    output: Arc<Mutex<Output>>,
}

#[derive(Debug)]
struct Output {
    tail: TailBuffer,
    /// How it ended, once it has.
    ended: Option<Termination>,
}

impl Services {
    /// Starts `spec` in the background and answers once it has run for [`SETTLE`] (with
    /// its output so far) or ended (with how, and its output).
    pub async fn start(&self, spec: CommandSpec, tail_bytes: usize) -> ToolOutcome {
        let Some((id, output, ended)) = self.launch(spec, tail_bytes) else {
            return ToolOutcome::error(format!(
                "{MAX_SERVICES} commands already run in the background ({}); they run until the session ends",
                self.describe()
            ));
        };
        // Either it ends within SETTLE, or it is still running: both are answers.
        let _ = tokio::time::timeout(SETTLE, ended.cancelled()).await;
        let output = output.lock().unwrap_or_else(|p| p.into_inner());
        match output.ended {
            Some(termination) => ToolOutcome {
                content: format!(
                    "the background command {}\n--- output (last {tail_bytes} bytes at most) ---\n{}",
                    termination.describe(),
                    output.tail.text()
                ),
                is_error: !termination.success(),
                png: None,
            },
            None => ToolOutcome::ok(format!(
                "running in the background as service {id} until the session ends (redirect its output to a file to read it later)\n--- output so far ---\n{}",
                output.tail.text()
            )),
        }
    }

    /// Starts the command's task, or `None` when MAX_SERVICES already run. Returns its
    /// id, its output, and a token cancelled when it has ended.
    #[allow(clippy::type_complexity)]
    fn launch(
        &self,
        spec: CommandSpec,
        tail_bytes: usize,
    ) -> Option<(u32, Arc<Mutex<Output>>, CancellationToken)> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .running
            .retain(|s| s.output.lock().map(|o| o.ended.is_none()).unwrap_or(false));
        if inner.running.len() >= MAX_SERVICES {
            return None;
        }
        inner.last += 1;
        let id = inner.last;
        let output = Arc::new(Mutex::new(Output {
            tail: TailBuffer::new(tail_bytes),
            ended: None,
        }));
        let (stop, ended) = (CancellationToken::new(), CancellationToken::new());
        inner.running.push(Service {
            id,
            command: spec.args.last().cloned().unwrap_or_default(),
            stop: stop.clone(),
            output: output.clone(),
        });
        let (out, done) = (output.clone(), ended.clone());
        tokio::spawn(async move {
            let push = |line: &process::OutputLine| {
                if let Ok(mut out) = out.lock() {
                    out.tail.push(&line.text);
                }
            };
            let termination = match process::run(&spec, &stop, push).await {
                Ok(finished) => finished.termination,
                Err(error) => {
                    if let Ok(mut out) = out.lock() {
                        out.tail.push(&format!("cannot start the command: {error}"));
                    }
                    Termination::Exited(127)
                }
            };
            if let Ok(mut out) = out.lock() {
                out.ended = Some(termination);
            }
            done.cancel();
        });
        Some((id, output, ended))
    }

    /// "service 1: `npm start`, …" for the ones still running.
    fn describe(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .running
            .iter()
            .map(|s| format!("service {}: `{}`", s.id, s.command))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(|p| p.into_inner());
        for service in &inner.running {
            service.stop.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{
        confine::WorktreeRoot,
        tools::workspace::{ToolLimits, Workspace},
    };

    fn free_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    fn listening(port: u16) -> bool {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }

    /// A server in perl (in every Debian), which says so once it listens.
    fn server(port: u16) -> String {
        format!(
            "exec perl -MIO::Socket::INET -e '$| = 1; $s = IO::Socket::INET->new(LocalAddr => \"127.0.0.1:{port}\", Listen => 5, ReuseAddr => 1) or die $!; print \"listening on {port}\\n\"; while ($c = $s->accept) {{ close $c }}'"
        )
    }

    #[tokio::test]
    async fn a_background_server_outlives_its_call_until_the_session_ends() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(
            WorktreeRoot::new(dir.path()).unwrap(),
            ToolLimits::default(),
        );
        let port = free_port();
        let started = ws
            .dispatch(
                "run_command",
                &json!({"command": server(port), "background": true}),
            )
            .await;
        assert!(!started.is_error, "{}", started.content);
        assert!(
            started.content.contains("service 1") && started.content.contains("listening on"),
            "{}",
            started.content
        );
        // The next command reaches it: it did not die with the call that started it.
        let probe = format!("bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' && echo reached");
        let reached = ws.dispatch("run_command", &json!({"command": probe})).await;
        assert!(reached.content.contains("reached"), "{}", reached.content);

        // One that fails at once says so, with its output, and takes no place.
        let failed = ws
            .dispatch(
                "run_command",
                &json!({"command": "echo no config; exit 3", "background": true}),
            )
            .await;
        assert!(failed.is_error, "{}", failed.content);
        assert!(failed.content.contains("no config"), "{}", failed.content);

        // Bounded: MAX_SERVICES at once, and the refusal names those running.
        for _ in 1..MAX_SERVICES {
            let more = ws
                .dispatch(
                    "run_command",
                    &json!({"command": "sleep 300", "background": true}),
                )
                .await;
            assert!(!more.is_error, "{}", more.content);
        }
        let refused = ws
            .dispatch(
                "run_command",
                &json!({"command": "sleep 300", "background": true}),
            )
            .await;
        assert!(refused.is_error, "{}", refused.content);
        assert!(
            refused.content.contains("already run") && refused.content.contains("service 1"),
            "{}",
            refused.content
        );

        // The session ends: its background commands go with it.
        assert!(listening(port));
        drop(ws);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while listening(port) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server outlived its session"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
