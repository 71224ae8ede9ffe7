//! `notifspec simulate SCENARIO.yaml`: many simulated clients, faults and races against the
//! embedded reference server on a virtual clock (deterministic by seed), or against an
//! external server in real time over TCP.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use crate::cmd::{OutputFormat, Status};
use crate::sim::{self, LoadedScenario, SimOptions};

/// Arguments of `notifspec simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario (YAML; see `scenarios/` for commented examples).
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// Seed of every random choice; the same scenario and seed give the same run (default:
    /// the scenario's `seed`, or 0).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run against this server over TCP, in real time, instead of the embedded one.
    #[arg(long, value_name = "ADDR", requires = "control")]
    pub server: Option<SocketAddr>,
    /// The external server's control port (needed to publish items).
    #[arg(long, value_name = "ADDR", requires = "server")]
    pub control: Option<SocketAddr>,
    /// Save a transcript of each violating connection here: the original and a shrunk one
    /// (against an external server, the original only).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Most violating connections saved under `--out` (one per rule first).
    #[arg(long, value_name = "N", default_value_t = sim::MAX_SAVED)]
    pub max_saved: usize,
    /// Output format: `text` (a summary for people) or `json` (one JSON object).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// Runs the command: 0 when no rule was violated, 1 when one was, 2 for bad input.
pub fn run(args: Args) -> Status {
    let loaded = match LoadedScenario::from_file(&args.scenario) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("notifspec simulate: {e}");
            return Status::Error;
        }
    };
    let seed = args.seed.or(loaded.scenario.seed).unwrap_or(0);
    let started = Instant::now();
    let progress = std::io::stderr().is_terminal().then(progress_bar);
    let result = match (args.server, args.control) {
        (Some(server), Some(control)) => {
            let Ok(rt) = crate::cmd::runtime() else {
                eprintln!("notifspec simulate: cannot start the async runtime");
                return Status::Error;
            };
            rt.block_on(sim::external::run(
                &loaded,
                sim::external::Target { server, control },
                seed,
                args.out.clone(),
                args.max_saved,
                progress,
            ))
        }
        _ => {
            let mut opts = SimOptions::new(seed);
            opts.out = args.out.clone();
            opts.max_saved = args.max_saved;
            opts.progress = progress;
            sim::simulate(&loaded, opts)
        }
    };
    if std::io::stderr().is_terminal() {
        eprintln!(
            "\r\x1b[2Kdone in {:.2}s of wall-clock time",
            started.elapsed().as_secs_f64()
        );
    }
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "notifspec simulate: {}",
                crate::escape::printable(&e.to_string())
            );
            return Status::Error;
        }
    };
    let text = match args.format {
        // Peer bytes quoted in findings reach the terminal escaped.
        OutputFormat::Text => crate::escape::terminal(&report.to_text()).into_owned(),
        OutputFormat::Json => report.to_json() + "\n",
    };
    if std::io::stdout().lock().write_all(text.as_bytes()).is_err() {
        return Status::Error;
    }
    if report.passed() {
        Status::Pass
    } else {
        Status::Fail
    }
}

/// A one-line progress bar on stderr, redrawn only when the percentage changes.
fn progress_bar() -> Box<dyn FnMut(f64)> {
    let mut last = u32::MAX;
    Box::new(move |done: f64| {
        let pct = (done.clamp(0.0, 1.0) * 100.0) as u32;
        if pct != last {
            last = pct;
            let filled = (pct / 5) as usize;
            eprint!(
                "\r[{}{}] {pct:3}% simulated",
                "#".repeat(filled),
                " ".repeat(20 - filled)
            );
        }
    })
}
