//! Builds the application and runs it until a shutdown signal.
//!
//! Startup: open the store (integrity check, migrations), recover from a crash, bind.
//! Shutdown: stop accepting, close WebSockets, finish in-flight requests, mark running
//! sessions interrupted, checkpoint the WAL, exit, all within [`SHUTDOWN_DEADLINE`].

use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use harness_base::listen::{shutdown_signal, without_delay};
use harness_domain::{
    agent::AgentId,
    event::{NewEvent, Operation},
    task::TaskStatus,
    time::Timestamp,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use harness_api::{self as api, AppState, Auth};
use harness_board::{Actor, Board};
use harness_config::Settings;
use harness_engine::orphans;
use harness_scheduler::Scheduler;
use harness_store::{Store, TaskFilter};
use harness_telegram::{self as telegram, Telegram};

/// The whole shutdown must fit in the 10 s that container runtimes wait before SIGKILL.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(8);
const PROBE_EVERY: Duration = Duration::from_secs(1);
const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);
/// How long orphaned agents get between SIGTERM and SIGKILL at startup.
const ORPHAN_GRACE: Duration = Duration::from_secs(3);
/// The `process` executor's scratch, inside the worktrees directory.
const PROCESS_WORKERS_DIR: &str = ".workers";

/// A built application, bound to its listener, not yet serving.
pub struct App {
    state: AppState,
    listener: TcpListener,
}

impl App {
    /// Opens the store, recovers from any crash, and binds `settings.bind:settings.port`
    /// (port 0 picks a free port; see [`App::local_addr`]).
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
        settings
            .web
            .check_exposure(settings.bind, settings.api_token.is_some())?;
        harness_engine::sandbox::announce(&settings.engine.sandbox);
        let (path, limits) = (settings.database_path.clone(), settings.writer);
        let (store, applied) =
            tokio::task::spawn_blocking(move || Store::open_with(&path, limits)).await??;
        for m in &applied {
            tracing::info!(version = m.version, name = %m.name, "applied migration");
        }
        let board = Board::new(Arc::new(store), settings.ws_replay);
        apply_agent_overrides(&board, &settings).await?;
        // Before recovery raises this run's first events, which Telegram should send.
        telegram::record_run(&board, settings.telegram.as_ref())
            .await
            .context("cannot record whether Telegram is on")?;
        recover(&board, &settings).await?;
        let addr = SocketAddr::new(settings.bind, settings.port);
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} (is another harness running? set PORT)")
        })?;
        // The port it really listens on (PORT=0 picks one): what the summary shows.
        settings.port = listener.local_addr()?.port();
        // Agents never reach the harness's own port, whatever the token setting.
        settings
            .engine
            .sandbox
            .guard_ports(&[settings.port])
            .context("cannot keep agents off the harness's port")?;
        let dashboard = harness_gateway::embedded::present();
        harness_config::SettingsSummary::of(&settings, dashboard).log();
        if settings.dashboard_dir.is_none() && !dashboard {
            tracing::warn!(
                "this binary was built without the dashboard (no dashboard/dist when it was compiled): `/` says so; scripts/start builds both"
            );
        }
        if settings.api_token.is_none() && settings.web.exposed(settings.bind) {
            tracing::warn!(
                "HARNESS_ALLOW_OPEN is set and HARNESS_API_TOKEN is not: the API and dashboard are open \
                 to anyone who can reach port {}, and a task is code execution.",
                listener.local_addr()?.port()
            );
        }
        let telegram = Telegram::new(settings.telegram.as_ref())
            .context("cannot set up the Telegram client")?;
        let workers = worker_grants(&settings)?;
        let state = AppState {
            board,
            auth: Auth::new(&settings),
            settings: Arc::new(settings),
            started_at: Timestamp::now(),
            db_healthy: Arc::new(AtomicBool::new(true)),
            shutdown: CancellationToken::new(),
            telegram,
            workers,
        };
        Ok(Self { state, listener })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn board(&self) -> &Board {
        &self.state.board
    }

    /// Serves until `shutdown` resolves, then shuts down cleanly.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self { state, listener } = self;
        let board = state.board.clone();
        let settings = state.settings.clone();
        let stop = state.shutdown.clone();
        let pruner = tokio::spawn(prune_events(
            board.clone(),
            state.settings.event_retention,
            stop.clone(),
        ));
        let prober = tokio::spawn(probe_database(
            board.clone(),
            state.db_healthy.clone(),
            stop.clone(),
        ));
        let workers = state.workers.clone();
        let port = listener.local_addr()?.port();
        let mut scheduler = Scheduler::new(
            board.clone(),
            Arc::new(settings.engine.clone()),
            settings.budget,
            stop.clone(),
        );
        if let Some(remote) = remote_executors(&settings, workers, port).await {
            scheduler = scheduler.with_remote(Arc::new(remote));
        }
        // Before serving: a re-adopted worker's next request must find its grant.
        scheduler.adopt().await;
        let telegram = state.telegram.start(
            telegram::Context {
                board: board.clone(),
                budget: settings.budget,
                started_at: state.started_at,
            },
            stop.clone(),
        );
        let router = api::router(state);
        let graceful = {
            let stop = stop.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down");
                stop.cancel();
            }
        };
        // The peer address feeds the login rate limit.
        let server = axum::serve(
            without_delay(listener),
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(graceful);
        let server = tokio::spawn(async move { server.await });
        let scheduler = tokio::spawn(scheduler.run());
        stop.cancelled().await;
        match tokio::time::timeout(SHUTDOWN_DEADLINE, server).await {
            Ok(result) => result
                .context("server task failed")?
                .context("server failed")?,
            Err(_) => tracing::warn!("in-flight requests did not finish in time; closing anyway"),
        }
        pruner.abort();
        prober.abort();
        if tokio::time::timeout(SHUTDOWN_DEADLINE, scheduler)
            .await
            .is_err()
        {
            tracing::warn!("agent sessions did not stop in time; they are marked interrupted");
        }
        finish(&board, &settings, telegram).await
    }
}

