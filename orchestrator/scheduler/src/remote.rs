//! A remote attempt: the same task lifecycle as a local one, with the agent and the
//! verification run by a `harness worker` that an executor backend starts.
//!
//! The orchestrator prepares the attempt's branch, grants the worker its credential and
//! assignment, launches it, stores the events it streams, watches its heartbeat and its
//! container, and when the worker reports a verified, pushed branch, fast-forwards the
//! base to it (only if the base has not moved: what lands is what the worker verified).
//! A worker that goes silent or ends without a result is treated like a crash: requeued
//! and counted against `HARNESS_MAX_CRASH_INTERRUPTIONS` (crashes.rs).
//!
//! Workers outlive the orchestrator: at shutdown a remote attempt is detached (its worker
//! carries on, its session stays running), and at startup adopt.rs re-adopts it and
//! follows it on from here ([`Attempt::run_adopted`]).

use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use harness_domain::{agent::AgentStatus, session::LogKind, time::Timestamp};
use tokio_util::sync::CancellationToken;

use super::{
    attempt::{Attempt, Ending},
    error::AttemptError,
    landing, remote_roles, review,
    sink::StoreSink,
};
use harness_config::executors::RemoteSettings;
use harness_engine::{
    git::{Author, BranchCleanup, GitError, Repo, Worktree, branch_name},
    landing::{BASE_MOVED, LandingError, LandingGit},
    prompt::TaskBrief,
    safe_git,
};
use harness_executor::{
    ExecutorBackend, ExecutorKind, Handle, LABEL_ATTEMPT, LABEL_OWNER, Launch, Status,
};
use harness_worker::{
    Grant, Grants,
    grants::{GrantReceiver, Uplinked},
    protocol::{Assignment, WorkerEvent, WorkerOutcome, WorkerResult},
};

/// Everything the scheduler needs to run attempts away from this machine.
pub struct Remote {
    pub grants: Grants,
    pub backends: BTreeMap<ExecutorKind, Arc<dyn ExecutorBackend>>,
    /// The orchestrator's base URL as each executor's workers reach it.
    pub urls: BTreeMap<ExecutorKind, String>,
    /// Names this orchestrator on what it creates (`parent-harness.owner`).
    pub owner: String,
}

impl Remote {
    /// The labels every backend puts on an attempt's resources.
    pub fn labels(&self, attempt: Option<i64>) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::from([(LABEL_OWNER.to_owned(), self.owner.clone())]);
        if let Some(id) = attempt {
            labels.insert(LABEL_ATTEMPT.to_owned(), id.to_string());
        }
        labels
    }

    /// Removes what a previous run of this orchestrator left behind, except the
    /// workers of the attempts in `keep` (re-adopted ones).
    pub async fn sweep(&self, keep: &std::collections::BTreeSet<i64>) {
        let labels = self.labels(None);
        for backend in self.backends.values() {
            match backend.sweep(&labels, keep).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(executor = %backend.kind(), removed = n, "swept leftover workers")
                }
                Err(err) => {
                    tracing::warn!(executor = %backend.kind(), %err, "cannot sweep leftover workers")
                }
            }
        }
    }
}

/// Slack on top of the session and verification timeouts before the orchestrator
/// gives up on a worker that still heart-beats.
const SLACK: Duration = Duration::from_secs(120);

/// A worker a previous run of the orchestrator launched, found again at startup: its
/// handle, and its grant (registered before the server serves).
pub struct Adopted {
    pub handle: Handle,
    pub receiver: GrantReceiver,
}

