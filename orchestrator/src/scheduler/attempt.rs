//! One attempt at a task: worktree, agent session, commit, verification, merge, and
//! the one decision about what happens next.

use std::{
    path::Path,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use harness_domain::{
    agent::{Agent, AgentRole, AgentStatus},
    event::{NewEvent, Severity},
    session::{LogKind, Session, SessionStatus},
    task::{Task, TaskStatus, retry_delay},
    time::Timestamp,
};
use tokio_util::sync::CancellationToken;

use super::{
    Engine, investigate,
    log_cap::LogCap,
    roles::instructions,
    runtimes::workspace_repo,
    sink::{StoreSink, now_millis},
    subtasks::BoardTaskCreator,
};
use crate::{
    engine::{
        anthropic::PausedConversation,
        git::{Author, Repo, Worktree},
        prompt::TaskBrief,
        runtime::{AgentRuntime, SessionOutcome, SessionReport, SessionRequest},
        verify::{VerifyConfig, verify},
    },
    store::Failure,
};

const ACTOR: &str = "scheduler";
/// Bytes of a failure summary kept for the next prompt and the dashboard.
const SUMMARY_BYTES: usize = 8 * 1024;
const DIFF_BYTES: usize = 64 * 1024;

/// Everything one attempt works with.
pub struct Attempt {
    pub engine: Arc<Engine>,
    pub task: Task,
    pub session: Session,
    pub agent: Agent,
    pub runtime: Arc<dyn AgentRuntime>,
    pub cancel: CancellationToken,
}

/// How the attempt ended, before the task is settled.
pub(super) enum Ending {
    Merged,
    Failed {
        reason: String,
        summary: String,
    },
    Requeued {
        reason: String,
        retry_at: Option<Timestamp>,
    },
    Cancelled,
}

impl Attempt {
    /// Runs the attempt to its end. Never returns an error: every failure settles the task.
    pub async fn run(self) {
        let cap = LogCap::new(&self.engine.settings.reliability);
        let (sink, writer) = StoreSink::start(self.engine.board.clone(), self.session.id, cap);
        let ending = match self.prepare(&sink).await {
            Ok((repo, worktree, resume)) => self.work(&sink, &repo, &worktree, resume).await,
            Err(reason) => Ending::Requeued {
                reason,
                retry_at: None,
            },
        };
        sink.finish(writer).await;
        self.settle(ending).await;
    }

    /// A fresh worktree on `harness/<display_id>`, or the kept one when resuming after
    /// a human's answer (the agent's work so far is in it).
    async fn prepare(
        &self,
        sink: &StoreSink,
    ) -> Result<
        (
            Repo,
            Worktree,
            Option<(Option<PausedConversation>, String, String)>,
        ),
        String,
    > {
        let settings = &self.engine.settings;
        let workspace = settings
            .workspace
            .clone()
            .ok_or("HARNESS_WORKSPACE is not set")?;
        let repo = workspace_repo(&workspace)?;
        let base = match &settings.base_branch {
            Some(b) => b.clone(),
            None => repo.current_branch().map_err(|e| e.to_string())?,
        };
        let path = settings.worktrees_dir.join(&self.task.display_id);
        let id = self.task.id;
        let answer = self
            .engine
            .board
            .blocking(move |s| s.take_answer(id))
            .await
            .map_err(|e| e.to_string())?;
        let resume = answer.map(|(question, answer, paused)| {
            let paused = paused.and_then(|p| serde_json::from_str::<PausedConversation>(&p).ok());
            (paused, question, answer)
        });
        let (display_id, resuming, author) = (
            self.task.display_id.clone(),
            resume.is_some(),
            self.author(),
        );
        let git = repo.clone();
        let (worktree, kept) =
            blocking(move || open_worktree(&git, &display_id, &base, &path, resuming, &author))
                .await?;
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
        let (sid, path, branch) = (
            self.session.id,
            worktree.path.display().to_string(),
            worktree.branch.clone(),
        );
        if let Ok(session) = self
            .engine
            .board
            .blocking(move |s| s.set_session_git(sid, Some(&path), Some(&branch), None))
            .await
        {
            self.engine.board.announce_session(&session);
        }
        Ok((repo, worktree, resume))
    }

    async fn work(
        &self,
        sink: &Arc<StoreSink>,
        repo: &Repo,
        worktree: &Worktree,
        resume: Option<(Option<PausedConversation>, String, String)>,
    ) -> Ending {
        // Spend limits are enforced while the session runs (spend.rs).
        let spend = super::spend::watch(
            self.engine.clone(),
            sink.clone(),
            self.session.id,
            self.task.id.get(),
            self.cancel.clone(),
        );
        let (report, stuck) = self.run_agent(sink, worktree, resume).await;
        if let (SessionOutcome::Cancelled, Some(stop)) = (&report.outcome, spend.finish()) {
            return super::spend::ending(stop, &report.last_message);
        }
        match report.outcome {
            SessionOutcome::Completed { summary } => {
                self.verify_and_merge(sink, repo, worktree, &summary, &report.last_message)
                    .await
            }
            SessionOutcome::Failed { reason } => failed(reason, &report.last_message),
            SessionOutcome::TimedOut => {
                failed("the session timed out".into(), &report.last_message)
            }
            SessionOutcome::WaitingForHuman { question, paused } => {
                self.wait_for_human(question, paused).await
            }
            SessionOutcome::Interrupted { reason, retry_at } => Ending::Requeued {
                reason,
                retry_at: retry_at.map(Timestamp::from_datetime),
            },
            SessionOutcome::Unconfigured { reason } => {
                let id = self.agent.id.clone();
                let why = reason.clone();
                let _ = self
                    .engine
                    .board
                    .set_agent_status(id, AgentStatus::Unconfigured, Some(why))
                    .await;
                Ending::Requeued {
                    reason,
                    retry_at: None,
                }
            }
            SessionOutcome::Cancelled if stuck => failed(
                "the session was stuck: no output for too long".into(),
                &report.last_message,
            ),
            SessionOutcome::Cancelled if self.engine.stop.is_cancelled() => Ending::Requeued {
                reason: "the orchestrator is shutting down".into(),
                retry_at: None,
            },
            SessionOutcome::Cancelled => Ending::Cancelled,
        }
    }
}

impl Attempt {
    /// Runs the agent with the session timeout, cancellation, and a watchdog that
    /// cancels a session that shows no sign of life for `stuck_after`.
    async fn run_agent(
        &self,
        sink: &Arc<StoreSink>,
        worktree: &Worktree,
        resume: Option<(Option<PausedConversation>, String, String)>,
    ) -> (SessionReport, bool) {
        let settings = &self.engine.settings;
        let mut brief = TaskBrief {
            display_id: self.task.display_id.clone(),
            title: self.task.title.clone(),
            description: self.task.description.clone(),
            pass_criteria: self.task.pass_criteria.clone(),
            previous_failure: self.task.last_failure.clone(),
            attempt: self.task.attempts,
            max_attempts: self.task.max_attempts,
        };
        let resume = match resume {
            Some((Some(paused), _, answer)) => Some((paused, answer)),
            Some((None, question, answer)) => {
                // CLI agents cannot resume a conversation: the answer goes in the prompt.
                brief.description.push_str(&format!(
                    "\n\nYou asked: {question}\nA human answered: {answer}"
                ));
                None
            }
            None => None,
        };
        let request = SessionRequest {
            worktree: worktree.path.clone(),
            role_instructions: instructions(self.agent.role).to_owned(),
            brief,
            resume,
            timeout: settings.session_timeout,
            cancel: self.cancel.clone(),
            task_creator: (self.agent.role == AgentRole::Planning).then(|| {
                Arc::new(BoardTaskCreator {
                    board: self.engine.board.clone(),
                    category: "feature".to_owned(),
                }) as Arc<dyn crate::engine::runtime::TaskCreator>
            }),
        };
        let stuck = CancellationToken::new();
        let watchdog = tokio::spawn(watch_for_silence(
            sink.last_activity(),
            settings.stuck_after,
            self.cancel.clone(),
            stuck.clone(),
        ));
        // A command running in the worktree is a sign of life too (liveness.rs).
        let commands = tokio::spawn(super::liveness::while_commands_run(
            worktree.path.clone(),
            self.runtime.kind() == "cli",
            sink.last_activity(),
            (settings.stuck_after / 4).clamp(Duration::from_millis(50), Duration::from_secs(5)),
        ));
        let report = self.runtime.run(request, sink.as_ref()).await;
        watchdog.abort();
        commands.abort();
        if let Some(model) = &report.model {
            tracing::debug!(session = self.session.id, model, "session used model");
        }
        (report, stuck.is_cancelled())
    }

    async fn verify_and_merge(
        &self,
        sink: &Arc<StoreSink>,
        repo: &Repo,
        worktree: &Worktree,
        summary: &str,
        last_message: &str,
    ) -> Ending {
        sink.system(format!("agent reports the task complete: {summary}"));
        if let Err(reason) = self.commit(sink, repo, worktree, summary).await {
            return failed(reason, last_message);
        }
        if let Err(reason) = self.enter_verifying().await {
            return Ending::Requeued {
                reason,
                retry_at: None,
            };
        }
        // What lands is exactly what was verified: see landing.rs.
        self.land(sink, repo, worktree, last_message).await
    }

    async fn commit(
        &self,
        sink: &Arc<StoreSink>,
        repo: &Repo,
        worktree: &Worktree,
        summary: &str,
    ) -> Result<Option<String>, String> {
        let author = self.author();
        let message = format!("{}: {}\n\n{summary}", self.task.display_id, self.task.title);
        let (repo2, path) = (repo.clone(), worktree.path.clone());
        let commit = blocking(move || {
            repo2
                .commit_all(&path, &message, &author)
                .map_err(|e| e.to_string())
        })
        .await?;
        if let Some(sha) = &commit {
            sink.line(LogKind::Commit, sha.clone());
            let (sid, sha2) = (self.session.id, sha.clone());
            if let Ok(session) = self
                .engine
                .board
                .blocking(move |s| s.set_session_git(sid, None, None, Some(&sha2)))
                .await
            {
                self.engine.board.announce_session(&session);
            }
            let (repo3, base, branch) =
                (repo.clone(), worktree.base.clone(), worktree.branch.clone());
            if let Ok(diff) = blocking(move || {
                repo3
                    .diff(&base, &branch, DIFF_BYTES)
                    .map_err(|e| e.to_string())
            })
            .await
            {
                sink.line(LogKind::Diff, diff);
            }
        }
        Ok(commit)
    }

    pub(super) fn author(&self) -> Author {
        Author {
            name: self.engine.settings.git_author_name.clone(),
            email: self.engine.settings.git_author_email.clone(),
        }
    }

    async fn enter_verifying(&self) -> Result<(), String> {
        self.engine
            .board
            .transition_task(
                self.task.id,
                TaskStatus::Verifying,
                "running verification",
                ACTOR,
            )
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Runs the workspace's checks; their real exit codes decide. `Err` holds the tail.
    pub(super) async fn verify(
        &self,
        sink: &Arc<StoreSink>,
        worktree: &Worktree,
    ) -> Result<(), String> {
        let settings = &self.engine.settings;
        if settings.verify.is_empty() {
            sink.system("no verification commands are configured (HARNESS_VERIFY); accepting the agent's word");
            return Ok(());
        }
        let config = VerifyConfig {
            commands: settings.verify.clone(),
            timeout: settings.verify_timeout,
            ..VerifyConfig::default()
        };
        let line_sink = sink.clone();
        let report = verify(
            &worktree.path,
            &config,
            &self.cancel,
            move |command, line| {
                line_sink.line(LogKind::Output, format!("[{command}] {}", line.text));
            },
        )
        .await;
        let report = match report {
            Ok(report) => report,
            Err(err) => return Err(format!("cannot run verification: {err}")),
        };
        let summary = report.summary(SUMMARY_BYTES);
        let sid = self.session.id;
        let stored = summary.clone();
        if let Ok(session) = self
            .engine
            .board
            .blocking(move |s| s.set_verify_output(sid, &stored))
            .await
        {
            self.engine.board.announce_session(&session);
        }
        if report.passed() {
            sink.system("verification passed");
            Ok(())
        } else {
            sink.system("verification failed");
            Err(summary)
        }
    }

    async fn wait_for_human(&self, question: String, paused: Option<PausedConversation>) -> Ending {
        let id = self.task.id;
        let paused = paused.and_then(|p| serde_json::to_string(&p).ok());
        let q = question.clone();
        if let Err(err) = self
            .engine
            .board
            .blocking(move |s| s.ask_question(id, &q, paused.as_deref()))
            .await
        {
            return Ending::Requeued {
                reason: format!("cannot store the question: {err}"),
                retry_at: None,
            };
        }
        self.engine
            .board
            .note(
                NewEvent::info(
                    "task.question",
                    format!("{} asks: {question}", self.task.display_id),
                )
                .with_severity(Severity::Warning)
                .for_task(id.get())
                .for_session(self.session.id)
                .with_payload(serde_json::json!({ "question": question })),
            )
            .await;
        Ending::Requeued {
            reason: "waiting for a human answer".into(),
            retry_at: None,
        }
    }

    /// The one place an attempt's end is turned into the task's next state.
    async fn settle(&self, ending: Ending) {
        let board = &self.engine.board;
        let id = self.task.id;
        // A user's cancel can land mid-verification; it wins over whatever that caused.
        let cancelled_by_user = board
            .get_task(id)
            .await
            .is_ok_and(|t| t.status == TaskStatus::Cancelled);
        let ending = if cancelled_by_user {
            Ending::Cancelled
        } else {
            ending
        };
        let (status, reason) = match ending {
            Ending::Merged => {
                let done = board
                    .transition_task(id, TaskStatus::Completed, "verified and merged", ACTOR)
                    .await;
                match done {
                    Ok(_) => (SessionStatus::Succeeded, "verified and merged".to_owned()),
                    Err(err) => (SessionStatus::Failed, format!("cannot complete: {err}")),
                }
            }
            Ending::Failed { reason, summary } => {
                self.settle_failure(&reason, summary).await;
                (SessionStatus::Failed, reason)
            }
            Ending::Requeued { reason, retry_at } => {
                let why = reason.clone();
                if let Ok(task) = board
                    .blocking(move |s| s.requeue(id, &why, retry_at, ACTOR))
                    .await
                {
                    board.announce_task(&task);
                }
                if let Some(at) = retry_at {
                    self.engine.wake_at(at);
                }
                (SessionStatus::Interrupted, reason)
            }
            Ending::Cancelled => (SessionStatus::Cancelled, "cancelled".to_owned()),
        };
        if let Err(err) = board.finish_session(self.session.id, status, reason).await {
            tracing::warn!(session = self.session.id, %err, "cannot finish session");
        }
    }

    /// Failed: retried after a backoff, or blocked once the attempts are used up.
    async fn settle_failure(&self, reason: &str, summary: String) {
        let settings = &self.engine.settings;
        let used = self.task.attempts;
        let retry_at = (used < self.task.max_attempts).then(|| {
            let delay = retry_delay(used, settings.retry_base, settings.retry_cap);
            Timestamp::now().plus(chrono::TimeDelta::from_std(delay).unwrap_or_default())
        });
        let failure = Failure {
            reason: reason.to_owned(),
            summary,
            retry_at,
        };
        let id = self.task.id;
        let task = match self
            .engine
            .board
            .blocking(move |s| s.settle_failure(id, &failure, ACTOR))
            .await
        {
            Ok(task) => task,
            Err(err) => {
                tracing::error!(task = %self.task.display_id, %err, "cannot settle a failed attempt");
                return;
            }
        };
        self.engine.board.announce_task(&task);
        self.engine
            .board
            .note(
                NewEvent::info(
                    "task.failed",
                    format!("{} attempt {} failed: {reason}", task.display_id, used),
                )
                .with_severity(Severity::Warning)
                .for_task(id.get())
                .for_session(self.session.id),
            )
            .await;
        match retry_at {
            Some(at) => self.engine.wake_at(at),
            None if task.status == TaskStatus::Blocked => {
                tokio::spawn(investigate::investigate(self.engine.clone(), task));
            }
            None => {}
        }
    }
}

pub(super) fn failed(reason: String, last_message: &str) -> Ending {
    let summary = if last_message.trim().is_empty() {
        reason.clone()
    } else {
        format!("{reason}\n\nThe agent's last message:\n{last_message}")
    };
    Ending::Failed { reason, summary }
}

/// Creates the attempt's worktree. An earlier attempt's worktree (kept for inspection
/// until this retry) is set aside first: anything uncommitted in it is committed to a
/// renamed branch, never deleted. When resuming after an answer, the worktree with the
/// agent's work so far is used as it is.
fn open_worktree(
    repo: &Repo,
    display_id: &str,
    base: &str,
    path: &Path,
    resuming: bool,
    author: &Author,
) -> Result<(Worktree, Option<String>), String> {
    if path.exists() {
        if resuming {
            let branch = crate::engine::git::branch_name(display_id).map_err(|e| e.to_string())?;
            let worktree = Worktree {
                path: path.to_path_buf(),
                branch,
                base: base.to_owned(),
                base_commit: String::new(),
            };
            return Ok((worktree, None));
        }
        let keep_as = format!(
            "harness/{display_id}-kept-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        );
        let kept = repo
            .set_aside_worktree(path, &keep_as, author)
            .map_err(|e| e.to_string())?;
        let worktree = repo
            .create_worktree(display_id, base, path)
            .map_err(|e| e.to_string())?;
        return Ok((worktree, kept));
    }
    let worktree = repo
        .create_worktree(display_id, base, path)
        .map_err(|e| e.to_string())?;
    Ok((worktree, None))
}

/// Cancels the session when its sink has been silent for `limit`.
pub(super) async fn watch_for_silence(
    last: Arc<std::sync::atomic::AtomicI64>,
    limit: Duration,
    cancel: CancellationToken,
    stuck: CancellationToken,
) {
    let step = (limit / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    loop {
        tokio::time::sleep(step).await;
        let silent_ms = now_millis() - last.load(Ordering::Relaxed);
        if silent_ms > i64::try_from(limit.as_millis()).unwrap_or(i64::MAX) {
            stuck.cancel();
            cancel.cancel();
            return;
        }
    }
}

/// Runs blocking work (git) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("worker failed: {e}"))?
}
