//! Command-line definition (clap derive). Each subcommand's arguments live with the command
//! in `notifspec::cmd`, so this file only lists them.

use clap::{Parser, Subcommand};
use notifspec::cmd::{self, Status};

/// Conformance test harness and simulator for the notif line protocol.
#[derive(Debug, Parser)]
#[command(name = "notifspec", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check transcripts against the rules (offline).
    Check(cmd::check::Args),
    /// Run the reference server.
    Serve(Box<cmd::serve::Args>),
    /// Run the reference client.
    Client(cmd::client::Args),
    /// Replay transcripts against a server or a client.
    Replay(cmd::replay::Args),
    /// A checking, recording proxy between a client and a server.
    Proxy(cmd::proxy::Args),
    /// Drive many simulated clients with faults, deterministically.
    Simulate(cmd::simulate::Args),
    /// Run the conformance suite: the CI gate.
    Conform(cmd::conform::Args),
    /// Measure the reference server against baselines.
    Bench(cmd::bench::Args),
}

impl Command {
    /// Runs the chosen subcommand.
    pub fn run(self) -> Status {
        match self {
            Command::Check(a) => cmd::check::run(a),
            Command::Serve(a) => cmd::serve::run(*a),
            Command::Client(a) => cmd::client::run(a),
            Command::Replay(a) => cmd::replay::run(a),
            Command::Proxy(a) => cmd::proxy::run(a),
            Command::Simulate(a) => cmd::simulate::run(a),
            Command::Conform(a) => cmd::conform::run(a),
            Command::Bench(a) => cmd::bench::run(a),
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `info`), so stdout stays for results.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
