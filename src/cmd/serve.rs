//! `notifspec serve` (not implemented yet).

use crate::cmd::Status;

/// Arguments of `notifspec serve`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args) -> Status {
    eprintln!("notifspec serve: not implemented yet");
    Status::Error
}
