//! `harness worker`: runs one remote attempt.
//!
//! It fetches its assignment, clones the attempt's branch over git smart HTTP, runs the
//! agent and the verification commands in the clone, streams log lines and usage back
//! (the uplink, which is also its heartbeat), commits, pushes its branch, and posts its
//! outcome. An agent's question (`ask_human`) is posted as the outcome too, after the
//! work so far is pushed; the attempt after the answer resumes from the assignment's
//! `resume`. It never writes the orchestrator's state; the orchestrator lands the branch.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use harness_domain::{agent::RuntimeKind, session::LogKind};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::protocol::{
    self, Ack, Assignment, CreateTask, EventBatch, MAX_BATCH, SubtaskAnswer, WorkerEvent,
    WorkerOutcome, WorkerResult,
};
use harness_base::Secret;
use harness_base::http_client::{Timeouts, client};
use harness_engine::{
    acp::{AcpAgentConfig, AcpRuntime},
    anthropic::{Client, ClientConfig, LoopConfig, RateGate, Wire},
    cli_runtime::{CliAgentConfig, CliRuntime},
    git::{Author, Repo},
    runtime::{
        AgentRuntime, AnthropicRuntime, CreateTaskError, SessionOutcome, SessionRequest,
        TaskCreator,
    },
    safe_git,
    sandbox::{Mode, SandboxConfig, net::PortGuard},
    session::{SessionSink, Usage},
    tools::{ToolLimits, ToolSet},
    verify::{VerifyConfig, verify},
};

/// Events waiting to be sent; past this the worker drops log lines (and says how many).
const QUEUE: usize = 4096;
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const SUMMARY_BYTES: usize = 8 * 1024;
/// Connection attempts for a request that is not repeated once sent (`post_once`).
const CONNECT_TRIES: u32 = 5;

/// Why the worker stopped before posting a result.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name}: {message}")]
    Invalid {
        name: &'static str,
        message: &'static str,
    },
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] harness_base::http_client::HttpClientError),
    #[error("the orchestrator refused the credential (401): the attempt is over")]
    Refused,
    #[error("cannot reach the orchestrator at {url} for {}s: {last}", window.as_secs())]
    Unreachable {
        url: String,
        window: Duration,
        last: String,
    },
    #[error("cannot {step}: {message}")]
    Git { step: &'static str, message: String },
    #[error("cannot set up the agent: {0}")]
    Runtime(String),
    #[error("cannot create the work directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
}

/// Where the worker finds the orchestrator, and how it confines its agent.
pub struct Endpoint {
    pub url: String,
    pub token: Secret,
    pub dir: PathBuf,
    /// From `HARNESS_SANDBOX`; `require` when unset, as for the server.
    pub sandbox: Mode,
    /// The orchestrator's port closed to the agents, when it listens on this machine's
    /// loopback (the `process` executor); set by [`run`].
    guard: Option<Arc<PortGuard>>,
}

impl Endpoint {
    /// From `HARNESS_WORKER_URL`, `HARNESS_WORKER_TOKEN`, `HARNESS_WORKER_DIR`,
    /// `HARNESS_SANDBOX`.
    pub fn from_env() -> Result<Self, WorkerError> {
        let url = std::env::var(super::ENV_URL)
            .ok()
            .filter(|u| !u.is_empty())
            .ok_or(WorkerError::Missing(super::ENV_URL))?;
        let token = std::env::var(super::ENV_TOKEN)
            .ok()
            .filter(|u| !u.is_empty())
            .ok_or(WorkerError::Missing(super::ENV_TOKEN))?;
        let dir = std::env::var_os(super::ENV_DIR)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("work"));
        let sandbox = match std::env::var(super::ENV_SANDBOX) {
            Ok(text) if !text.trim().is_empty() => {
                Mode::parse(&text).ok_or(WorkerError::Invalid {
                    name: super::ENV_SANDBOX,
                    message: "must be require, warn or off",
                })?
            }
            _ => Mode::default(),
        };
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            token: Secret::new(token),
            dir,
            sandbox,
            guard: None,
        })
    }
}

