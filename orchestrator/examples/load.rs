//! Load helpers for `scripts/bench`: seed tasks, and measure WebSocket fan-out.
//!
//! `cargo run --release --example load -- seed URL N`: creates N tasks, 32 at a time.
//! `cargo run --release --example load -- fanout URL CLIENTS MESSAGES`: connects CLIENTS
//! WebSockets, creates MESSAGES tasks one by one, and prints, per message, the fan-out
//! delay (from the first client receiving it to each other client) and the end-to-end
//! delay (from sending the POST, which includes the durable write, to each client).
//! `… -- seed-db PATH N`: writes N tasks straight into a (migrated) database file, in
//! one transaction, for the million-task case; prints a cursor half way down the list.
//! `… -- mixed DIR LINES_PER_MIN SECS`: serves a harness on DIR in this process, stores
//! LINES_PER_MIN session log lines a minute through the session-output path (batched as
//! the session sink batches them) and meanwhile runs `wrk` creating tasks at 64
//! connections for SECS; prints wrk's figures and the log lines stored.

use std::{
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use harness::{config::Settings, server::App, store::Store};
use harness_domain::{
    agent::AgentId,
    session::LogKind,
    task::{NewTask, Title},
};

use futures_util::{StreamExt, stream::FuturesUnordered};
use tokio::sync::Notify;
use tokio_tungstenite::{
    connect_async_with_config,
    tungstenite::{Message, protocol::WebSocketConfig},
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["seed", url, n] => seed(url, n.parse()?).await,
        ["fanout", url, clients, messages] => {
            fanout(url, clients.parse()?, messages.parse()?).await
        }
        ["seed-db", path, n] => seed_db(Path::new(path), n.parse()?),
        ["mixed", dir, per_minute, secs] => {
            mixed(Path::new(dir), per_minute.parse()?, secs.parse()?).await
        }
        _ => anyhow::bail!(
            "usage: load seed URL N | load fanout URL CLIENTS MESSAGES | load seed-db PATH N \
             | load mixed DIR LINES_PER_MIN SECS"
        ),
    }
}

