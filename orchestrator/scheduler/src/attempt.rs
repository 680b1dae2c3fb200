//! One attempt at a task: worktree, agent session, commit, verification, merge, and
//! the one decision about what happens next.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use harness_domain::{
    agent::{Agent, AgentStatus},
    role::{Role, Size},
    session::{LogKind, Session},
    task::Task,
    time::Timestamp,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{
    Engine, design,
    error::AttemptError,
    evaluate, landing,
    log_cap::LogCap,
    remote, review,
    roles::session_tools,
    runtimes::workspace_repo,
    settle,
    sink::StoreSink,
    subtasks::BoardTaskCreator,
    supervise::{Supervised, Supervisor},
};
use harness_engine::{
    anthropic::PausedConversation,
    git::{Author, GitError, Reclaimed, Repo, Worktree},
    prompt::TaskBrief,
    runtime::{AgentRuntime, Resume, SessionOutcome, SessionRequest},
    verify::{VerifyConfig, verify},
};

/// Why a session that asked a human ended; such a session is not a lost attempt.
pub(super) const WAITING_FOR_ANSWER: &str = "waiting for a human answer";

/// Bytes of a failure summary kept for the next prompt and the dashboard.
const SUMMARY_BYTES: usize = 8 * 1024;
const DIFF_BYTES: usize = 64 * 1024;

/// What one attempt works with, fixed for its life. The attempt is a sequence of
/// steps over it: prepare the worktree and run the agent (here), estimate
/// (evaluate.rs), design (design.rs), verify and land (landing.rs) or wait for a
/// person (review.rs), validate (validate.rs), run on a worker (remote.rs,
/// remote_roles.rs), and settle the task (settle.rs). Each step reads it; none
/// changes it.
/// Its parts are private: the steps read them through the accessors below.
pub(super) struct Attempt(Claimed);

/// A claimed task with what runs it: the parts of an [`Attempt`].
pub(super) struct Claimed {
    pub engine: Arc<Engine>,
    pub task: Task,
    pub session: Session,
    pub agent: Agent,
    /// The agent's role: its prompt and tools.
    pub role: Role,
    /// The evaluator's estimate, when there is one: sets the timeout.
    pub size: Option<Size>,
    pub runtime: Arc<dyn AgentRuntime>,
    pub cancel: CancellationToken,
    /// Where it runs: `local` in this process, anything else through a worker.
    pub executor: harness_executor::ExecutorKind,
}

impl Attempt {
    pub(super) fn new(claimed: Claimed) -> Self {
        Self(claimed)
    }

    pub(super) fn engine(&self) -> &Arc<Engine> {
        &self.0.engine
    }

    pub(super) fn task(&self) -> &Task {
        &self.0.task
    }

    pub(super) fn session(&self) -> &Session {
        &self.0.session
    }

    pub(super) fn agent(&self) -> &Agent {
        &self.0.agent
    }

    pub(super) fn role(&self) -> &Role {
        &self.0.role
    }

    /// The evaluator's estimate the attempt started with, when there was one.
    pub(super) fn size(&self) -> Option<Size> {
        self.0.size
    }

    pub(super) fn cancel(&self) -> &CancellationToken {
        &self.0.cancel
    }

    /// Where it runs: `local` in this process, anything else through a worker.
    pub(super) fn executor(&self) -> harness_executor::ExecutorKind {
        self.0.executor
    }
}

/// What the attempt works in once prepared.
struct Prepared {
    repo: Repo,
    worktree: Worktree,
    resume: Option<Resume>,
}

/// What the agent said when it finished (`complete_task`), for verifying and landing.
#[derive(Clone, Copy)]
pub(super) struct Finished<'a> {
    pub summary: &'a str,
    /// Why nothing needed to change, when the agent said so.
    pub no_changes_needed: Option<&'a str>,
    pub last_message: &'a str,
    /// A person approved exactly this work in review: it lands without waiting again.
    pub approved: bool,
    /// The agent's conversation, kept while the work waits for review (anthropic).
    pub conversation: Option<&'a PausedConversation>,
}