/// With the `process` executor the orchestrator listens on this machine's loopback, where
/// an agent could reach its API as the server's own agents cannot: the worker closes its
/// port to its agents the same way ([`SandboxConfig::guard_ports`]), once per attempt.
fn orchestrator_guard(endpoint: &Endpoint) -> Result<Option<Arc<PortGuard>>, WorkerError> {
    let Some(port) = loopback_port(&endpoint.url) else {
        return Ok(None);
    };
    let mut config = SandboxConfig {
        mode: endpoint.sandbox,
        ..SandboxConfig::default()
    };
    config.guard_ports(&[port]).map_err(|e| {
        WorkerError::Runtime(format!(
            "cannot keep agents off the orchestrator's port: {e}"
        ))
    })?;
    Ok(config.guard)
}

/// The port of `url` when its host is this machine's loopback.
fn loopback_port(url: &str) -> Option<u16> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let local = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    local.then(|| url.port_or_known_default()).flatten()
}

/// Runs the attempt to its end. `Ok` once the result is posted.
pub async fn run(mut endpoint: Endpoint) -> Result<(), WorkerError> {
    endpoint.guard = orchestrator_guard(&endpoint)?;
    let http = client(Timeouts {
        connect: Duration::from_secs(10),
        request: Some(Duration::from_secs(60)),
    })?;
    let mut link = Link {
        http,
        url: endpoint.url.clone(),
        token: endpoint.token.clone(),
        backoff_max: BACKOFF_MAX,
        reconnect_window: protocol::RECONNECT_WINDOW,
    };
    let assignment: Assignment = link.get(protocol::ASSIGNMENT).await?;
    // One request is retried this long before the worker gives up on the orchestrator;
    // back in time, the orchestrator re-adopts this worker.
    link.reconnect_window = assignment.reconnect_window();
    // Every git command of this worker is bounded as the orchestrator's are.
    safe_git::set_timeout(assignment.git_timeout());
    // Back within a heartbeat once the orchestrator is: a re-adopting orchestrator
    // gives the worker one heartbeat timeout to show up.
    link.backoff_max =
        Duration::from_secs_f64(assignment.heartbeat_secs / 3.0).clamp(BACKOFF_FIRST, BACKOFF_MAX);
    let clone = endpoint.dir.join("repo");
    std::fs::create_dir_all(&endpoint.dir).map_err(|source| WorkerError::Dir {
        path: endpoint.dir.display().to_string(),
        source,
    })?;
    git_clone(&endpoint, &assignment, &clone).await?;

    let (tx, rx) = mpsc::channel(QUEUE);
    let cancel = CancellationToken::new();
    let uplink = Uplink {
        link: link.clone(),
        rx,
        pending: VecDeque::new(),
        first_seq: 0,
        every: Duration::from_secs_f64((assignment.heartbeat_secs / 3.0).clamp(0.05, 10.0)),
        cancel: cancel.clone(),
    };
    let uplink = tokio::spawn(uplink.run());
    let sink = Arc::new(WorkerSink {
        tx,
        dropped: AtomicU64::new(0),
    });
    let outcome = work(&endpoint, &link, &assignment, &clone, sink.clone(), cancel).await;
    let (outcome, last_message) = match outcome {
        Ok(pair) => pair,
        Err(err) => {
            sink.log(LogKind::System, &format!("worker: {err}"));
            (
                WorkerOutcome::Interrupted {
                    reason: format!("the worker failed: {err}"),
                },
                String::new(),
            )
        }
    };
    drop(sink);
    let next_seq = uplink
        .await
        .map_err(|e| WorkerError::Runtime(e.to_string()))??;
    let result = WorkerResult {
        next_seq,
        outcome,
        last_message,
    };
    let _: Ack = link.post(protocol::RESULT, &result).await?;
    Ok(())
}

