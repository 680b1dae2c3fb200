//! The scheduler: the one authority that starts agent sessions.
//!
//! It wakes when the board changes (task created or changed, session ended, pause
//! flipped) and on a periodic tick as a safety net. One loop, so passes never overlap.
//! Each pass claims ready tasks, P0 first then oldest, within every limit: paused flag,
//! budget, global concurrency, each role's and each agent's concurrency, and the
//! spacing between starts. It is the spec's "task" and "orchestrator" agents: routing by
//! category to a role (the role registry), and running the helper roles' steps
//! (evaluator, architect, validation, SIA) around an attempt.

mod adopt;
mod attempt;
mod consult;
pub mod crashes;
mod design;
mod error;
mod evaluate;
mod findings;
mod helper_slots;
mod investigate;
mod investigation;
mod landing;
mod liveness;
mod log_cap;
mod pull_requests;
mod remote;
mod remote_roles;
mod retention;
pub mod review;
pub mod roles;
mod runtime_state;
mod runtimes;
mod settle;
mod sia;
mod sink;
mod slots;
mod spend;
pub mod subtasks;
mod supervise;
mod validate;

use std::{collections::HashMap, sync::Arc, time::Duration};

use harness_domain::{
    agent::{Agent, AgentStatus},
    event::{NewEvent, Operation, Severity},
    task::{Task, TaskStatus},
    time::Timestamp,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use remote::Remote;
pub use runtime_state::RuntimeState;
pub use runtimes::Runtimes;

use harness_board::Board;
use harness_board::budget::{BudgetLimits, BudgetReport};
use harness_config::EngineSettings;

/// How long shutdown waits for running sessions to wind down.
const DRAIN: Duration = Duration::from_secs(5);
const READY_BATCH: u32 = 64;
/// Shortest time between two passes. Every board change wakes the scheduler, and a pass
/// reads the agents, the pause and the budget: a burst of changes (an import, a planning
/// agent, a busy API client) costs one pass per spacing instead of one per change.
const PASS_SPACING: Duration = Duration::from_millis(20);
/// A rate-limit pause is announced (and its end) only when it is at least this long.
const RATE_PAUSE_WORTH_TELLING: Duration = Duration::from_secs(60);

/// What attempts share with the scheduler.
pub struct Engine {
    pub board: Board,
    pub settings: Arc<EngineSettings>,
    pub runtimes: Runtimes,
    pub budget: BudgetLimits,
    pub stop: CancellationToken,
    /// Merges into the base branch one at a time: two at once would race on its ref.
    pub merge_lock: tokio::sync::Mutex<()>,
    /// One SIA board review at a time (sia.rs); a trigger during one is dropped.
    pub sia_review: tokio::sync::Mutex<()>,
    /// Attempts running per remote executor.
    pub slots: slots::Slots,
    /// Helper sessions held per agent (helper_slots.rs).
    pub helper_slots: Arc<helper_slots::HelperSlots>,
    /// Workers, credentials and executor backends; `None` when only `local` runs.
    pub remote: Option<Arc<Remote>>,
}

impl Engine {
    /// Wakes the scheduler at `at` (a retry coming out of backoff).
    pub(crate) fn wake_at(&self, at: Timestamp) {
        let delay = (at.datetime() - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        let board = self.board.clone();
        let stop = self.stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(delay + Duration::from_millis(10)) => board.runs().wake(),
                () = stop.cancelled() => {}
            }
        });
    }
}

pub struct Scheduler {
    engine: Arc<Engine>,
    last_start: Option<Instant>,
    budget_exceeded: bool,
    /// A long rate-limit pause was announced and its end not yet.
    rate_paused: bool,
}

impl Scheduler {
    pub fn new(
        board: Board,
        settings: Arc<EngineSettings>,
        budget: BudgetLimits,
        stop: CancellationToken,
    ) -> Self {
        let runtimes = Runtimes::new(settings.clone());
        Self {
            engine: Arc::new(Engine {
                board,
                settings,
                runtimes,
                budget,
                stop,
                merge_lock: tokio::sync::Mutex::new(()),
                sia_review: tokio::sync::Mutex::new(()),
                slots: slots::Slots::default(),
                helper_slots: Arc::default(),
                remote: None,
            }),
            last_start: None,
            budget_exceeded: false,
            rate_paused: false,
        }
    }

    /// Runs attempts of agents on remote executors through `remote`.
    pub fn with_remote(mut self, remote: Arc<Remote>) -> Self {
        if let Some(engine) = Arc::get_mut(&mut self.engine) {
            engine.remote = Some(remote);
        }
        self
    }

