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
    /// (against an external server, the original only). A folder holding earlier results
    /// (`conn-N.txt`, `conn-N.shrunk.txt`) is refused unless `--force`.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Delete the earlier `conn-N*.txt` results in the `--out` folder first (nothing else
    /// there is touched).
    #[arg(long, requires = "out")]
    pub force: bool,
    /// A folder the scenario's `dialect:` path may reach besides the scenario's own folder
    /// tree (repeatable; see docs/security.md).
    #[arg(long, value_name = "DIR")]
    pub allow_path: Vec<PathBuf>,
    /// Most violating connections saved under `--out` (one per rule first).
    #[arg(long, value_name = "N", default_value_t = sim::MAX_SAVED)]
    pub max_saved: usize,
    /// Output format: `text` (a summary for people) or `json` (one JSON object).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Run for this long instead of the scenario's `duration` (e.g. `30s`: a 10-minute
    /// scenario against an external server otherwise takes 10 real minutes).
    #[arg(long, value_name = "D", value_parser = crate::cmd::parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// The HTML report (`--html FILE`).
    #[command(flatten)]
    pub html: crate::html::HtmlArgs,
}

/// Runs the command: 0 when no rule was violated, 1 when one was, 2 for bad input.
pub fn run(args: Args) -> Status {
    let loaded = match crate::fsio::AllowedPaths::new(&args.allow_path) {
        Ok(allowed) => LoadedScenario::from_file_allowing(&args.scenario, &allowed),
        Err(e) => {
            eprintln!("notifspec simulate: --allow-path: {e}");
            return Status::Error;
        }
    };
    let mut loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            eprintln!("notifspec simulate: {e}");
            return Status::Error;
        }
    };
    if let Some(dir) = &args.out
        && let Err(e) = crate::fsio::prepare_output_dir(dir, sim::is_ours, args.force)
    {
        eprintln!("notifspec simulate: --out: {e}");
        return Status::Error;
    }
    if let Some(d) = args.duration {
        if d.is_zero() {
            eprintln!("notifspec simulate: --duration must be longer than zero");
            return Status::Error;
        }
        loaded.scenario.duration = d;
    }
    if let Err(e) = args.html.precheck() {
        eprintln!("notifspec simulate: {e}");
        return Status::Error;
    }
    // The report draws the violating connections from their saved transcripts: without
    // --out they are saved in a private folder that is removed afterwards.
    let scratch = match (&args.html.html, &args.out) {
        (Some(_), None) => match crate::html::build::ScratchDir::new() {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("notifspec simulate: cannot create a folder for --html: {e}");
                return Status::Error;
            }
        },
        _ => None,
    };
    let out = args
        .out
        .clone()
        .or_else(|| scratch.as_ref().map(|s| s.path().to_path_buf()));
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
                sim::external::ExternalServer { server, control },
                seed,
                out.clone(),
                args.max_saved,
                progress,
            ))
        }
        _ => {
            let mut opts = SimOptions::new(seed);
            opts.out = out.clone();
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
    let mut report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "notifspec simulate: {}",
                crate::escape::printable(&e.to_string())
            );
            return Status::Error;
        }
    };
    if let Err(e) = args
        .html
        .write(|| crate::html::build::simulate(&report, &loaded.dialect))
    {
        eprintln!("notifspec simulate: {e}");
        return Status::Error;
    }
    if scratch.is_some() {
        // Saved only for the HTML report: the text and JSON reports stay as without --html.
        report.saved.clear();
    }
    drop(scratch);
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

/// A progress bar on stderr (`indicatif`, which limits its own redraws); only made when
/// stderr is a terminal.
fn progress_bar() -> Box<dyn FnMut(f64)> {
    let bar = indicatif::ProgressBar::new(1000);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "[{bar:20}] {percent:>3}% simulated, {elapsed} elapsed",
    ) {
        bar.set_style(style.progress_chars("#> "));
    }
    Box::new(move |done: f64| {
        bar.set_position((done.clamp(0.0, 1.0) * 1000.0) as u64);
        if done >= 1.0 {
            bar.finish_and_clear();
        }
    })
}