/// The agent, then (when it completed) commit, verification and push; (when it asked
/// a human) commit and push of its work so far.
async fn work(
    endpoint: &Endpoint,
    link: &Link,
    a: &Assignment,
    clone: &Path,
    sink: Arc<WorkerSink>,
    cancel: CancellationToken,
) -> Result<(WorkerOutcome, String), WorkerError> {
    sink.log(
        LogKind::System,
        &format!("worker cloned {} into {}", a.branch, clone.display()),
    );
    let runtime = runtime(a, endpoint)?;
    let mut brief = a.brief.clone();
    let resume = a.resume.clone().and_then(|r| {
        sink.log(
            LogKind::System,
            &format!("resuming after the answer to: {}", r.question),
        );
        r.into_request(&mut brief)
    });
    let request = SessionRequest {
        worktree: clone.to_path_buf(),
        role_instructions: a.role_instructions.clone(),
        brief,
        resume,
        timeout: Duration::from_secs_f64(a.session_timeout_secs),
        cancel: cancel.clone(),
        task_creator: a
            .creates_tasks()
            .then(|| Arc::new(RemoteTaskCreator { link: link.clone() }) as Arc<dyn TaskCreator>),
        tools: ToolSet::of(a.tools.iter().copied()),
        // No browser on remote executors: the orchestrator does not start an agent
        // that has one on them (docs/EXECUTORS.md).
        browser: None,
    };
    let report = runtime.run(request, sink.as_ref()).await;
    let last = report.last_message.clone();
    let outcome = match report.outcome {
        SessionOutcome::Completed {
            summary,
            no_changes_needed,
            ..
        } => {
            let finished = finish(endpoint, a, clone, &sink, &cancel, summary).await;
            return finished.map(|o| (with_no_changes_reason(o, no_changes_needed), last));
        }
        SessionOutcome::Failed { reason } => WorkerOutcome::Failed { reason },
        SessionOutcome::TimedOut => WorkerOutcome::TimedOut,
        SessionOutcome::Interrupted { reason, .. } => WorkerOutcome::Interrupted { reason },
        SessionOutcome::Unconfigured { reason } => WorkerOutcome::Unconfigured { reason },
        SessionOutcome::WaitingForHuman { question, paused } => {
            let head = save_progress(endpoint, a, clone, &sink, &question).await?;
            WorkerOutcome::WaitingForHuman {
                question,
                paused,
                head,
            }
        }
        SessionOutcome::Cancelled => WorkerOutcome::Interrupted {
            reason: "the attempt was cancelled".into(),
        },
    };
    Ok((outcome, last))
}

/// Commits, verifies and pushes the agent's work.
/// The agent's reason for changing nothing, carried to the orchestrator, which decides.
fn with_no_changes_reason(outcome: WorkerOutcome, why: Option<String>) -> WorkerOutcome {
    match outcome {
        WorkerOutcome::Completed {
            summary,
            head,
            verified,
            verify_summary,
            ..
        } => WorkerOutcome::Completed {
            summary,
            head,
            verified,
            verify_summary,
            no_changes_needed: why,
        },
        other => other,
    }
}

async fn finish(
    endpoint: &Endpoint,
    a: &Assignment,
    clone: &Path,
    sink: &Arc<WorkerSink>,
    cancel: &CancellationToken,
    summary: String,
) -> Result<WorkerOutcome, WorkerError> {
    sink.log(
        LogKind::System,
        &format!("agent reports the task complete: {summary}"),
    );
    let message = format!("{}: {}\n\n{summary}", a.brief.display_id, a.brief.title);
    commit_all(a, clone, sink, message).await?;
    let config = VerifyConfig {
        commands: a.verify.clone(),
        timeout: Duration::from_secs_f64(a.verify_timeout_secs),
        sandbox: agent_sandbox(a, endpoint),
        ..VerifyConfig::default()
    };
    let (verified, verify_summary) = if a.verify.is_empty() {
        (true, String::new())
    } else {
        let line_sink = sink.clone();
        let report = verify(clone, &config, cancel, move |command, line| {
            line_sink.log(LogKind::Output, &format!("[{command}] {}", line.text));
        })
        .await
        .map_err(|e| WorkerError::Runtime(format!("verification did not run: {e}")))?;
        (report.passed(), report.summary(SUMMARY_BYTES))
    };
    sink.log(
        LogKind::System,
        if verified {
            "verification passed in the worker"
        } else {
            "verification failed in the worker"
        },
    );
    let head = push(endpoint, a, clone, sink).await?;
    Ok(WorkerOutcome::Completed {
        summary,
        head,
        verified,
        verify_summary,
        no_changes_needed: None,
    })
}