/// How the attempt ended, before the task is settled.
pub(super) enum Ending {
    /// Verified; `commit` is the merge commit (none when there was nothing to merge).
    Merged {
        commit: Option<String>,
    },
    /// Verified; `commit` on `branch` waits for a person's review, with the agent's
    /// conversation (serialized) for a change request.
    Review {
        commit: String,
        branch: String,
        conversation: Option<String>,
    },
    /// The task's work failed: uses an attempt.
    Failed {
        error: AttemptError,
        last_message: String,
    },
    Requeued {
        reason: String,
        retry_at: Option<Timestamp>,
    },
    /// Requeued and counted as a crash (a lost worker), like a local attempt the
    /// orchestrator's crash interrupted; blocked at `HARNESS_MAX_CRASH_INTERRUPTIONS`.
    Crashed {
        reason: String,
    },
    Cancelled,
    /// The orchestrator is stopping and the remote worker carries on: nothing is
    /// settled, the session stays running, and the next start re-adopts it.
    Detached,
}

impl Ending {
    /// A step failed: the task's work (uses an attempt) or the harness (requeued).
    pub(super) fn after(error: AttemptError, last_message: &str) -> Self {
        if error.uses_attempt() {
            Self::Failed {
                error,
                last_message: last_message.to_owned(),
            }
        } else {
            Self::Requeued {
                reason: error.to_string(),
                retry_at: None,
            }
        }
    }
}

impl Attempt {
    /// Runs the attempt to its end. Never returns an error: every failure settles the task.
    /// `adopted`: the worker a previous run launched, when this attempt is re-adopted
    /// (adopt.rs).
    pub(super) async fn run(self, adopted: Option<super::remote::Adopted>) {
        let cap = LogCap::new(&self.0.engine.settings.reliability);
        let (sink, writer) = StoreSink::start(self.0.engine.board.clone(), self.0.session.id, cap);
        // The session timeout covers preparing the worktree too.
        let started = Instant::now();
        if adopted.is_none() {
            let recorded = self
                .0
                .engine
                .board
                .record_executor(self.0.session.id, self.0.executor.as_str(), None, None)
                .await;
            if let Err(err) = recorded {
                tracing::warn!(%err, "cannot record where the session runs");
            }
        }
        let approved = match adopted {
            Some(_) => None,
            None => self.approved_commit().await,
        };
        let ending = match adopted {
            Some(adopted) => remote::run_adopted(&self, &sink, adopted).await,
            // What a person approved lands here, whichever executor produced it.
            None if let Some(commit) = approved => {
                review::land_approved(&self, &sink, commit).await
            }
            None if self.0.executor != harness_executor::ExecutorKind::Local => {
                remote::run_remote(&self, &sink).await
            }
            None => self.run_local(&sink, started).await,
        };
        sink.finish(writer).await;
        settle::settle(&self, ending).await;
    }

    async fn run_local(&self, sink: &Arc<StoreSink>, started: Instant) -> Ending {
        match self.prepare(sink).await {
            Ok(prepared) => self.work(sink, prepared, started).await,
            Err(err) => {
                tracing::warn!(%err, "cannot prepare the attempt");
                Ending::after(err, "")
            }
        }
    }

    /// A fresh worktree on `harness/<display_id>`, or the kept one when resuming after
    /// a human's answer (the agent's work so far is in it).
    async fn prepare(&self, sink: &StoreSink) -> Result<Prepared, AttemptError> {
        let settings = &self.0.engine.settings;
        let (repo, base) = workspace_and_base(settings).await?;
        let path = settings.worktrees_dir.join(&self.0.task.display_id);
        let resume = self.resume_with_answer().await?;
        let (display_id, resuming, author) = (
            self.0.task.display_id.clone(),
            resume.is_some(),
            self.author(),
        );
        let git = repo.clone();
        let (reclaimed, opened) = tokio::task::spawn_blocking(move || {
            let reclaimed = if resuming {
                Ok(Vec::new())
            } else {
                git.reclaim_leftovers(&display_id, &path, &author)
            };
            let opened = open_worktree(&git, &display_id, &base, &path, resuming, &author);
            (reclaimed, opened)
        })
        .await?;
        match reclaimed {
            Ok(done) => {
                for step in done {
                    sink.system(reclaimed_text(&step));
                }
            }
            Err(err) => sink.system(format!("cannot reclaim the harness's leftovers: {err}")),
        }
        let (worktree, kept) = opened.map_err(AttemptError::PrepareWorktree)?;
        if let Some(branch) = kept {
            sink.system(format!(
                "the previous attempt's work was kept on branch {branch}"
            ));
        }
        sink.system(format!(
            "worktree {} on branch {} from {}",
            worktree.path.display(),
            worktree.branch,
            worktree.base
        ));
        let recorded = self
            .0
            .engine
            .board
            .record_worktree(
                self.0.session.id,
                worktree.path.display().to_string(),
                worktree.branch.clone(),
            )
            .await;
        if let Err(err) = recorded {
            tracing::warn!(%err, "cannot record the worktree");
        }
        Ok(Prepared {
            repo,
            worktree,
            resume,
        })
    }

