//! Command-line definition (clap derive). Each subcommand's arguments live with the command
//! in `notifspec::cmd`, so this file only lists them.

use clap::{CommandFactory as _, Parser, Subcommand};
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
    /// List the step sentences a .feature file may use (for conform --features).
    Steps(cmd::steps::Args),
    /// Print a shell completion script: `notifspec completions bash > /etc/bash_completion.d/notifspec`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `notifspec man > notifspec.1`.
    Man,
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
            Command::Steps(a) => cmd::steps::run(a),
            Command::Completions { shell } => {
                // Into memory first: the generator panics on a closed stdout (`| head`).
                let mut script = Vec::new();
                clap_complete::generate(shell, &mut Cli::command(), "notifspec", &mut script);
                print_all("completions", &script)
            }
            Command::Man => {
                let mut page = Vec::new();
                match clap_mangen::Man::new(Cli::command()).render(&mut page) {
                    Ok(()) => print_all("man", &page),
                    Err(_) => Status::Error,
                }
            }
        }
    }
}

/// Writes `bytes` to stdout (a reader closing early is fine: [`cmd::printed`]).
fn print_all(command: &str, bytes: &[u8]) -> Status {
    use std::io::Write as _;
    cmd::printed(command, std::io::stdout().lock().write_all(bytes))
}

impl Command {
    /// The log level when `RUST_LOG` is unset: the server's connection lines are its output,
    /// while for the checking commands the embedded server's logs would only bury the verdicts.
    pub fn default_log_level(&self) -> &'static str {
        match self {
            Command::Serve(_) => "info",
            _ => "warn",
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default per command), so stdout stays for results.
pub fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
