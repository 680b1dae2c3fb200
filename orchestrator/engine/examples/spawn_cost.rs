//! The cost of starting an agent command with the full sandbox, for `scripts/bench`
//! (case `spawn`): runs `true` through [`process::run`] with the server's real sandbox
//! (the default `SandboxConfig` plus `guard_ports` on a bound port, as `server.rs` does
//! after it binds: Landlock, the ports guard, limits, environment policy, and whatever
//! else the one spawn point applies) RUNS times and prints the median and p90 in
//! milliseconds. `SPAWN_COST_GUARD=0` measures without the ports guard;
//! `SPAWN_COST_NETNS=off|auto|require` sets the namespaces as `HARNESS_AGENT_NETNS`.
//!
//! `cargo run --release -p harness-engine --example spawn_cost [RUNS]` (default 100).
//! Exits 1 if a run fails, so a sandbox that refuses `true` is never timed as fast.

use std::time::{Duration, Instant};

use harness_engine::process::{self, CommandSpec};
use tokio_util::sync::CancellationToken;

/// Runs before the measured ones: page cache, the first fork of a fresh process.
const WARMUP: usize = 5;
/// Upper bound on RUNS, so a typo cannot start a run of hours.
const MAX_RUNS: usize = 100_000;

#[tokio::main]
async fn main() {
    let runs = match std::env::args().nth(1).map(|a| a.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=MAX_RUNS).contains(&n) => n,
        Some(_) => {
            eprintln!("usage: spawn_cost [RUNS], RUNS in 1..={MAX_RUNS}");
            std::process::exit(2);
        }
    };
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => {
            eprintln!("spawn_cost: cannot create a temp dir: {err}");
            std::process::exit(2);
        }
    };
    let mut spec = CommandSpec::new("true", Vec::<String>::new(), dir.path());
    // The port the server would own; held open while the runs go, as the server's is.
    let listener = std::net::TcpListener::bind("127.0.0.1:0");
    let guarded = std::env::var("SPAWN_COST_GUARD").map_or(true, |v| v != "0");
    // SPAWN_COST_NETNS=off|auto|require (default auto, as the server's): whether the
    // command runs in the worktree's own namespaces (needs the guard).
    let netns = std::env::var("SPAWN_COST_NETNS").unwrap_or_else(|_| "auto".into());
    spec.sandbox.netns.mode = match harness_engine::sandbox::net::NetnsMode::parse(&netns) {
        Some(mode) => mode,
        None => {
            eprintln!("spawn_cost: SPAWN_COST_NETNS must be off, auto or require");
            std::process::exit(2);
        }
    };
    if guarded {
        let port = match listener.as_ref().map(|l| l.local_addr()) {
            Ok(Ok(addr)) => addr.port(),
            _ => {
                eprintln!("spawn_cost: cannot bind a port to guard");
                std::process::exit(2);
            }
        };
        if let Err(err) = spec.sandbox.guard_ports(&[port]) {
            eprintln!("spawn_cost: cannot guard port {port}: {err}");
            std::process::exit(1);
        }
    }
    let cancel = CancellationToken::new();
    let mut times = Vec::with_capacity(runs);
    for i in 0..WARMUP + runs {
        let started = Instant::now();
        match process::run(&spec, &cancel, |_| {}).await {
            Ok(done) if done.termination.success() => {}
            Ok(done) => {
                eprintln!(
                    "spawn_cost: `true` ended with {}: {}",
                    done.termination.describe(),
                    done.tail
                );
                std::process::exit(1);
            }
            Err(err) => {
                eprintln!("spawn_cost: cannot start `true`: {err}");
                std::process::exit(1);
            }
        }
        if i >= WARMUP {
            times.push(started.elapsed());
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: usize| times[(times.len() * q / 100).min(times.len() - 1)];
    println!(
        "spawn: {runs} runs of `true` with the full sandbox{}, namespaces {netns}{}: median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        if guarded {
            " and the ports guard"
        } else {
            ", no ports guard"
        },
        if spec.sandbox.agents_have_netns() {
            " (in force)"
        } else {
            " (not in force)"
        },
        ms(at(50)),
        ms(at(90)),
        ms(times[times.len() - 1])
    );
}
