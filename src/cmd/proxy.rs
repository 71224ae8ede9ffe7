//! `notifspec proxy` (not implemented yet).

use crate::cmd::Status;

/// Arguments of `notifspec proxy`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args) -> Status {
    eprintln!("notifspec proxy: not implemented yet");
    Status::Error
}