/// Commits and pushes the agent's work so far, unverified, before the question goes
/// to the orchestrator: the attempt that resumes after the answer clones the branch
/// and finds it there. Returns the pushed head.
async fn save_progress(
    endpoint: &Endpoint,
    a: &Assignment,
    clone: &Path,
    sink: &Arc<WorkerSink>,
    question: &str,
) -> Result<String, WorkerError> {
    sink.log(
        LogKind::System,
        &format!("the agent asks a human: {question}; saving its work so far"),
    );
    let message = format!(
        "{}: work in progress, waiting for an answer\n\nThe agent asked: {question}",
        a.brief.display_id
    );
    commit_all(a, clone, sink, message).await?;
    push(endpoint, a, clone, sink).await
}

/// Commits everything in the clone (nothing when there is nothing to commit).
async fn commit_all(
    a: &Assignment,
    clone: &Path,
    sink: &Arc<WorkerSink>,
    message: String,
) -> Result<(), WorkerError> {
    let author = Author {
        name: a.author_name.clone(),
        email: a.author_email.clone(),
    };
    let path = clone.to_path_buf();
    let committed = tokio::task::spawn_blocking(move || {
        let repo = Repo::open(&path)?;
        repo.commit_all(&path, &message, &author)
    })
    .await
    .map_err(|e| WorkerError::Runtime(e.to_string()))?
    .map_err(|e| WorkerError::Git {
        step: "commit",
        message: e.to_string(),
    })?;
    if let Some(sha) = &committed {
        sink.log(LogKind::Commit, sha);
    }
    Ok(())
}

/// Pushes HEAD to the attempt's branch; returns the pushed head.
async fn push(
    endpoint: &Endpoint,
    a: &Assignment,
    clone: &Path,
    sink: &Arc<WorkerSink>,
) -> Result<String, WorkerError> {
    let head = git(clone, &["rev-parse", "HEAD"], "read HEAD", &[]).await?;
    let refspec = format!("HEAD:refs/heads/{}", a.branch);
    let args = [
        "-c",
        "protocol.http.allow=always",
        "push",
        "-q",
        "origin",
        &refspec,
    ];
    // A push whose answer was lost finds the branch already there: repeating is safe.
    git_with_orchestrator(endpoint, a, clone, &args, "push the branch", || {}).await?;
    sink.log(LogKind::System, &format!("pushed {} at {head}", a.branch));
    Ok(head)
}

/// The agent's sandbox; `mode` is the worker's `HARNESS_SANDBOX`, which container
/// executors set to `warn` (their container confines the agent; see
/// [`super::CONTAINER_SANDBOX`]) and the process executor to the server's own mode.
fn agent_sandbox(a: &Assignment, endpoint: &Endpoint) -> SandboxConfig {
    SandboxConfig {
        mode: endpoint.sandbox,
        read_paths: a.read_paths.clone(),
        guard: endpoint.guard.clone(),
        ..SandboxConfig::default()
    }
}

