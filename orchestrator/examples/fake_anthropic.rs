//! The Messages API stand-in of the tests as a program, for container tests
//! (`scripts/docker-e2e-executor`): `fake_anthropic [ADDR]` (default 0.0.0.0:8082).
//!
//! It accepts the key `fake_anthropic::API_KEY` and streams real Messages API events.
//! Each answer follows from the request, so attempts running at once cannot take each
//! other's turns: a conversation whose text holds `e2e-hang` gets a stream that never
//! ends; any other first turn writes `widget.txt` with `write_file`, and the turn after
//! a tool result calls `complete_task`. A conversation holding `e2e-ask` asks a human
//! after writing `widget.txt`, then, resumed with the answer, writes `answered.txt`
//! with it before completing. Stops on SIGTERM/SIGINT.

use harness_testkit::fake_anthropic;

use std::net::SocketAddr;

use fake_anthropic::{Reply, Scripted};
use serde_json::{Value, json};

/// Marks a task whose agent must hang mid-turn.
const HANG: &str = "e2e-hang";
/// Marks a task whose agent asks a human halfway.
const ASK: &str = "e2e-ask";

fn respond(body: &Value) -> Scripted {
    if body.to_string().contains(HANG) {
        return Scripted::Hang;
    }
    let turns = body["messages"]
        .as_array()
        .map_or(0, |m| m.iter().filter(|m| m["role"] == "assistant").count());
    if body.to_string().contains(ASK) {
        return asking(body, turns);
    }
    if turns == 0 {
        Reply::tool(
            "write_file",
            json!({"path": "widget.txt", "content": "made by the agent in its container\n"}),
        )
    } else {
        Reply::tool("complete_task", json!({"summary": "widget.txt is written"}))
    }
}

/// The asking agent's turns; the third comes from a worker that resumed the
/// conversation, whose last tool result is the human's answer.
fn asking(body: &Value, turns: usize) -> Scripted {
    match turns {
        0 => Reply::tool(
            "write_file",
            json!({"path": "widget.txt", "content": "made by the agent before its question\n"}),
        ),
        1 => Reply::tool("ask_human", json!({"question": "e2e: which colour?"})),
        2 => {
            let answer = body["messages"]
                .as_array()
                .and_then(|m| m.last())
                .map(|m| m["content"].to_string())
                .unwrap_or_default();
            let content = format!("resumed with the answer: {answer}\n");
            Reply::tool(
                "write_file",
                json!({"path": "answered.txt", "content": content}),
            )
        }
        _ => Reply::tool("complete_task", json!({"summary": "asked, answered, done"})),
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
    harness::base::listen::shutdown_signal().await;
}
