//! Load helpers for `scripts/bench`: seed tasks, and measure WebSocket fan-out.
//!
//! `cargo run --release --example load -- seed URL N`: creates N tasks, 32 at a time.
//! `cargo run --release --example load -- fanout URL CLIENTS MESSAGES`: connects CLIENTS
//! WebSockets, creates MESSAGES tasks one by one, and prints, per message, the fan-out
//! delay (from the first client receiving it to each other client) and the end-to-end
//! delay (from sending the POST, which includes the durable write, to each client).

use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream::FuturesUnordered};
use tokio::sync::mpsc;
use tokio_tungstenite::{connect_async, tungstenite::Message};

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
        _ => anyhow::bail!("usage: load seed URL N | load fanout URL CLIENTS MESSAGES"),
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

async fn fanout(url: &str, clients: usize, messages: usize) -> anyhow::Result<()> {
    let ws_url = url.replace("http://", "ws://") + "/ws";
    let (tx, mut rx) = mpsc::channel::<(String, Instant)>(clients * messages + 16);
    for _ in 0..clients {
        let (mut socket, _) = connect_async(&ws_url).await?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message {
                    let received = Instant::now();
                    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    if value["type"] == "task.created" {
                        let title = value["data"]["title"].as_str().unwrap_or("").to_owned();
                        if tx.send((title, received)).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    drop(tx);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = harness::http_client::client(harness::http_client::Timeouts {
        connect: Duration::from_secs(10),
        request: Some(Duration::from_secs(30)),
    })?;
    let mut spread = Vec::with_capacity(clients * messages);
    let mut end_to_end = Vec::with_capacity(clients * messages);
    for i in 0..messages {
        let title = format!("fanout {i}");
        let sent = Instant::now();
        client
            .post(format!("{url}/api/tasks"))
            .body(format!(r#"{{"title":"{title}"}}"#))
            .send()
            .await?
            .error_for_status()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut arrivals = Vec::with_capacity(clients);
        while arrivals.len() < clients {
            let got = arrivals.len();
            let Ok(Some((seen, at))) = tokio::time::timeout_at(deadline.into(), rx.recv()).await
            else {
                anyhow::bail!("only {got} of {clients} clients received message {i}");
            };
            if seen == title {
                arrivals.push(at);
            }
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

fn ms(values: &mut [Duration], q: f64) -> f64 {
    values.sort();
    let i = ((values.len() as f64 * q) as usize).min(values.len().saturating_sub(1));
    values.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}