/// Runs the attempt through a worker. Returns how it ended.
pub(super) async fn run_remote(attempt: &Attempt, sink: &Arc<StoreSink>) -> Ending {
    let Some(remote) = attempt.engine().remote.clone() else {
        return Ending::after(AttemptError::NoExecutor(attempt.executor()), "");
    };
    let (Some(backend), Some(settings), Some(url)) = (
        remote.backends.get(&attempt.executor()).cloned(),
        attempt
            .engine()
            .settings
            .executors
            .remote(attempt.executor())
            .cloned(),
        remote.urls.get(&attempt.executor()).cloned(),
    ) else {
        return Ending::after(AttemptError::NoExecutor(attempt.executor()), "");
    };
    let (mut assignment, git_dir) = match prepare_remote(attempt, Some(sink), &settings).await {
        Ok(pair) => pair,
        Err(err) => return Ending::after(err, ""),
    };
    // The evaluator and the architect run here, before the worker (remote_roles.rs).
    if let Err(err) = remote_roles::before_remote(attempt, sink, &mut assignment).await {
        return Ending::after(err, "");
    }
    // Its own token, not a child of the attempt's: a stopping orchestrator cancels
    // the attempt but leaves the worker running (follow() decides).
    let subtasks = attempt.task_creator();
    let cancel = CancellationToken::new();
    let (grant, receiver) = Grant::new(assignment.clone(), git_dir, cancel, subtasks);
    remote.grants.insert(grant.clone());
    let ending = launch_and_follow(
        attempt,
        sink,
        &remote,
        backend.as_ref(),
        &settings,
        &url,
        &grant,
        receiver,
    )
    .await;
    forget_grant(&remote, attempt.session().id.get(), &ending);
    ending
}

/// Follows on the worker a previous run launched (adopt.rs), as if this run had.
pub(super) async fn run_adopted(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    adopted: Adopted,
) -> Ending {
    let Adopted { handle, receiver } = adopted;
    let found = attempt.engine().remote.clone().and_then(|remote| {
        let backend = remote.backends.get(&attempt.executor()).cloned()?;
        let settings = attempt
            .engine()
            .settings
            .executors
            .remote(attempt.executor())?
            .clone();
        let grant = remote.grants.get(attempt.session().id.get())?;
        Some((remote, backend, settings, grant))
    });
    let Some((remote, backend, settings, grant)) = found else {
        return Ending::after(AttemptError::NoExecutor(attempt.executor()), "");
    };
    sink.system(format!(
        "the orchestrator restarted; following worker {} on",
        handle.name
    ));
    let ran = (chrono::Utc::now() - attempt.session().started_at.datetime())
        .to_std()
        .unwrap_or_default();
    let deadline = remote_deadline(attempt, &grant.assignment).saturating_sub(ran);
    let ending = follow_and_conclude(
        attempt,
        sink,
        backend.as_ref(),
        &settings,
        &handle,
        &grant,
        receiver,
        deadline,
    )
    .await;
    forget_grant(&remote, attempt.session().id.get(), &ending);
    ending
}

/// The most a remote attempt may run: its session timeout (the size tier's), the
/// verification timeout and slack.
fn remote_deadline(attempt: &Attempt, assignment: &Assignment) -> Duration {
    let session = Duration::try_from_secs_f64(assignment.session_timeout_secs)
        .unwrap_or(attempt.engine().settings.session_timeout);
    session + attempt.engine().settings.verify_timeout + SLACK
}