/// The backends of the remote executors `harness.toml` configures; `None` when only
/// `local` runs. A backend that cannot start is logged and left out: its agents' attempts
/// are requeued saying the executor is not available.
async fn remote_executors(
    settings: &Settings,
    grants: harness_worker::Grants,
    port: u16,
) -> Option<harness_scheduler::Remote> {
    use harness_executor::{ExecutorBackend, ExecutorKind};
    let executors = &settings.engine.executors;
    let mut backends: std::collections::BTreeMap<ExecutorKind, Arc<dyn ExecutorBackend>> =
        Default::default();
    let mut urls = std::collections::BTreeMap::new();
    if let Some(process) = &executors.process {
        let binary = process
            .harness_binary
            .clone()
            .or_else(|| std::env::current_exe().ok())
            .unwrap_or_else(|| "harness".into());
        backends.insert(
            ExecutorKind::Process,
            Arc::new(harness_executor::process::ProcessBackend::new(
                binary,
                settings.engine.worktrees_dir.join(PROCESS_WORKERS_DIR),
                settings.engine.sandbox.mode,
            )),
        );
        let url = process
            .orchestrator_url
            .clone()
            .unwrap_or_else(|| format!("http://127.0.0.1:{port}"));
        urls.insert(ExecutorKind::Process, url);
    }
    if let Some(docker) = &executors.docker {
        match harness_executor::docker::DockerBackend::connect(docker).await {
            Ok(backend) => {
                backends.insert(ExecutorKind::Docker, Arc::new(backend));
                let url = docker
                    .orchestrator_url
                    .clone()
                    .unwrap_or_else(|| format!("http://host.docker.internal:{port}"));
                urls.insert(ExecutorKind::Docker, url);
            }
            Err(err) => tracing::warn!(%err, "the docker executor is not available"),
        }
    }
    if let Some(kube) = executors.kubernetes() {
        use harness_executor::kubernetes::{KubernetesBackend, KubernetesExecutor};
        match KubernetesExecutor::connect(kube.clone()).await {
            Ok(executor) => {
                backends.insert(
                    ExecutorKind::Kubernetes,
                    Arc::new(KubernetesBackend::new(executor)),
                );
                let url = kube.orchestrator_url.trim_end_matches('/');
                urls.insert(ExecutorKind::Kubernetes, url.to_owned());
            }
            Err(err) => tracing::warn!(%err, "the kubernetes executor is not available"),
        }
    }
    if backends.is_empty() {
        return None;
    }
    let owner = grants.key().installation_id();
    Some(harness_scheduler::Remote {
        grants,
        backends,
        urls,
        owner,
    })
}

/// The worker key lives next to the database, so credentials outlive a restart.
fn worker_grants(settings: &Settings) -> anyhow::Result<harness_worker::Grants> {
    let dir = settings
        .database_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."));
    let key = harness_worker::WorkerKey::load_or_create(&dir.join("worker.key"))?;
    Ok(harness_worker::Grants::new(key))
}

/// `[agents.<id>] role = …` adds or re-roles an agent; `runtime = …` decides its runtime.
/// Refuses first, writing nothing, an agent of a read-only role that would run on the
/// CLI runtime (scheduler/roles.rs).
async fn apply_agent_overrides(board: &Board, settings: &Settings) -> anyhow::Result<()> {
    let stored = board.list_agents().await?;
    let engine = &settings.engine;
    for agent in &stored {
        let id = agent.id.as_str();
        let role = engine
            .agents
            .get(id)
            .and_then(|o| o.role.as_deref())
            .unwrap_or(agent.role.as_str());
        harness_scheduler::roles::refuse_read_only_on_cli(engine, id, role, agent.runtime)
            .map_err(|e| anyhow::anyhow!("harness.toml [agents.{id}]: {e}"))?;
    }
    for (id, o) in &engine.agents {
        if let Some(role) = &o.role
            && !stored.iter().any(|a| a.id.as_str() == id)
        {
            harness_scheduler::roles::refuse_read_only_on_cli(
                engine,
                id,
                role,
                harness_domain::agent::RuntimeKind::Anthropic,
            )
            .map_err(|e| anyhow::anyhow!("harness.toml [agents.{id}]: {e}"))?;
        }
    }
    for (id, o) in &settings.engine.agents {
        let agent = AgentId::parse(id).with_context(|| format!("harness.toml [agents.{id}]"))?;
        if let Some(role) = &o.role {
            let role = harness_domain::role::RoleName::parse(role)
                .with_context(|| format!("harness.toml [agents.{id}] role"))?;
            board.ensure_agent_role(agent.clone(), role).await?;
        }
        let Some(runtime) = o.runtime else { continue };
        board.set_agent_runtime(agent, runtime).await?;
    }
    Ok(())
}