fn runtime(a: &Assignment, endpoint: &Endpoint) -> Result<Arc<dyn AgentRuntime>, WorkerError> {
    Ok(match a.runtime {
        kind @ (RuntimeKind::Anthropic | RuntimeKind::OpenAi) => {
            // The server gives the key of the assignment's API only (scheduler/remote.rs).
            let (wire, key_var) = match kind {
                RuntimeKind::OpenAi => (Wire::OpenAiChat, "OPENAI_API_KEY"),
                _ => (Wire::Anthropic, "ANTHROPIC_API_KEY"),
            };
            let key = std::env::var(key_var).unwrap_or_default();
            let mut config = ClientConfig::new(a.anthropic_base_url.clone(), Secret::new(key));
            config.wire = wire;
            let client = Client::new(config, Arc::new(RateGate::new()))
                .map_err(|e| WorkerError::Runtime(e.to_string()))?;
            Arc::new(AnthropicRuntime {
                client,
                prices: Arc::new(a.prices.clone().unwrap_or_default()),
                loop_config: LoopConfig::new(a.model.clone()),
                tool_limits: ToolLimits {
                    sandbox: agent_sandbox(a, endpoint),
                    ..ToolLimits::default()
                },
            })
        }
        RuntimeKind::Cli => {
            let mut config = CliAgentConfig::claude_code();
            if let Some((program, args)) = a.cli_command.split_first() {
                config.program = program.clone();
                config.args = args.to_vec();
            }
            config.timeout = Duration::from_secs_f64(a.session_timeout_secs);
            config.sandbox = agent_sandbox(a, endpoint);
            Arc::new(CliRuntime { config })
        }
        RuntimeKind::Acp => {
            let mut config = AcpAgentConfig::claude_acp();
            if let Some((program, args)) = a.cli_command.split_first() {
                config.program = program.clone();
                config.args = args.to_vec();
            }
            config.timeout = Duration::from_secs_f64(a.session_timeout_secs);
            config.sandbox = agent_sandbox(a, endpoint);
            Arc::new(AcpRuntime { config })
        }
    })
}

/// `http.extraHeader` through the environment, so the credential is in no argument list.
fn auth_header(endpoint: &Endpoint) -> Vec<(String, String)> {
    vec![
        ("GIT_CONFIG_COUNT".into(), "1".into()),
        ("GIT_CONFIG_KEY_0".into(), "http.extraHeader".into()),
        (
            "GIT_CONFIG_VALUE_0".into(),
            format!("Authorization: Bearer {}", endpoint.token.expose()),
        ),
    ]
}

async fn git_clone(endpoint: &Endpoint, a: &Assignment, clone: &Path) -> Result<(), WorkerError> {
    let url = format!("{}{}", endpoint.url, protocol::GIT);
    let target = clone.display().to_string();
    let parent = clone.parent().unwrap_or(Path::new("."));
    let args = [
        "-c",
        "protocol.http.allow=always",
        "clone",
        "-q",
        "--single-branch",
        "--branch",
        &a.branch,
        &url,
        &target,
    ];
    // A failed try may leave a partial clone behind.
    let fresh = || {
        // Usually there is none; one that cannot be removed makes the next try fail
        // with git's reason, which is what the worker reports.
        let _ = std::fs::remove_dir_all(clone);
    };
    git_with_orchestrator(endpoint, a, parent, &args, "clone the branch", fresh).await?;
    Ok(())
}