    /// The human's answer waiting for this task, or a person's follow-up (a change
    /// request after review, a message), if any: the attempt resumes the agent's
    /// conversation with it. It stays on the board until this attempt is merged, fails
    /// or enters review, so an attempt lost on the way does not lose it.
    pub(super) async fn resume_with_answer(&self) -> Result<Option<Resume>, AttemptError> {
        let board = &self.0.engine.board;
        let id = self.0.task.id;
        let taken = board
            .waiting_answer(id)
            .await
            .map_err(AttemptError::ReadAnswer)?;
        if let Some(a) = taken {
            return Ok(Some(Resume {
                paused: a
                    .paused
                    .and_then(|p| serde_json::from_str::<PausedConversation>(&p).ok()),
                question: a.question,
                answer: a.answer,
            }));
        }
        let follow_up = board
            .waiting_follow_up(id)
            .await
            .map_err(AttemptError::ReadAnswer)?;
        Ok(follow_up.message.map(|message| Resume {
            paused: follow_up
                .paused
                .and_then(|p| serde_json::from_str::<PausedConversation>(&p).ok()),
            question: String::new(),
            answer: message,
        }))
    }

    /// The commit a person approved in review, when this attempt is to land it.
    async fn approved_commit(&self) -> Option<String> {
        match self.0.engine.board.waiting_follow_up(self.0.task.id).await {
            Ok(follow_up) => follow_up.approved_commit,
            Err(err) => {
                tracing::warn!(%err, "cannot read whether the task was approved");
                None
            }
        }
    }

    async fn work(&self, sink: &Arc<StoreSink>, prepared: Prepared, started: Instant) -> Ending {
        let Prepared {
            repo,
            worktree,
            resume,
        } = prepared;
        let prepared_in = started.elapsed();
        // The evaluator and the architect run before the build session, outside its
        // timeout (evaluate.rs, design.rs).
        let size = evaluate::estimate_size(self, sink, &worktree).await;
        let design = design::design_note(self, sink, &worktree, size).await;
        let runtime = match self.runtime_for(size).await {
            Ok(runtime) => runtime,
            Err(err) => {
                return Ending::Requeued {
                    reason: err.to_string(),
                    retry_at: None,
                };
            }
        };
        let own = self.0.engine.runtimes.kind(&self.0.agent).as_str();
        if runtime.kind() != own {
            sink.system(format!(
                "the agent's runtime {own} cannot run now or its API is rate limited: this attempt runs on {}, its role's fallback",
                runtime.kind()
            ));
        }
        let timeout = self.session_timeout(sink, size);
        let left = timeout.saturating_sub(prepared_in);
        if left.is_zero() {
            sink.system("the session timeout was used up preparing the worktree");
            return Ending::after(AttemptError::TimedOut, "");
        }
        // Spend limits are enforced while the session runs (spend.rs, supervise.rs).
        let Supervised {
            report,
            stuck,
            spend_stop,
        } = self
            .run_agent(sink, &worktree, resume, left, &runtime, design)
            .await;
        let last = &report.last_message;
        if let (SessionOutcome::Cancelled, Some(stop)) = (&report.outcome, spend_stop) {
            return Ending::after(stop.into_error(), last);
        }
        match report.outcome {
            SessionOutcome::Completed {
                summary,
                no_changes_needed,
                conversation,
            } => {
                let done = Finished {
                    summary: &summary,
                    no_changes_needed: no_changes_needed.as_deref(),
                    last_message: last,
                    approved: false,
                    conversation: conversation.as_deref(),
                };
                self.verify_and_merge(sink, &repo, &worktree, done).await
            }
            SessionOutcome::Failed { reason } => {
                Ending::after(AttemptError::RunAgent(reason), last)
            }
            SessionOutcome::TimedOut => Ending::after(AttemptError::TimedOut, last),
            SessionOutcome::WaitingForHuman { question, paused } => {
                self.commit_work_so_far(sink, &repo, &worktree).await;
                self.wait_for_human(question, paused).await
            }
            SessionOutcome::Interrupted { reason, retry_at } => Ending::Requeued {
                reason,
                retry_at: retry_at.map(Timestamp::from_datetime),
            },
            SessionOutcome::Unconfigured { reason } => {
                let id = self.0.agent.id.clone();
                let why = reason.clone();
                let marked = self
                    .0
                    .engine
                    .board
                    .set_agent_status(id, AgentStatus::Unconfigured, Some(why))
                    .await;
                if let Err(err) = marked {
                    tracing::warn!(%err, "cannot mark the agent unconfigured");
                }
                Ending::Requeued {
                    reason,
                    retry_at: None,
                }
            }
            SessionOutcome::Cancelled if stuck => Ending::after(AttemptError::Stuck, last),
            SessionOutcome::Cancelled if self.0.engine.stop.is_cancelled() => Ending::Requeued {
                reason: "the orchestrator is shutting down".into(),
                retry_at: None,
            },
            SessionOutcome::Cancelled => Ending::Cancelled,
        }
    }
}

