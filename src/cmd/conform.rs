//! `notifspec conform` (not implemented yet).

use crate::cmd::Status;

/// Arguments of `notifspec conform`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args) -> Status {
    eprintln!("notifspec conform: not implemented yet");
    Status::Error
}