/// A git command that talks to the orchestrator (clone, push): tried again with backoff
/// while the orchestrator cannot be reached or answers 503 (it is restarting), within
/// the assignment's reconnect window; any other failure after a few tries. `before`
/// runs before each try.
async fn git_with_orchestrator(
    endpoint: &Endpoint,
    a: &Assignment,
    dir: &Path,
    args: &[&str],
    step: &'static str,
    before: impl Fn(),
) -> Result<String, WorkerError> {
    const OTHER_TRIES: u32 = 5;
    let header = auth_header(endpoint);
    let env: Vec<(&str, &str)> = header
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let give_up = tokio::time::Instant::now() + a.reconnect_window();
    let (mut delay, mut other_failures) = (BACKOFF_FIRST, 0);
    loop {
        before();
        let err = match git(dir, args, step, &env).await {
            Ok(out) => return Ok(out),
            Err(err) => err,
        };
        if !orchestrator_away(&err.to_string()) {
            other_failures += 1;
        }
        if other_failures >= OTHER_TRIES || tokio::time::Instant::now() >= give_up {
            return Err(err);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(BACKOFF_MAX);
    }
}

/// Whether git's error says the orchestrator is not there (curl's words) or is
/// stopping (503), rather than refusing the request.
fn orchestrator_away(message: &str) -> bool {
    [
        "Failed to connect",
        "Couldn't connect",
        "Connection refused",
        "Empty reply from server",
        "Recv failure",
        "returned error: 503",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// One safe git command in `dir`; its trimmed stdout, or its stderr as the error.
async fn git(
    dir: &Path,
    args: &[&str],
    step: &'static str,
    env: &[(&str, &str)],
) -> Result<String, WorkerError> {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        safe_git::run(&dir, &args, &env)
    })
    .await
    .map_err(|e| WorkerError::Runtime(e.to_string()))?
    .map_err(|e| WorkerError::Git {
        step,
        message: e.to_string(),
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(WorkerError::Git {
            step,
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// The session's sink in the worker: events go to the uplink's bounded queue.
struct WorkerSink {
    tx: mpsc::Sender<WorkerEvent>,
    dropped: AtomicU64,
}

impl WorkerSink {
    fn send(&self, event: WorkerEvent) {
        if self.tx.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl SessionSink for WorkerSink {
    fn log(&self, kind: LogKind, content: &str) {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            self.send(WorkerEvent::Log {
                kind: LogKind::System,
                text: format!("worker: {dropped} log lines dropped (the uplink fell behind)"),
            });
        }
        self.send(WorkerEvent::Log {
            kind,
            text: content.to_owned(),
        });
    }

    fn usage(&self, usage: &Usage, cost_usd: f64) {
        self.send(WorkerEvent::Usage {
            usage: *usage,
            cost_usd,
        });
    }
}

/// Authenticated requests to the orchestrator, retried with bounded backoff.
#[derive(Clone)]
struct Link {
    http: reqwest::Client,
    url: String,
    token: Secret,
    backoff_max: Duration,
    reconnect_window: Duration,
}

impl Link {
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, WorkerError> {
        self.send(|| self.http.get(format!("{}{path}", self.url)))
            .await
    }

    async fn post<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, WorkerError> {
        self.send(|| self.http.post(format!("{}{path}", self.url)).json(body))
            .await
    }

    /// A request that must not be repeated once the orchestrator may have acted on it
    /// (creating a task): retried only while it could not even connect.
    async fn post_once<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, OnceError> {
        let mut delay = BACKOFF_FIRST;
        let mut tries = 0;
        let response = loop {
            let sent = self
                .http
                .post(format!("{}{path}", self.url))
                .json(body)
                .bearer_auth(self.token.expose())
                .send()
                .await;
            match sent {
                Err(err) if err.is_connect() && tries < CONNECT_TRIES => {
                    tries += 1;
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.backoff_max);
                }
                Err(err) => return Err(OnceError::Unreachable(err)),
                Ok(response) => break response,
            }
        };
        let status = response.status();
        if status.is_success() {
            return response.json::<T>().await.map_err(OnceError::Unreadable);
        }
        // The API's error body says what was wrong: pass its message on.
        let message = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_default();
        Err(OnceError::Refused { status, message })
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T, WorkerError> {
        let mut delay = BACKOFF_FIRST;
        let mut last = String::new();
        let give_up = tokio::time::Instant::now() + self.reconnect_window;
        while tokio::time::Instant::now() < give_up {
            let sent = request().bearer_auth(self.token.expose()).send().await;
            match sent {
                Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => {
                    return Err(WorkerError::Refused);
                }
                Ok(r) if r.status().is_success() => match r.json::<T>().await {
                    Ok(value) => return Ok(value),
                    Err(err) => last = err.to_string(),
                },
                Ok(r) => last = format!("HTTP {}", r.status()),
                Err(err) => last = err.to_string(),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.backoff_max);
        }
        Err(WorkerError::Unreachable {
            url: self.url.clone(),
            window: self.reconnect_window,
            last,
        })
    }
}

/// `create_task` in a worker: the orchestrator creates the task (it is the only writer
/// of state), on the attempt's credential.
struct RemoteTaskCreator {
    link: Link,
}

impl TaskCreator for RemoteTaskCreator {
    fn create(
        &self,
        task: harness_domain::task::NewTask,
    ) -> futures_util::future::BoxFuture<'_, Result<String, CreateTaskError>> {
        Box::pin(async move {
            let body = CreateTask::from(&task);
            match self.link.post_once(protocol::TASKS, &body).await {
                Ok(SubtaskAnswer::Created { display_id }) => Ok(display_id),
                Ok(SubtaskAnswer::Refused { reason }) => Err(CreateTaskError::Remote(reason)),
                Err(err) => Err(CreateTaskError::Request(Box::new(err))),
            }
        })
    }
}

/// Why a [`Link::post_once`] request got no answer to use.
#[derive(Debug, thiserror::Error)]
enum OnceError {
    #[error("cannot reach the orchestrator: {0}")]
    Unreachable(#[source] reqwest::Error),
    #[error("the orchestrator's answer is unreadable: {0}")]
    Unreadable(#[source] reqwest::Error),
    #[error("the orchestrator answered {status}: {message}")]
    Refused {
        status: reqwest::StatusCode,
        message: String,
    },
}

/// Sends the session's events in numbered batches; an empty batch is the heartbeat.
struct Uplink {
    link: Link,
    rx: mpsc::Receiver<WorkerEvent>,
    /// Sent or not, not yet acknowledged; `pending[0]` is number `first_seq`.
    pending: VecDeque<WorkerEvent>,
    first_seq: u64,
    every: Duration,
    cancel: CancellationToken,
}

impl Uplink {
    /// Runs until the sink is dropped and every event is acknowledged; returns the next
    /// sequence number (what the result must name).
    async fn run(mut self) -> Result<u64, WorkerError> {
        let mut open = true;
        loop {
            if open && self.pending.len() < MAX_BATCH {
                tokio::select! {
                    event = self.rx.recv() => match event {
                        Some(event) => {
                            self.pending.push_back(event);
                            while self.pending.len() < MAX_BATCH {
                                match self.rx.try_recv() {
                                    Ok(event) => self.pending.push_back(event),
                                    Err(_) => break,
                                }
                            }
                        }
                        None => open = false,
                    },
                    () = tokio::time::sleep(self.every) => {}
                }
            }
            if let Err(err) = self.flush().await {
                // The orchestrator stayed away past the window, or refused the
                // credential: nobody will take this session's work, so it stops now.
                self.cancel.cancel();
                return Err(err);
            }
            if !open && self.pending.is_empty() {
                return Ok(self.first_seq);
            }
        }
    }

    async fn flush(&mut self) -> Result<(), WorkerError> {
        let count = self.pending.len().min(MAX_BATCH);
        let batch = EventBatch {
            first_seq: self.first_seq,
            events: self.pending.iter().take(count).cloned().collect(),
        };
        let ack: Ack = self.link.post(protocol::EVENTS, &batch).await?;
        let acked = ack.next_seq.saturating_sub(self.first_seq);
        let acked = usize::try_from(acked)
            .unwrap_or(usize::MAX)
            .min(self.pending.len());
        self.pending.drain(..acked);
        self.first_seq += acked as u64;
        if ack.cancelled {
            self.cancel.cancel();
        }
        if acked == 0 && count > 0 {
            // Nothing taken (an orchestrator stopping, not following any more): wait a
            // beat rather than resend at once.
            tokio::time::sleep(self.every).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::loopback_port;

    #[test]
    fn only_an_orchestrator_on_this_machines_loopback_has_its_port_closed() {
        assert_eq!(loopback_port("http://127.0.0.1:3333"), Some(3333));
        assert_eq!(loopback_port("http://localhost"), Some(80));
        assert_eq!(loopback_port("http://[::1]:8080/"), Some(8080));
        assert_eq!(loopback_port("http://127.9.0.1:7"), Some(7));
        assert_eq!(loopback_port("http://orchestrator:3333"), None);
        assert_eq!(loopback_port("http://10.0.0.5:3333"), None);
        assert_eq!(loopback_port("not a url"), None);
    }
}
