//! `notifspec bench` (not implemented yet).

use crate::cmd::Status;

/// Arguments of `notifspec bench`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: Args) -> Status {
    eprintln!("notifspec bench: not implemented yet");
    Status::Error
}
