//! `notifspec check` (not implemented yet).

use crate::cmd::Status;

/// Arguments of `notifspec check`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args) -> Status {
    eprintln!("notifspec check: not implemented yet");
    Status::Error
}