/// The attempt's branch and what the worker is told. With a `sink` (a fresh
/// attempt) the branch is reset to the base first and that is logged and recorded,
/// unless a human answered the previous attempt's question: then the branch holds
/// the work that attempt pushed, and the assignment carries the answer (`resume`).
/// Without a sink (a re-adopted worker) the branch is left as the worker has it; the
/// answer, which stays on the board until the attempt settles, is still in `resume`.
pub(super) async fn prepare_remote(
    attempt: &Attempt,
    sink: Option<&Arc<StoreSink>>,
    settings: &RemoteSettings,
) -> Result<(Assignment, std::path::PathBuf), AttemptError> {
    let engine = &attempt.engine().settings;
    let (repo, base) = super::attempt::workspace_and_base(engine).await?;
    let branch = harness_engine::git::branch_name(&attempt.task().display_id)
        .map_err(AttemptError::PrepareWorktree)?;
    let root = repo.root().to_path_buf();
    let (b, base2) = (branch.clone(), base.clone());
    let resume = attempt.resume_with_answer().await?;
    let adopted = sink.is_none();
    let fresh = !adopted && resume.is_none();
    let resuming = !adopted && resume.is_some();
    let local = engine.worktrees_dir.join(&attempt.task().display_id);
    let (display_id, author) = (attempt.task().display_id.clone(), attempt.author());
    let (kept, git_dir) = tokio::task::spawn_blocking(move || {
        // A re-adopted worker's branch is left as it is.
        let kept = if !adopted {
            release_local_worktree(&repo, &local, &display_id, &base2, resuming, &author)
                .map_err(AttemptError::PrepareWorktree)?
        } else {
            None
        };
        let ok = |args: &[&str]| -> Result<String, AttemptError> {
            let out = safe_git::run(&root, args, &[]).map_err(AttemptError::RunGitForBranch)?;
            if out.status.success() {
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
            } else {
                Err(AttemptError::PrepareBranch(
                    String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                ))
            }
        };
        let from_base: [&str; 4] = ["branch", "-f", &b, &format!("refs/heads/{base2}")];
        if fresh {
            ok(&from_base)?;
        } else if resuming
            && ok(&["rev-parse", "--verify", "-q", &format!("refs/heads/{b}")]).is_err()
        {
            // The previous attempt's branch is gone: resume the conversation from
            // the base rather than fail the clone.
            ok(&from_base)?;
        }
        ok(&["rev-parse", "--absolute-git-dir"]).map(|dir| (kept, dir))
    })
    .await??;
    if let (Some(sink), Some(kept)) = (sink, kept) {
        sink.system(format!(
            "the previous local attempt's work was kept on branch {kept}"
        ));
    }
    if let Some(sink) = sink {
        sink.system(match &resume {
            None => format!(
                "branch {branch} from {base}; the attempt runs on the {} executor",
                attempt.executor()
            ),
            Some(r) => format!(
                "resuming on branch {branch} (the previous attempt's work) after the answer to: {}; the attempt runs on the {} executor",
                r.question, attempt.executor()
            ),
        });
        let recorded = attempt
            .engine()
            .board
            .record_branch(attempt.session().id, branch.clone())
            .await;
        if let Err(err) = recorded {
            tracing::warn!(%err, "cannot record the branch");
        }
    }
    let runtimes = &attempt.engine().runtimes;
    let assignment = Assignment {
        attempt: attempt.session().id.get(),
        branch,
        base,
        role_instructions: attempt.role().prompt.clone(),
        tools: attempt.role().tools.iter().copied().collect(),
        brief: TaskBrief::for_attempt(attempt.task()),
        runtime: runtimes.kind(attempt.agent()),
        // The size tier as estimated before; a fresh attempt's evaluator may
        // change it (remote_roles.rs).
        model: attempt.model_for(attempt.size()),
        cli_command: runtimes.command(attempt.agent()),
        anthropic_base_url: match runtimes.kind(attempt.agent()) {
            harness_domain::agent::RuntimeKind::OpenAi => engine.openai_base_url.clone(),
            _ => engine.anthropic_base_url.clone(),
        },
        verify: engine.verify.clone(),
        verify_timeout_secs: engine.verify_timeout.as_secs_f64(),
        session_timeout_secs: engine
            .roles
            .timeout_for(attempt.size(), engine.session_timeout)
            .as_secs_f64(),
        heartbeat_secs: settings.heartbeat_timeout.as_secs_f64(),
        reconnect_secs: Some(engine.reliability.worker_reconnect.as_secs_f64()),
        prices: Some(engine.prices.clone()),
        author_name: engine.git_author_name.clone(),
        author_email: engine.git_author_email.clone(),
        read_paths: if attempt.executor() == ExecutorKind::Process {
            engine.sandbox.read_paths.clone()
        } else {
            Vec::new()
        },
        planning: false,
        git_timeout_secs: Some(engine.reliability.git_timeout.as_secs_f64()),
        resume,
    };
    Ok((assignment, git_dir.into()))
}

