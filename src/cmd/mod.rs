//! One module per subcommand: its clap arguments and a `run` that returns the exit status.
//! `main.rs` only parses and dispatches, so every command is also callable from tests.

use std::process::ExitCode;

pub mod bench;
pub mod check;
pub mod client;
pub mod conform;
pub mod proxy;
pub mod replay;
pub mod serve;
pub mod simulate;
pub mod steps;

/// Exit statuses shared by every command, so a CI script can rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything checked passed.
    Pass = 0,
    /// A rule was violated (or a run found a failure).
    Fail = 1,
    /// Bad input, bad arguments, or the target could not be reached.
    Error = 2,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(s as u8)
    }
}

/// How a command prints its results (`--format`): one type for every command, so the flag
/// reads the same everywhere and scripts can rely on `json` wherever there is output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// For scripts.
    Json,
}

/// A multi-threaded tokio runtime for commands that do network IO.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Parses a duration such as `2s`, `500ms` or `1m` (clap value parser).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); try `2s` or `500ms`"))
}