    /// Runs until the stop token is cancelled, then cancels running sessions and waits
    /// briefly for them to settle.
    pub async fn run(mut self) {
        self.report_leftover_worktrees().await;
        tokio::spawn(
            pull_requests::follow(self.engine.clone(), self.engine.stop.clone())
                .instrument(tracing::info_span!("pull_requests")),
        );
        let mut tick = tokio::time::interval(self.engine.settings.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_start: Option<Instant> = None;
        let mut last_prune = Instant::now();
        let mut last_review = Instant::now();
        let mut last_pass = Instant::now()
            .checked_sub(PASS_SPACING)
            .unwrap_or_else(Instant::now);
        loop {
            let spacing_elapsed = async {
                match next_start {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.engine.board.runs().woken() => {}
                _ = tick.tick() => {
                    if last_prune.elapsed() >= self.prune_every() {
                        last_prune = Instant::now();
                        retention::prune(&self.engine.board, &self.engine.settings).await;
                        log_cap::prune_logs(&self.engine.board, &self.engine.settings).await;
                    }
                    if let Some(every) = self.engine.settings.roles.sia_every
                        && last_review.elapsed() >= every
                    {
                        last_review = Instant::now();
                        let span = tracing::info_span!("sia", trigger = "schedule");
                        tokio::spawn(
                            sia::review(self.engine.clone(), sia::Trigger::Schedule, None)
                                .instrument(span),
                        );
                    }
                }
                () = spacing_elapsed => {}
                () = self.engine.stop.cancelled() => break,
            }
            if let Some(wait) = PASS_SPACING.checked_sub(last_pass.elapsed()) {
                // Changes that arrive meanwhile fold into the one pass below.
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = self.engine.stop.cancelled() => break,
                }
            }
            last_pass = Instant::now();
            next_start = match self.pass().await {
                Ok(next) => next,
                Err(err) => {
                    tracing::warn!(%err, "scheduler pass failed");
                    None
                }
            };
            self.engine.board.runs().pass_completed();
        }
        self.drain().await;
    }

    /// One pass. Returns when to look again if spacing held a start back.
    async fn pass(&mut self) -> anyhow::Result<Option<Instant>> {
        let board = self.engine.board.clone();
        let mut agents = board.list_agents().await?;
        self.refresh_readiness(&mut agents).await;
        self.watch_rate_limit().await;
        if board.paused().await? || self.over_budget().await? {
            return Ok(None);
        }
        // Nobody could take a task: skip the two queries below. Every board change wakes
        // the scheduler, so without agents a stream of creates would pay for them all.
        if !agents.iter().any(roles::available) {
            return Ok(None);
        }
        let mut running = board.running_by_agent().await?;
        let ready = board.ready_tasks(READY_BATCH).await?;
        for task in ready {
            // An investigation of this task still runs: its next attempt waits for it.
            if board.runs().is_running(task.id) {
                continue;
            }
            let Some(agent) = self.pick_agent(&task, &agents, &running) else {
                continue;
            };
            let executor = self.engine.runtimes.executor(agent);
            if self.executor_full(executor) {
                continue;
            }
            if let Some(at) = self.spacing_holds() {
                return Ok(Some(at));
            }
            if self.start(task, agent.clone()).await {
                *running.entry(agent.id.as_str().to_owned()).or_default() += 1;
            }
        }
        Ok(None)
    }

    fn pick_agent<'a>(
        &self,
        task: &Task,
        agents: &'a [Agent],
        running: &HashMap<String, u32>,
    ) -> Option<&'a Agent> {
        let registry = &self.engine.settings.roles.registry;
        let name = registry.route(&task.category);
        let role = registry.get(name.as_str())?;
        roles::pick_agent(role, agents, |a| {
            running.get(a.id.as_str()).copied().unwrap_or(0)
        })
    }

    /// Expired worktrees are looked for a tenth of the retention period apart, between
    /// one tick and one hour.
    fn prune_every(&self) -> Duration {
        let s = &self.engine.settings;
        (s.worktree_retention / 10).clamp(s.tick, Duration::from_secs(3600).max(s.tick))
    }

    /// Whether `kind` runs as many attempts as its `max_concurrent` allows. Local
    /// attempts share the run registry with investigations, which count against it.
    fn executor_full(&self, kind: harness_executor::ExecutorKind) -> bool {
        let engine = &self.engine;
        let max = engine.settings.executors.max_concurrent(kind) as usize;
        let running = match kind {
            harness_executor::ExecutorKind::Local => engine
                .board
                .runs()
                .count()
                .saturating_sub(engine.slots.remote()),
            remote => engine.slots.count(remote),
        };
        running >= max
    }

    fn spacing_holds(&self) -> Option<Instant> {
        let next = self.last_start? + self.engine.settings.session_spacing;
        (next > Instant::now()).then_some(next)
    }

    /// Claims `task` for `agent` and spawns the attempt. False when the claim lost.
    async fn start(&mut self, task: Task, agent: Agent) -> bool {
        let Some(role) = roles::role_of(&self.engine.settings, &agent).cloned() else {
            return false;
        };
        let size = self
            .engine
            .board
            .estimate(task.id)
            .await
            .ok()
            .flatten()
            .map(|e| e.size);
        let model = self
            .engine
            .settings
            .roles
            .model_for(size)
            .map(|m| m.as_str().to_owned());
        let runtime = match self
            .engine
            .runtimes
            .for_agent_with_model(&agent, model.as_deref())
            .await
        {
            Ok(runtime) => runtime,
            // The readiness refresh of the next pass marks the agent with the reason.
            Err(err) => {
                tracing::warn!(%err, agent = %agent.id, task = %task.display_id, "cannot build the agent's runtime; the task waits");
                return false;
            }
        };
        let board = &self.engine.board;
        let id = task.id;
        let (task, session) = match board.claim(id, &agent).await {
            Ok(pair) => pair,
            Err(err) => {
                tracing::debug!(task = %id, %err, "claim lost");
                return false;
            }
        };
        self.last_start = Some(Instant::now());
        let working = board
            .set_agent_status(
                agent.id.clone(),
                AgentStatus::Working,
                self.engine.runtimes.caveat().map(str::to_owned),
            )
            .await;
        if let Err(err) = working {
            tracing::warn!(%err, agent = %agent.id, task = %task.display_id, session = %session.id, "cannot mark the agent working");
        }
        let span = attempt_span(&task, &session, &agent);
        span.in_scope(|| tracing::info!("session started"));
        let cancel = board.runs().register(task.id);
        let executor = self.engine.runtimes.executor(&agent);
        let attempt = attempt::Attempt::new(attempt::Claimed {
            engine: self.engine.clone(),
            task,
            session,
            agent,
            role,
            size,
            runtime,
            cancel,
            executor,
        });
        self.spawn(attempt, None, span);
        true
    }

    /// Runs `attempt` in the background within its executor's slot; when it ends, frees
    /// the slot and its agent and wakes the scheduler.
    fn spawn(
        &self,
        attempt: attempt::Attempt,
        adopted: Option<remote::Adopted>,
        span: tracing::Span,
    ) {
        let slot = self.engine.slots.take(attempt.executor());
        let engine = self.engine.clone();
        tokio::spawn(
            async move {
                let (task_id, agent_id) = (attempt.task().id, attempt.agent().id.clone());
                attempt.run(adopted).await;
                drop(slot);
                engine.board.runs().finished(task_id);
                let still_busy = engine
                    .board
                    .running_by_agent()
                    .await
                    .map(|r| r.get(agent_id.as_str()).copied().unwrap_or(0) > 0)
                    .unwrap_or(false);
                if !still_busy {
                    // In the attempt's span: it names the agent, the task and the session.
                    let idle = engine
                        .board
                        .set_agent_status(
                            agent_id,
                            AgentStatus::Idle,
                            engine.runtimes.caveat().map(str::to_owned),
                        )
                        .await;
                    if let Err(err) = idle {
                        tracing::warn!(%err, "cannot mark the agent idle");
                    }
                }
                engine.board.runs().wake();
            }
            .instrument(span),
        );
    }

    /// Marks agents that cannot run as `unconfigured` with the reason, and back to `idle`
    /// once they can. Compared with the stored status, so an idle loop writes nothing.
    async fn refresh_readiness(&mut self, agents: &mut [Agent]) {
        // One look at the workspace per pass (it runs git), not one per agent; it and
        // the agents' checks run on the blocking pool, off the scheduler's thread.
        let verdicts = match self.engine.runtimes.readiness_of(agents.to_vec()).await {
            Ok(verdicts) => verdicts,
            Err(err) => {
                tracing::warn!(%err, "cannot check whether the agents can run");
                return;
            }
        };
        // The reason is shown as the agent's status: its text is what is compared.
        for (agent, ready) in agents.iter_mut().zip(verdicts) {
            let board = &self.engine.board;
            match ready {
                Err(reason)
                    if agent.enabled
                        && (agent.status != AgentStatus::Unconfigured
                            || agent.status_reason.as_deref() != Some(reason.as_str())) =>
                {
                    tracing::warn!(agent = %agent.id, %reason, "agent cannot run");
                    if let Ok(updated) = board
                        .set_agent_status(agent.id.clone(), AgentStatus::Unconfigured, Some(reason))
                        .await
                    {
                        *agent = updated;
                    }
                }
                Ok(()) if agent.status == AgentStatus::Unconfigured => {
                    tracing::info!(agent = %agent.id, "agent is ready");
                    let caveat = self.engine.runtimes.caveat().map(str::to_owned);
                    if let Ok(updated) = board
                        .set_agent_status(agent.id.clone(), AgentStatus::Idle, caveat)
                        .await
                    {
                        *agent = updated;
                    }
                }
                // Running unconfined is never silent: the agent says so.
                Ok(())
                    if agent.status == AgentStatus::Idle
                        && agent.status_reason.as_deref() != self.engine.runtimes.caveat() =>
                {
                    let caveat = self.engine.runtimes.caveat().map(str::to_owned);
                    if let Ok(updated) = board
                        .set_agent_status(agent.id.clone(), AgentStatus::Idle, caveat)
                        .await
                    {
                        *agent = updated;
                    }
                }
                _ => {}
            }
        }
    }

    /// The budget gate: no new session once a limit is reached. Raises
    /// `budget.exceeded` once per crossing.
    async fn over_budget(&mut self) -> anyhow::Result<bool> {
        if self.engine.budget == BudgetLimits::default() {
            return Ok(false);
        }
        let totals = self.engine.board.budget_totals().await?;
        let report = BudgetReport::new(totals, self.engine.budget);
        if report.exceeded != self.budget_exceeded {
            self.budget_exceeded = report.exceeded;
            self.engine.board.announce_budget(report.clone());
            if report.exceeded {
                self.engine
                    .board
                    .note(
                        NewEvent::info(
                            Operation::BudgetExceeded(Box::new(report.clone())),
                            "a budget limit is reached: no new session starts",
                        )
                        .with_severity(Severity::Error),
                    )
                    .await;
            }
        }
        Ok(report.exceeded)
    }

    /// Raises `ratelimit.paused` when the shared API gate closes for over a minute, and
    /// `ratelimit.resumed` when it opens again. Seen at the next pass (ticks included).
    async fn watch_rate_limit(&mut self) {
        let until = self.engine.runtimes.gate().paused_until();
        let long = until.is_some_and(|u| {
            (u - chrono::Utc::now())
                .to_std()
                .is_ok_and(|left| left >= RATE_PAUSE_WORTH_TELLING)
        });
        let event = match (self.rate_paused, until) {
            (false, Some(until)) if long => {
                self.rate_paused = true;
                NewEvent::info(
                    Operation::RateLimitPaused {
                        until: Timestamp::from_datetime(until),
                    },
                    format!(
                        "the Anthropic API rate limit pauses every session until {} UTC",
                        until.format("%H:%M:%S")
                    ),
                )
                .with_severity(Severity::Warning)
            }
            (true, None) => {
                self.rate_paused = false;
                NewEvent::info(
                    Operation::RateLimitResumed,
                    "the rate limit is over; sessions continue",
                )
            }
            _ => return,
        };
        self.engine.board.note(event).await;
    }

    /// Worktrees left by a crash: reported, never silently deleted. Those of tasks in
    /// review are kept on purpose and not reported.
    async fn report_leftover_worktrees(&self) {
        let Ok((repo, base)) = attempt::workspace_and_base(&self.engine.settings).await else {
            return;
        };
        let found = tokio::task::spawn_blocking(move || repo.leftover_worktrees(&base).ok())
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let in_review = self.branches_in_review().await;
        for leftover in found.into_iter().filter(|l| !in_review.contains(&l.branch)) {
            let message = format!(
                "leftover worktree {} (branch {}): {} uncommitted files, {} unmerged commits{}",
                leftover.path.display(),
                leftover.branch,
                leftover.uncommitted.len(),
                leftover.unmerged_commits,
                if leftover.not_ours {
                    "; kept, not inspected: its git data is not what the harness recorded"
                } else if leftover.holds_work() {
                    "; kept because it holds work"
                } else {
                    ""
                }
            );
            tracing::warn!("{message}");
            self.engine
                .board
                .note(
                    NewEvent::info(Operation::WorktreeLeftover, message)
                        .with_severity(Severity::Warning),
                )
                .await;
        }
    }

    /// The branches of the tasks waiting in review.
    async fn branches_in_review(&self) -> Vec<String> {
        let filter = harness_store::TaskFilter {
            status: Some(TaskStatus::Review),
            limit: 500,
            ..harness_store::TaskFilter::default()
        };
        let page = self.engine.board.list_tasks(filter).await;
        page.map(|p| p.items)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| match t.outcome {
                Some(harness_domain::task::Outcome::InReview { branch, .. }) => Some(branch),
                _ => None,
            })
            .collect()
    }

    async fn drain(&self) {
        let runs = self.engine.board.runs();
        runs.cancel_all();
        let deadline = Instant::now() + DRAIN;
        while runs.count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Every log line of an attempt carries these, so one attempt can be followed (started
/// here or re-adopted after a restart).
fn attempt_span(
    task: &Task,
    session: &harness_domain::session::Session,
    agent: &Agent,
) -> tracing::Span {
    tracing::info_span!(
        "attempt",
        task = %task.display_id,
        session = %session.id,
        agent = %agent.id,
        attempt = task.attempts
    )
}