#[allow(clippy::too_many_arguments)]
async fn launch_and_follow(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    remote: &Remote,
    backend: &dyn ExecutorBackend,
    settings: &RemoteSettings,
    url: &str,
    grant: &Arc<Grant>,
    receiver: GrantReceiver,
) -> Ending {
    let engine = &attempt.engine().settings;
    let deadline = remote_deadline(attempt, &grant.assignment);
    let expires = chrono::Utc::now().timestamp() + deadline.as_secs() as i64 + 60;
    let credential = remote
        .grants
        .key()
        .issue(attempt.session().id.get(), expires);
    let mut env = BTreeMap::from([
        (harness_worker::ENV_URL.to_owned(), url.to_owned()),
        (harness_worker::ENV_TOKEN.to_owned(), credential),
    ]);
    // The model key only for the runtime that calls the model itself, and only its own.
    let key = match grant.assignment.runtime {
        harness_domain::agent::RuntimeKind::Anthropic => engine
            .anthropic_api_key
            .as_ref()
            .map(|k| ("ANTHROPIC_API_KEY", k)),
        harness_domain::agent::RuntimeKind::OpenAi => engine
            .openai_api_key
            .as_ref()
            .map(|k| ("OPENAI_API_KEY", k)),
        harness_domain::agent::RuntimeKind::Cli | harness_domain::agent::RuntimeKind::Acp => None,
    };
    if let Some((name, key)) = key {
        env.insert(name.into(), key.expose().to_owned());
    }
    let launch = Launch {
        attempt: attempt.session().id.get(),
        image: attempt
            .engine()
            .runtimes
            .image(attempt.agent())
            .unwrap_or_else(|| "debian:bookworm-slim".into()),
        command: vec!["worker".into()],
        env,
        limits: settings.limits,
        network: settings.network.clone(),
        labels: remote.labels(Some(attempt.session().id.get())),
        deadline,
    };
    let handle = match backend.launch(&launch).await {
        Ok(handle) => handle,
        Err(err) => return Ending::after(AttemptError::Executor(err), ""),
    };
    sink.system(format!(
        "worker {} started on {}",
        handle.name,
        backend.kind()
    ));
    let recorded = attempt
        .engine()
        .board
        .record_executor(
            attempt.session().id,
            backend.kind().as_str(),
            Some(handle.name.clone()),
            handle.node.clone(),
        )
        .await;
    if let Err(err) = recorded {
        tracing::warn!(%err, "cannot record where the worker runs");
    }
    follow_and_conclude(
        attempt, sink, backend, settings, &handle, grant, receiver, deadline,
    )
    .await
}

/// Follows the worker to its end, removes it (unless the orchestrator is stopping:
/// then it carries on, detached), and settles its result.
#[allow(clippy::too_many_arguments)]
async fn follow_and_conclude(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    backend: &dyn ExecutorBackend,
    settings: &RemoteSettings,
    handle: &Handle,
    grant: &Arc<Grant>,
    receiver: GrantReceiver,
    deadline: Duration,
) -> Ending {
    // Spend limits hold for a remote session as for a local one (spend.rs): the
    // worker's usage events are stored through the sink, the guard reads them back
    // and cancels the attempt, and follow() cancels the worker.
    let spend = super::spend::watch(
        attempt.engine().clone(),
        sink.clone(),
        attempt.session().id,
        attempt.task().id,
        attempt.cancel().clone(),
    );
    let followed = follow(
        attempt, sink, backend, handle, settings, grant, receiver, deadline,
    )
    .await;
    let followed = match (followed, spend.finish()) {
        (Err(Ending::Cancelled), Some(stop)) => Err(Ending::after(stop.into_error(), "")),
        (followed, _) => followed,
    };
    if matches!(followed, Err(Ending::Detached)) {
        backend.detach(handle);
        sink.system(format!(
            "the orchestrator is stopping; worker {} carries on and is re-adopted at the next start",
            handle.name
        ));
        return Ending::Detached;
    }
    if let Err(err) = backend.remove(handle).await {
        tracing::warn!(%err, "cannot remove the worker");
    }
    match followed {
        Ok(result) => conclude(attempt, sink, &grant.assignment, result).await,
        Err(ending) => ending,
    }
}

/// The node the worker was scheduled on (Kubernetes learns it after the launch).
async fn record_node(attempt: &Attempt, backend: &dyn ExecutorBackend, node: Option<String>) {
    let recorded = attempt
        .engine()
        .board
        .record_executor(attempt.session().id, backend.kind().as_str(), None, node)
        .await;
    if let Err(err) = recorded {
        tracing::warn!(%err, "cannot record the worker's node");
    }
}

