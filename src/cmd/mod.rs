//! One module per subcommand: its clap arguments and a `run` that returns the exit status.
//! `main.rs` only parses and dispatches, so every command is also callable from tests.

pub mod bench;
pub mod check;
pub mod client;
pub mod conform;
pub mod proxy;
pub mod replay;
pub mod serve;
pub mod simulate;
pub mod steps;

pub use crate::report::Status;

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

pub use crate::units::{MAX_DURATION, parse_duration};

/// The status of a command whose whole job is to print: a reader that closes the pipe early
/// (`notifspec steps | head`) took what it wanted, as with any Unix listing tool, so that is
/// not an error; any other failed write is, and says why on stderr.
pub fn printed(command: &str, written: std::io::Result<()>) -> Status {
    match written {
        Ok(()) => Status::Pass,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Status::Pass,
        Err(e) => {
            eprintln!("notifspec {command}: cannot write the output: {e}");
            Status::Error
        }
    }
}