async fn seed(url: &str, n: usize) -> anyhow::Result<()> {
    let client = harness::http_client::client(harness::http_client::Timeouts {
        connect: Duration::from_secs(10),
        request: Some(Duration::from_secs(30)),
    })?;
    let mut pending = FuturesUnordered::new();
    let start = Instant::now();
    for i in 0..n {
        if pending.len() >= 32 {
            pending.next().await.transpose()?;
        }
        let request = client.post(format!("{url}/api/tasks")).body(format!(
            r#"{{"title":"bench task {i}","description":"{}"}}"#,
            "x".repeat(200)
        ));
        pending.push(async move { request.send().await?.error_for_status().map(drop) });
    }
    while let Some(r) = pending.next().await {
        r?;
    }
    println!("seeded {n} tasks in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// When each client received one message, and a signal once all of them have.
#[derive(Default)]
struct Arrivals {
    times: Mutex<Vec<Instant>>,
    all_in: Notify,
}

async fn fanout(url: &str, clients: usize, messages: usize) -> anyhow::Result<()> {
    let ws_url = url.replace("http://", "ws://") + "/ws";
    // The client shares the cores with the server it measures, so it does as little as
    // it can per frame: a socket task notes the time in the message's slot, and only the
    // last client to receive a message wakes the task that sends the next one.
    let slots: Arc<Vec<Arrivals>> = Arc::new((0..messages).map(|_| Arrivals::default()).collect());
    for _ in 0..clients {
        // A small read buffer, as the server has: tungstenite zeroes the whole buffer
        // (128 KiB by default) before every read.
        let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
        let (mut socket, _) = connect_async_with_config(&ws_url, Some(config), false).await?;
        let slots = slots.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message {
                    let received = Instant::now();
                    // Only task.created frames are timed, found without parsing the frame.
                    let slot = created_title(&text)
                        .and_then(|title| title.strip_prefix("fanout "))
                        .and_then(|i| i.parse::<usize>().ok())
                        .and_then(|i| slots.get(i));
                    if let Some(slot) = slot {
                        let mut times = slot.times.lock().unwrap_or_else(|p| p.into_inner());
                        times.push(received);
                        if times.len() == clients {
                            slot.all_in.notify_one();
                        }
                    }
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = harness::http_client::client(harness::http_client::Timeouts {
        connect: Duration::from_secs(10),
        request: Some(Duration::from_secs(30)),
    })?;
    let mut spread = Vec::with_capacity(clients * messages);
    let mut end_to_end = Vec::with_capacity(clients * messages);
    for (i, slot) in slots.iter().enumerate() {
        let sent = Instant::now();
        client
            .post(format!("{url}/api/tasks"))
            .body(format!(r#"{{"title":"fanout {i}"}}"#))
            .send()
            .await?
            .error_for_status()?;
        let all_in = tokio::time::timeout(Duration::from_secs(10), slot.all_in.notified()).await;
        let arrivals = slot.times.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if all_in.is_err() {
            anyhow::bail!(
                "only {} of {clients} clients received message {i}",
                arrivals.len()
            );
        }
        let first = *arrivals.iter().min().unwrap_or(&sent);
        spread.extend(arrivals.iter().map(|a| a.saturating_duration_since(first)));
        end_to_end.extend(arrivals.iter().map(|a| a.saturating_duration_since(sent)));
    }
    println!(
        "fanout: {clients} clients x {messages} messages: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
         end to end from the POST: p50 {:.2} ms, p99 {:.2} ms",
        ms(&mut spread, 0.50),
        ms(&mut spread, 0.99),
        ms(&mut spread, 1.0),
        ms(&mut end_to_end, 0.50),
        ms(&mut end_to_end, 0.99),
    );
    Ok(())
}

/// The title of a `task.created` frame (the bench's titles need no JSON unescaping).
fn created_title(frame: &str) -> Option<&str> {
    let data = frame.split_once(r#""type":"task.created""#)?.1;
    let title = data.split_once(r#""title":""#)?.1;
    title.split_once('"').map(|(title, _)| title)
}

fn ms(values: &mut [Duration], q: f64) -> f64 {
    values.sort();
    let i = ((values.len() as f64 * q) as usize).min(values.len().saturating_sub(1));
    values.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// N tasks in one transaction, spread over priorities, statuses, categories and agents
/// the way a long-lived board looks, each with its creation in the history.
fn seed_db(path: &Path, n: u64) -> anyhow::Result<()> {
    drop(Store::open(path)?);
    let start = Instant::now();
    let mut conn = rusqlite::Connection::open(path)?;
    let tx = conn.transaction()?;
    tx.execute(
        "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?1)
         INSERT INTO tasks (id, display_id, title, description, category, priority, status,
                            assigned_agent, created_at, updated_at)
         SELECT i, 'T-' || i, 'seeded task ' || i, printf('%.200c', 'x'),
                CASE i % 4 WHEN 0 THEN 'backend' WHEN 1 THEN 'frontend'
                           WHEN 2 THEN 'feature' ELSE 'testing' END,
                i % 5,
                CASE WHEN i % 10 < 7 THEN 'completed' WHEN i % 10 < 9 THEN 'pending'
                     ELSE 'blocked' END,
                CASE WHEN i % 10 < 7 THEN 'build-1' ELSE NULL END,
                strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || (i / 10) || ' seconds'),
                strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || (i / 10) || ' seconds')
         FROM k",
        [n],
    )?;
    tx.execute(
        "INSERT INTO task_history (task_id, from_status, to_status, reason, actor, at)
         SELECT id, NULL, 'pending', 'created', 'seed', created_at FROM tasks",
        [],
    )?;
    tx.commit()?;
    let cursor: String = conn.query_row(
        "SELECT priority || '.' || id || '.' || created_at FROM tasks
         ORDER BY priority, created_at, id LIMIT 1 OFFSET ?1",
        [n / 2],
        |r| r.get(0),
    )?;
    println!(
        "seeded {n} tasks in {:.1} s; deep cursor {cursor}",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Agents logging while clients create tasks: task creation latency is what counts.
async fn mixed(dir: &Path, per_minute: u64, secs: u64) -> anyhow::Result<()> {
    let mut settings = Settings::for_database(dir.join("harness.db"));
    settings.dashboard_dir = Some(dir.join("none"));
    let app = App::build(settings).await?;
    let port = app.local_addr()?.port();
    let board = app.board().clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        // A dropped sender (the run failed early) stops the server just the same.
        let _ = stop_rx.await;
    }));

    const AGENTS: u64 = 8;
    const TICK: Duration = Duration::from_millis(20);
    let per_tick = (per_minute as f64 / 60.0 * TICK.as_secs_f64() / AGENTS as f64).max(1.0);
    let stored = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs + 1);
    let mut agents = Vec::new();
    for a in 0..AGENTS {
        let task = board
            .create_task(
                NewTask::titled(Title::parse(&format!("chatty {a}"))?),
                "bench",
            )
            .await?;
        let session = board
            .create_session(task.id, AgentId::parse("build-1")?, "bench".into())
            .await?;
        let (board, stored) = (board.clone(), stored.clone());
        agents.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            let mut owed = 0.0;
            while Instant::now() < deadline {
                tick.tick().await;
                owed += per_tick;
                let n = owed as usize;
                owed -= n as f64;
                let lines = (0..n)
                    .map(|i| {
                        (
                            LogKind::Output,
                            format!("agent {a} output line {i}: {}", "y".repeat(80)),
                        )
                    })
                    .collect();
                if board
                    .append_session_output(session.id, lines, None, None)
                    .await
                    .is_ok()
                {
                    stored.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        }));
    }
    let script = dir.join("post.lua");
    std::fs::write(&script, POST_LUA)?;
    let started = Instant::now();
    let wrk = tokio::process::Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{secs}s"), "--latency", "-s"])
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}/api/tasks"))
        .output()
        .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let lines = stored.load(Ordering::Relaxed);
    for agent in agents {
        agent.abort();
    }
    // Fails only if the server stopped already; what it ended with is said below.
    let _ = stop_tx.send(());
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => eprintln!("the harness ended with an error: {err:#}"),
        Err(err) => eprintln!("the harness's task ended abnormally: {err}"),
    }
    print!("{}", String::from_utf8_lossy(&wrk.stdout));
    println!(
        "mixed: {lines} log lines stored in {elapsed:.1} s = {:.0} lines/min",
        lines as f64 / elapsed * 60.0
    );
    Ok(())
}

const POST_LUA: &str = r#"wrk.method = "POST"
wrk.body = '{"title":"bench write"}'
wrk.headers["Content-Type"] = "application/json"
"#;