/// Stores the worker's events until its result, its death, a cancel or the deadline.
#[allow(clippy::too_many_arguments)]
async fn follow(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    backend: &dyn ExecutorBackend,
    handle: &Handle,
    settings: &RemoteSettings,
    grant: &Arc<Grant>,
    receiver: GrantReceiver,
    deadline: Duration,
) -> Result<WorkerResult, Ending> {
    let GrantReceiver {
        mut events,
        mut result,
    } = receiver;
    let check_every = (settings.heartbeat_timeout / 4).max(Duration::from_millis(50));
    let mut check = tokio::time::interval(check_every);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let give_up = tokio::time::sleep(deadline);
    tokio::pin!(give_up);
    grant.touch();
    let mut node = handle.node.clone();
    loop {
        tokio::select! {
            Some(event) = events.recv() => store(sink, event).await,
            got = &mut result => {
                while let Ok(event) = events.try_recv() {
                    store(sink, event).await;
                }
                return got.map_err(|_| lost("the worker's result was lost".into()));
            }
            _ = check.tick() => {
                let silent = grant.last_seen().elapsed();
                if silent > settings.heartbeat_timeout {
                    return Err(lost(format!(
                        "no heartbeat from {} for {:.1}s",
                        handle.name,
                        silent.as_secs_f64()
                    )));
                }
                match backend.status(handle).await {
                    Ok(Status::Pending) => {}
                    Ok(Status::Running { node: now }) => {
                        if now.is_some() && now != node {
                            node = now;
                            record_node(attempt, backend, node.clone()).await;
                        }
                    }
                    Ok(Status::Exited(code)) => {
                        // The result may be in flight: give it one heartbeat period.
                        let late = tokio::time::timeout(settings.heartbeat_timeout, &mut result).await;
                        if let Ok(Ok(got)) = late {
                            while let Ok(event) = events.try_recv() {
                                store(sink, event).await;
                            }
                            return Ok(got);
                        }
                        let tail = backend.logs_tail(handle, 2048).await;
                        if !tail.is_empty() {
                            sink.system(format!("the worker's last output:\n{tail}"));
                        }
                        return Err(lost(format!("{} exited with {code} without a result", handle.name)));
                    }
                    Ok(Status::Lost(reason)) => {
                        // Its result may have come in just before it went.
                        if let Ok(got) = result.try_recv() {
                            while let Ok(event) = events.try_recv() {
                                store(sink, event).await;
                            }
                            return Ok(got);
                        }
                        return Err(lost(reason));
                    }
                    Ok(Status::Failed { reason, uses_attempt }) => {
                        // Not started (no node, no image): requeued, not a crash.
                        return Err(if uses_attempt {
                            Ending::after(AttemptError::RunAgent(reason), "")
                        } else {
                            Ending::after(AttemptError::WorkerNotStarted(reason), "")
                        });
                    }
                    Err(err) => tracing::warn!(%err, "cannot read the worker's status"),
                }
            }
            () = attempt.cancel().cancelled() => {
                // Stopping: the worker carries on, and the next start re-adopts it.
                if attempt.engine().stop.is_cancelled() {
                    return Err(Ending::Detached);
                }
                grant.cancel.cancel();
                return Err(Ending::Cancelled);
            }
            () = &mut give_up => return Err(Ending::after(AttemptError::TimedOut, "")),
        }
    }
}

