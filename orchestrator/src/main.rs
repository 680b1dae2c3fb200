//! `harness`: the Parent Harness orchestrator binary. Everything lives in the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    harness::cli::Cli::parse().run()
}