impl Attempt {
    /// Runs the agent under supervision (supervise.rs) with the session timeout; a
    /// command running in the worktree counts as a sign of life (liveness.rs).
    async fn run_agent(
        &self,
        sink: &Arc<StoreSink>,
        worktree: &Worktree,
        resume: Option<Resume>,
        timeout: Duration,
        runtime: &Arc<dyn AgentRuntime>,
        design: Option<String>,
    ) -> Supervised {
        let settings = &self.0.engine.settings;
        let mut brief = TaskBrief::for_attempt(&self.0.task);
        if let Some(note) = design {
            brief.description.push_str(&note);
        }
        let resume = resume.and_then(|r| r.into_request(&mut brief));
        let request = SessionRequest {
            worktree: worktree.path.clone(),
            role_instructions: self.0.role.prompt.clone(),
            brief,
            resume,
            timeout,
            cancel: self.0.cancel.clone(),
            task_creator: self.task_creator(),
            tools: session_tools(&self.0.role),
            browser: super::findings::browser_grant(
                &self.0.engine.settings,
                &self.0.engine.board,
                &self.0.agent,
                &self.0.task,
                self.0.session.id,
            ),
        };
        // A command running in the worktree is a sign of life too (liveness.rs).
        let commands = tokio::spawn(
            super::liveness::while_commands_run(
                worktree.path.clone(),
                runtime.kind() == "cli",
                sink.last_activity(),
                (settings.stuck_after / 4).clamp(Duration::from_millis(50), Duration::from_secs(5)),
            )
            .in_current_span(),
        );
        Supervisor {
            engine: &self.0.engine,
            sink,
            session: self.0.session.id,
            task: self.0.task.id,
            cancel: &self.0.cancel,
        }
        .run(runtime.as_ref(), request, vec![commands])
        .await
    }

    async fn verify_and_merge(
        &self,
        sink: &Arc<StoreSink>,
        repo: &Repo,
        worktree: &Worktree,
        done: Finished<'_>,
    ) -> Ending {
        sink.system(format!("agent reports the task complete: {}", done.summary));
        if let Err(err) = self.commit(sink, repo, worktree, done.summary).await {
            return Ending::after(err, done.last_message);
        }
        if let Err(err) = self.0.engine.board.enter_verifying(self.0.task.id).await {
            return Ending::after(AttemptError::EnterVerifying(err), "");
        }
        // What lands is exactly what was verified: see landing.rs.
        landing::land(self, sink, repo, worktree, done).await
    }

    async fn commit(
        &self,
        sink: &Arc<StoreSink>,
        repo: &Repo,
        worktree: &Worktree,
        summary: &str,
    ) -> Result<Option<String>, AttemptError> {
        let author = self.author();
        let message = format!(
            "{}: {}\n\n{summary}",
            self.0.task.display_id, self.0.task.title
        );
        let (repo2, worktree2) = (repo.clone(), worktree.clone());
        let commit = tokio::task::spawn_blocking(move || {
            repo2.commit_attempt(&worktree2, &message, &author)
        })
        .await?
        .map_err(AttemptError::Commit)?;
        if let Some(sha) = &commit {
            sink.line(LogKind::Commit, sha.clone());
            if let Err(err) = self
                .0
                .engine
                .board
                .record_commit(self.0.session.id, sha.clone())
                .await
            {
                tracing::warn!(%err, "cannot record the commit");
            }
            let (repo3, base, branch) =
                (repo.clone(), worktree.base.clone(), worktree.branch.clone());
            if let Ok(Ok(diff)) =
                tokio::task::spawn_blocking(move || repo3.diff(&base, &branch, DIFF_BYTES)).await
            {
                sink.line(LogKind::Diff, diff);
            }
        }
        Ok(commit)
    }

