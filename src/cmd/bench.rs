//! `notifspec bench`: measures the reference server side by side with its baselines and
//! prints tables of medians with the ratios issue 7 sets as targets. See
//! [`crate::bench`] and `docs/performance.md`.

use std::net::SocketAddr;

use crate::bench::{self, Plan, Which};
use crate::cmd::{OutputFormat, Status};

/// Arguments of `notifspec bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A smoke run of about half a minute: smaller counts, one run unless --runs is given.
    #[arg(long)]
    pub quick: bool,
    /// Runs per figure; the median is reported [default: 5, or 1 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub runs: Option<u64>,
    /// Only these measurements (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Which>,
    /// Output format: `text` (aligned tables) or `json` (one document, for scripts tracking
    /// figures over time).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Internal: serve the floor (a constant-answer line server) on ADDR until stdin closes.
    #[arg(long, hide = true, value_name = "ADDR")]
    pub serve_floor: Option<SocketAddr>,
}

/// Runs the command.
pub fn run(args: Args) -> Status {
    let rt = match crate::cmd::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("notifspec bench: cannot start the runtime: {e}");
            return Status::Error;
        }
    };
    if let Some(addr) = args.serve_floor {
        return match rt.block_on(bench::floor::serve(addr)) {
            Ok(()) => Status::Pass,
            Err(e) => {
                eprintln!("notifspec bench: floor server on {addr}: {e}");
                Status::Error
            }
        };
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("notifspec bench: cannot find its own binary: {e}");
            return Status::Error;
        }
    };
    let mut plan = if args.quick {
        Plan::quick(exe)
    } else {
        Plan::full(exe)
    };
    if let Some(runs) = args.runs {
        plan.runs = runs as usize;
    }
    if !args.only.is_empty() {
        plan.only = args.only;
    }
    let (tables, failed) = rt.block_on(bench::run(&plan));
    match args.format {
        OutputFormat::Text => {
            for t in &tables {
                println!("{}", t.to_text());
            }
        }
        OutputFormat::Json => {
            let doc = serde_json::json!({ "runs": plan.runs, "tables": tables });
            match serde_json::to_string_pretty(&doc) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("notifspec bench: cannot write JSON: {e}");
                    return Status::Error;
                }
            }
        }
    }
    if failed { Status::Error } else { Status::Pass }
}