/// Turns the worker's result into the attempt's ending; lands a verified branch.
async fn conclude(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    assignment: &Assignment,
    result: WorkerResult,
) -> Ending {
    let last = result.last_message;
    match result.outcome {
        WorkerOutcome::Completed {
            head,
            verified,
            verify_summary,
            no_changes_needed,
            ..
        } => {
            if let Err(err) = attempt
                .engine()
                .board
                .enter_verifying(attempt.task().id)
                .await
            {
                return Ending::after(AttemptError::EnterVerifying(err), "");
            }
            if !verify_summary.is_empty()
                && let Err(err) = attempt
                    .engine()
                    .board
                    .record_verify_output(attempt.session().id, verify_summary.clone())
                    .await
            {
                tracing::warn!(%err, "cannot record the verification output");
            }
            if !verified {
                let err = AttemptError::VerificationFailed {
                    tail: verify_summary,
                };
                return Ending::after(err, &last);
            }
            // Validation reviews what would land, as for a local attempt.
            if let Some(ending) =
                remote_roles::validate_pushed(attempt, sink, assignment, &head, &last).await
            {
                return ending;
            }
            if review::land_policy(attempt).waits()
                && !review::is_base_head(attempt, &assignment.base, &head).await
            {
                sink.system(format!(
                    "verified; {head} on {} waits for a person's review",
                    assignment.branch
                ));
                return Ending::Review {
                    commit: head,
                    branch: assignment.branch.clone(),
                    conversation: None,
                };
            }
            let why = no_changes_needed.as_deref();
            land_pushed(attempt, sink, assignment, &head, why, &last).await
        }
        WorkerOutcome::Failed { reason } => Ending::after(AttemptError::RunAgent(reason), &last),
        WorkerOutcome::TimedOut => Ending::after(AttemptError::TimedOut, &last),
        WorkerOutcome::Interrupted { reason } => Ending::Requeued {
            reason,
            retry_at: None,
        },
        WorkerOutcome::WaitingForHuman {
            question,
            paused,
            head,
        } => {
            sink.system(format!(
                "the agent's work so far is pushed to {} at {head}; the task waits for an answer",
                assignment.branch
            ));
            attempt.wait_for_human(question, paused).await
        }
        WorkerOutcome::Unconfigured { reason } => {
            let marked = attempt
                .engine()
                .board
                .set_agent_status(
                    attempt.agent().id.clone(),
                    AgentStatus::Unconfigured,
                    Some(reason.clone()),
                )
                .await;
            if let Err(err) = marked {
                tracing::warn!(%err, "cannot mark the agent unconfigured");
            }
            Ending::Requeued {
                reason,
                retry_at: None,
            }
        }
    }
}

/// Fast-forwards the base to the pushed, verified `head` if the base has not moved
/// since the worker started from it; otherwise requeues, within a bound
/// ([`Attempt::base_moved`]).
async fn land_pushed(
    attempt: &Attempt,
    sink: &Arc<StoreSink>,
    a: &Assignment,
    head: &str,
    no_changes_needed: Option<&str>,
    last: &str,
) -> Ending {
    let Some(workspace) = attempt.engine().settings.workspace.clone() else {
        return Ending::after(AttemptError::NoWorkspace, "");
    };
    let git = LandingGit {
        timeout: attempt.engine().settings.reliability.git_timeout,
    };
    let (root, base, branch, head) = (workspace, a.base.clone(), a.branch.clone(), head.to_owned());
    let rules = attempt.engine().settings.reliability.land_content;
    let _one_landing_at_a_time = attempt.engine().merge_lock.lock().await;
    let landed = tokio::task::spawn_blocking(move || -> Result<Option<String>, LandingError> {
        let pushed = git.base_head(&root, &branch)?;
        if pushed != head {
            return Err(LandingError::Command {
                args: "rev-parse".into(),
                message: format!("{branch} is at {pushed}, not the reported {head}"),
            });
        }
        let base_commit = git.base_head(&root, &base)?;
        if base_commit == head {
            return Ok(None);
        }
        if !git.contains(&root, &base_commit, &head)? {
            return Err(LandingError::BaseMoved { base });
        }
        git.check_content(&root, &base_commit, &head, &rules)?;
        git.fast_forward(&root, &base, &base_commit, &head)?;
        Ok(Some(head))
    })
    .await;
    match landed {
        Ok(Ok(None)) => landing::no_changes(attempt, sink, no_changes_needed, last),
        Ok(Ok(Some(head))) => {
            sink.line(LogKind::Commit, head.clone());
            if let Err(err) = attempt
                .engine()
                .board
                .record_commit(attempt.session().id, head.clone())
                .await
            {
                tracing::warn!(%err, "cannot record the commit");
            }
            sink.system(format!(
                "{} fast-forwarded to the verified commit {head}",
                a.base
            ));
            Ending::Merged { commit: Some(head) }
        }
        Ok(Err(LandingError::BaseMoved { base })) => base_moved(attempt, sink, base, last).await,
        Ok(Err(err)) => Ending::after(AttemptError::Land(err), last),
        Err(err) => Ending::after(AttemptError::Worker(err), last),
    }
}

