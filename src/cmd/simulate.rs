//! `notifspec simulate` (not implemented yet).

use crate::cmd::Status;

/// Arguments of `notifspec simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args) -> Status {
    eprintln!("notifspec simulate: not implemented yet");
    Status::Error
}
