//! The Messages API stand-in of the tests as a program, for container tests
//! (`scripts/docker-e2e-executor`): `fake_anthropic [ADDR]` (default 0.0.0.0:8082).
//!
//! It accepts the key `fake_anthropic::API_KEY` and streams real Messages API events.
//! Each answer follows from the request, so attempts running at once cannot take each
//! other's turns: a conversation whose text holds `e2e-hang` gets a stream that never
//! ends; any other first turn writes `widget.txt` with `write_file`, and the turn after
//! a tool result calls `complete_task`. Stops on SIGTERM/SIGINT.

#[path = "../tests/support/fake_anthropic.rs"]
mod fake_anthropic;

use std::net::SocketAddr;

use fake_anthropic::{Reply, Scripted};
use serde_json::{Value, json};

/// Marks a task whose agent must hang mid-turn.
const HANG: &str = "e2e-hang";

fn respond(body: &Value) -> Scripted {
    if body.to_string().contains(HANG) {
        return Scripted::Hang;
    }
    let turns = body["messages"]
        .as_array()
        .map_or(0, |m| m.iter().filter(|m| m["role"] == "assistant").count());
    if turns == 0 {
        Reply::tool(
            "write_file",
            json!({"path": "widget.txt", "content": "made by the agent in its container\n"}),
        )
    } else {
        Reply::tool("complete_task", json!({"summary": "widget.txt is written"}))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr: SocketAddr = match std::env::args()
        .nth(1)
        .unwrap_or_else(|| "0.0.0.0:8082".into())
        .parse()
    {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("fake_anthropic: ADDR must be host:port ({e})");
            std::process::exit(2);
        }
    };
    let fake = fake_anthropic::FakeAnthropic::start_on(addr, Vec::new(), Some(respond)).await;
    println!("fake anthropic listening on {}", fake.base_url);
    harness::server::shutdown_signal().await;
}