/// The remote executors `harness.toml` configures: their workers outlive this process,
/// so their running attempts are re-adopted at startup rather than interrupted.
fn adoptable_executors(settings: &Settings) -> Vec<&'static str> {
    use harness_executor::ExecutorKind;
    [
        ExecutorKind::Process,
        ExecutorKind::Docker,
        ExecutorKind::Kubernetes,
    ]
    .into_iter()
    .filter(|k| settings.engine.executors.remote(*k).is_some())
    .map(ExecutorKind::as_str)
    .collect()
}

/// Sessions left running by a crash are interrupted, and their tasks go back to
/// pending without using up an attempt; remote attempts whose worker may still run are
/// left to the scheduler, which re-adopts them (scheduler/adopt.rs).
async fn recover(board: &Board, settings: &Settings) -> anyhow::Result<()> {
    let interrupted = board
        .interrupt_running_sessions_except(
            "the orchestrator restarted",
            adoptable_executors(settings),
        )
        .await?;
    let worktrees = &settings.engine.worktrees_dir;
    let workers = worktrees.join(PROCESS_WORKERS_DIR);
    let orphans = orphans::reap_except(worktrees, Some(&workers), ORPHAN_GRACE).await;
    if !orphans.is_empty() {
        tracing::warn!(groups = ?orphans, "stopped agent processes left running by the previous run");
    }
    let mut requeued = 0;
    for status in [TaskStatus::InProgress, TaskStatus::Verifying] {
        let filter = TaskFilter {
            status: Some(status),
            limit: 500,
            ..TaskFilter::default()
        };
        for task in board.list_tasks(filter).await?.items {
            // Its remote attempt is re-adopted, not recovered.
            if board.has_running_session(task.id).await? {
                continue;
            }
            // Crash interruptions are counted per task (scheduler/crashes.rs).
            let max = settings.engine.reliability.max_crash_interruptions;
            let restarted = harness_scheduler::crashes::RESTARTED;
            if harness_scheduler::crashes::recover_task(
                board,
                &settings.engine,
                task.id,
                max,
                Actor::STARTUP,
                restarted,
                None,
            )
            .await?
            {
                requeued += 1;
            }
        }
    }
    if interrupted + requeued > 0 {
        tracing::warn!(interrupted, requeued, "recovered from an unclean stop");
        board
            .note(NewEvent::info(Operation::OrchestratorRecovered,
                format!("{interrupted} sessions interrupted and {requeued} tasks requeued after an unclean stop"),
            ))
            .await;
    }
    Ok(())
}

async fn finish(
    board: &Board,
    settings: &Settings,
    telegram: Option<telegram::Running>,
) -> anyhow::Result<()> {
    // Remote workers carry on while the orchestrator is away (scheduler/adopt.rs).
    board
        .interrupt_running_sessions_except(
            "the orchestrator stopped",
            adoptable_executors(settings),
        )
        .await?;
    board
        .note(NewEvent::info(
            Operation::OrchestratorStopped,
            "the orchestrator stopped cleanly",
        ))
        .await;
    if let Some(telegram) = telegram {
        telegram.finish().await;
    }
    board.checkpoint().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Checks the database every second for `/health`. Logs only when the state flips.
async fn probe_database(board: Board, healthy: Arc<AtomicBool>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(PROBE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let result = board.ping().await;
        let ok = result.is_ok();
        if healthy.swap(ok, Ordering::Relaxed) != ok {
            match result {
                Ok(()) => tracing::info!("database is reachable again"),
                Err(err) => {
                    tracing::error!(%err, "database is not usable; /health now answers 503")
                }
            }
        }
    }
}

/// Deletes events older than the retention period, at start and every hour.
async fn prune_events(board: Board, retention: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let Ok(age) = chrono::TimeDelta::from_std(retention) else {
            continue;
        };
        let before = Timestamp::now().plus(-age);
        match board.prune_events(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "pruned old events"),
            Err(err) => tracing::warn!(%err, "cannot prune events"),
        }
    }
}

/// `harness serve`.
pub fn run_blocking(settings: Settings) -> anyhow::Result<()> {
    harness_base::telemetry::init(settings.log_format);
    harness_engine::safe_git::set_timeout(settings.engine.reliability.git_timeout);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    runtime.block_on(async move {
        let app = App::build(settings).await?;
        let shutdown = shutdown_signal();
        let addr = app.local_addr()?;
        tracing::info!(address = %addr, "harness listening");
        // A plain line on stdout too, for scripts and tests that wait for readiness.
        println!("harness listening on http://{addr}");
        app.run_until(shutdown).await
    })
}