    /// The runtime on the size tier's model, when the estimate picked one that
    /// differs from what the attempt was started with.
    async fn runtime_for(
        &self,
        size: Option<Size>,
    ) -> Result<Arc<dyn AgentRuntime>, super::error::Unready> {
        match self.0.engine.settings.roles.model_for(size) {
            Some(model) if size != self.0.size => {
                self.0
                    .engine
                    .runtimes
                    .for_agent_with_model(&self.0.agent, Some(model.as_str()))
                    .await
            }
            _ => Ok(self.0.runtime.clone()),
        }
    }

    /// The build session's timeout for a task of `size` (its `[sizes]` tier), said in
    /// the log when a size sets it. Local and remote attempts alike.
    pub(super) fn session_timeout(&self, sink: &StoreSink, size: Option<Size>) -> Duration {
        let settings = &self.0.engine.settings;
        let timeout = settings.roles.timeout_for(size, settings.session_timeout);
        if let Some(size) = size {
            sink.system(format!(
                "a {size} task: the session may run {}s",
                timeout.as_secs()
            ));
        }
        timeout
    }

    /// The model the build session runs on for a task of `size`: its `[sizes]` tier's,
    /// else the agent's.
    pub(super) fn model_for(&self, size: Option<Size>) -> String {
        self.0
            .engine
            .settings
            .roles
            .model_for(size)
            .map_or_else(|| self.0.agent.model.clone(), |m| m.as_str().to_owned())
    }

    /// Where the agent's `create_task` calls go, when its role has the tool: the board,
    /// with the subtasks' category ([`super::subtasks::subtask_category`]). Local and
    /// remote alike (the worker API takes it from the attempt's grant).
    pub(super) fn task_creator(&self) -> Option<Arc<dyn harness_engine::runtime::TaskCreator>> {
        if !self
            .0
            .role
            .tools
            .contains(&harness_domain::role::Tool::CreateTask)
        {
            return None;
        }
        let registry = &self.0.engine.settings.roles.registry;
        let category = super::subtasks::subtask_category(registry, &self.0.task.category);
        Some(Arc::new(BoardTaskCreator::new(
            self.0.engine.board.clone(),
            category,
        )))
    }

    pub(super) fn author(&self) -> Author {
        Author {
            name: self.0.engine.settings.git_author_name.clone(),
            email: self.0.engine.settings.git_author_email.clone(),
        }
    }

    /// Runs the workspace's checks; their real exit codes decide.
    pub(super) async fn verify(
        &self,
        sink: &Arc<StoreSink>,
        worktree: &Worktree,
    ) -> Result<(), AttemptError> {
        let settings = &self.0.engine.settings;
        if settings.verify.is_empty() {
            sink.system("no verification commands are configured (HARNESS_VERIFY); accepting the agent's word");
            return Ok(());
        }
        let config = VerifyConfig {
            commands: settings.verify.clone(),
            timeout: settings.verify_timeout,
            sandbox: settings.agent_sandbox(),
            ..VerifyConfig::default()
        };
        let line_sink = sink.clone();
        let report = verify(
            &worktree.path,
            &config,
            &self.0.cancel,
            move |command, line| {
                line_sink.line(LogKind::Output, format!("[{command}] {}", line.text));
            },
        )
        .await
        .map_err(AttemptError::RunVerify)?;
        let summary = report.summary(SUMMARY_BYTES);
        if let Err(err) = self
            .0
            .engine
            .board
            .record_verify_output(self.0.session.id, summary.clone())
            .await
        {
            tracing::warn!(%err, "cannot record the verification output");
        }
        if report.passed() {
            sink.system("verification passed");
            Ok(())
        } else {
            sink.system("verification failed");
            Err(AttemptError::VerificationFailed { tail: summary })
        }
    }

    /// The agent asked a human: its work so far is committed on the attempt's branch, so
    /// the attempt that resumes finds it whether it runs here or on a worker. The
    /// worktree stays for a local resume; if the commit fails, it still holds the work.
    async fn commit_work_so_far(&self, sink: &Arc<StoreSink>, repo: &Repo, worktree: &Worktree) {
        let message = format!(
            "{}: work in progress, waiting for a human's answer",
            self.0.task.display_id
        );
        let (repo, worktree, author) = (repo.clone(), worktree.clone(), self.author());
        let committed =
            tokio::task::spawn_blocking(move || repo.commit_attempt(&worktree, &message, &author))
                .await;
        match committed {
            Ok(Ok(Some(sha))) => sink.system(format!(
                "the work so far is committed on the attempt's branch as {sha}"
            )),
            Ok(Ok(None)) => {}
            Ok(Err(err)) => sink.system(format!("cannot commit the work so far: {err}")),
            Err(err) => sink.system(format!("cannot commit the work so far: {err}")),
        }
    }

