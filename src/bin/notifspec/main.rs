//! The `notifspec` command: parse arguments, dispatch to [`notifspec::cmd`], exit.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    cli::init_logging(cli.command.default_log_level());
    cli.command.run().into()
}
