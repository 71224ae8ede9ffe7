//! `notifspec client` (not implemented yet).

use crate::cmd::Status;

/// Arguments of `notifspec client`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args) -> Status {
    eprintln!("notifspec client: not implemented yet");
    Status::Error
}