    /// Stores the agent's question (and its paused conversation) on the task, which
    /// waits for the answer; the next attempt resumes with it. Local and remote alike.
    pub(super) async fn wait_for_human(
        &self,
        question: String,
        paused: Option<PausedConversation>,
    ) -> Ending {
        let paused = paused.and_then(|p| serde_json::to_string(&p).ok());
        let asked = self
            .0
            .engine
            .board
            .ask_question(self.0.task.id, self.0.session.id, question, paused)
            .await;
        match asked {
            Ok(_) => Ending::Requeued {
                reason: WAITING_FOR_ANSWER.into(),
                retry_at: None,
            },
            Err(err) => Ending::after(AttemptError::StoreQuestion(err), ""),
        }
    }
}

/// The workspace repository and the base branch an attempt starts from:
/// `HARNESS_BASE_BRANCH`, else the branch checked out in the workspace now (read per
/// attempt: someone may check out another one meanwhile). Local and remote alike. Runs
/// git on the blocking pool.
pub(super) async fn workspace_and_base(
    settings: &harness_config::EngineSettings,
) -> Result<(Repo, String), AttemptError> {
    let workspace = settings
        .workspace
        .clone()
        .ok_or(AttemptError::NoWorkspace)?;
    let configured = settings.base_branch.clone();
    tokio::task::spawn_blocking(move || {
        let repo = workspace_repo(&workspace)?;
        let base = base_branch(configured.as_deref(), &repo).map_err(AttemptError::BaseBranch)?;
        Ok((repo, base))
    })
    .await?
}

/// The base branch: the configured one (`HARNESS_BASE_BRANCH`), else the branch
/// checked out in the workspace now. Runs git: blocking. Every step that starts from
/// the base (an attempt, an investigation, SIA's checkout) resolves it here.
pub(super) fn base_branch(configured: Option<&str>, repo: &Repo) -> Result<String, GitError> {
    match configured {
        Some(branch) => Ok(branch.to_owned()),
        None => repo.current_branch(),
    }
}

/// Creates the attempt's worktree. An earlier attempt's worktree (kept for inspection
/// until this retry) is set aside first: anything uncommitted in it is committed to a
/// renamed branch, never deleted. When resuming after an answer, the worktree with the
/// agent's work so far is used as it is, or re-created on the attempt's branch when it
/// is gone (the question came from a worker, or the worktree was removed meanwhile).
pub(super) fn open_worktree(
    repo: &Repo,
    display_id: &str,
    base: &str,
    path: &Path,
    resuming: bool,
    author: &Author,
) -> Result<(Worktree, Option<String>), GitError> {
    if path.exists() {
        if resuming {
            let branch = harness_engine::git::branch_name(display_id)?;
            let worktree = Worktree {
                path: path.to_path_buf(),
                branch,
                base: base.to_owned(),
                base_commit: String::new(),
            };
            return Ok((worktree, None));
        }
        let kept = repo.set_aside_worktree(path, display_id, author)?;
        let worktree = repo.create_worktree(display_id, base, path)?;
        return Ok((worktree, kept));
    }
    let worktree = if resuming {
        repo.reopen_worktree(display_id, base, path)?
    } else {
        repo.create_worktree(display_id, base, path)?
    };
    Ok((worktree, None))
}

/// The attempt log's line for one leftover the harness cleared before its worktree.
fn reclaimed_text(step: &Reclaimed) -> String {
    match step {
        Reclaimed::Pruned => "pruned git's records of worktrees whose directories are gone".into(),
        Reclaimed::SetAside { path, kept } => match kept {
            Some(branch) => format!(
                "set aside a leftover worktree at {} that held this task's branch; its work is kept on {branch}",
                path.display()
            ),
            None => format!(
                "removed a leftover worktree at {} that held this task's branch (no work in it)",
                path.display()
            ),
        },
        Reclaimed::MovedAway { from, to } => format!(
            "{} was not a worktree of this repository; moved to {} untouched",
            from.display(),
            to.display()
        ),
    }
}
