//! `notifspec replay` (not implemented yet).

use crate::cmd::Status;

/// Arguments of `notifspec replay`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args) -> Status {
    eprintln!("notifspec replay: not implemented yet");
    Status::Error
}