/// The base moved while the worker verified: requeued at once (the next attempt
/// starts from the new base, without using an attempt), up to `HARNESS_LAND_TRIES`
/// rounds in a row; then the attempt fails with `BaseKeptMoving`. The rounds are
/// counted from the task's sessions (`BASE_MOVED` on each), so a restart keeps them.
async fn base_moved(attempt: &Attempt, sink: &Arc<StoreSink>, base: String, last: &str) -> Ending {
    let tries = attempt.engine().settings.reliability.land_tries;
    let board = &attempt.engine().board;
    let before = match board
        .landings_in_a_row(attempt.task().id, BASE_MOVED, tries)
        .await
    {
        Ok(rounds) => rounds,
        Err(err) => {
            tracing::warn!(%err, "cannot count the landing rounds");
            0
        }
    };
    if let Err(err) = board.record_landing(attempt.session().id, BASE_MOVED).await {
        tracing::warn!(%err, "cannot record the moved base");
    }
    let round = before + 1;
    if round >= tries {
        sink.system(format!(
            "{base} moved while the worker verified (round {round} of {tries}); giving up"
        ));
        let err = AttemptError::BaseKeptMoving {
            base,
            rounds: tries,
        };
        return Ending::after(err, last);
    }
    let reason = format!(
        "{base} moved while the worker verified (round {round} of {tries}); the next attempt starts from it"
    );
    sink.system(&reason);
    Ending::Requeued {
        reason,
        retry_at: Some(Timestamp::now()),
    }
}

/// A local attempt's worktree left for this task has the branch a worker clones and
/// pushes checked out, and git does not move a branch checked out in a worktree.
/// Resuming after an answer, the work in it is committed on that branch and the
/// worktree removed, so the worker resumes from it; otherwise it is set aside as a
/// local retry would, its work kept on a renamed branch (returned).
fn release_local_worktree(
    repo: &Repo,
    path: &Path,
    display_id: &str,
    base: &str,
    resuming: bool,
    author: &Author,
) -> Result<Option<String>, GitError> {
    if !path.exists() {
        return Ok(None);
    }
    if !resuming {
        return repo.set_aside_worktree(path, display_id, author);
    }
    let worktree = Worktree {
        path: path.to_path_buf(),
        branch: branch_name(display_id)?,
        base: base.to_owned(),
        base_commit: String::new(),
    };
    let message = format!("{display_id}: work in progress, handed to a worker to resume");
    repo.commit_attempt(&worktree, &message, author)?;
    repo.remove_worktree(path, false, BranchCleanup::Keep)?;
    Ok(None)
}

/// The attempt is over: its credential stops working. Not when it detached because
/// the orchestrator is stopping: until the server is down, the worker's requests are
/// answered as retry-later (events not stored, a result refused with 503), never with
/// the 401 that would make the worker abandon the work the next run re-adopts.
fn forget_grant(remote: &Remote, attempt: i64, ending: &Ending) {
    if !matches!(ending, Ending::Detached) {
        remote.grants.remove(attempt);
    }
}

/// A lost worker: requeued and counted like a crash of a local attempt.
fn lost(reason: String) -> Ending {
    Ending::Crashed {
        reason: AttemptError::WorkerLost(reason).to_string(),
    }
}

/// How long an acknowledgement waits for the events before it to be stored.
const STORE_WAIT: Duration = Duration::from_secs(10);

async fn store(sink: &Arc<StoreSink>, item: Uplinked) {
    use harness_engine::session::SessionSink;
    match item {
        Uplinked::Event(WorkerEvent::Log { kind, text }) => sink.line(kind, text),
        Uplinked::Event(WorkerEvent::Usage { usage, cost_usd }) => sink.usage(&usage, cost_usd),
        Uplinked::Stored { next_seq, done } => {
            sink.mark_worker_seq(next_seq);
            if !sink.stored(STORE_WAIT).await {
                tracing::warn!("the worker's events are not stored yet; acknowledged anyway");
            }
            // The acknowledgement's waiter (Grant::accept) is gone only when the
            // worker's request was dropped; the events are stored either way.
            let _ = done.send(());
        }
    }
}
