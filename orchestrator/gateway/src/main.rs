//! `harness-gateway`: the dashboard gateway alone, for the dashboard image.

use clap::Parser;

fn main() -> std::process::ExitCode {
    harness_gateway::cli::GatewayCli::parse().run()
}
