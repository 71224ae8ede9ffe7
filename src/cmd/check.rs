//! `notifspec check PATH...`: judges transcripts offline (the work is in
//! [`crate::check_files`]).
//!
//! Each file is streamed ([`crate::transcript::Reader`]): front matter first, then entry by entry into the
//! checker, so a recording of millions of lines is checked in constant memory.

use std::io::Write;
use std::path::PathBuf;

use crate::check_files::{check_in_order, collect};
use crate::cmd::{OutputFormat, Status};
use crate::dialect::Dialect;
use crate::fsio::AllowedPaths;
use crate::report::Summary;

/// Arguments of `notifspec check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Transcript files, or folders searched recursively for files ending in `.txt` or
    /// `.transcript` (in sorted order).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format: `text` (verdict lines and `file:line: RULE-ID: sentence`, then a
    /// summary) or `json` (one JSON object per file, one per line).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Dialect (built-in name or YAML file) for transcripts whose front matter names none.
    #[arg(long)]
    pub dialect: Option<String>,
    /// A folder a transcript's `dialect:` path may reach besides the transcript's own folder
    /// tree (repeatable; see docs/security.md).
    #[arg(long, value_name = "DIR")]
    pub allow_path: Vec<PathBuf>,
    /// The HTML report (`--html FILE`).
    #[command(flatten)]
    pub html: crate::html::HtmlArgs,
    /// Files checked at once, each on its own thread (`0`: one per core). The output is the
    /// same as with one: in the order the files are named or found.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
}

/// Runs the command: 0 when every transcript gets its expected verdict, 1 when one does not,
/// 2 when one cannot be read.
pub fn run(args: Args) -> Status {
    let fallback = match &args.dialect {
        Some(d) => match Dialect::load(d, None) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("notifspec check: --dialect: {e}");
                return Status::Error;
            }
        },
        None => Dialect::default(),
    };
    let allowed = match AllowedPaths::new(&args.allow_path) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("notifspec check: --allow-path: {e}");
            return Status::Error;
        }
    };
    if let Err(e) = args.html.precheck() {
        eprintln!("notifspec check: {e}");
        return Status::Error;
    }
    // Kept only for the HTML report (each result holds a bounded number of violations).
    let mut kept = Vec::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut err = std::io::stderr();
    let mut summary = Summary::default();
    let files: Vec<_> = args
        .paths
        .iter()
        .flat_map(|p| collect(p, &allowed))
        .collect();
    let jobs = match args.jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let mut closed = false;
    let keep = args.html.html.is_some();
    check_in_order(files, jobs, &fallback, &allowed, |result| {
        summary.add(&result);
        if keep {
            kept.push(result.clone());
        }
        let written = match args.format {
            OutputFormat::Text => result.write_text(&mut out, &mut err),
            OutputFormat::Json => result.write_json(&mut out),
        };
        // stdout closed (e.g. piped into `head`): nothing more can be reported.
        closed = written.is_err();
        !closed
    });
    if closed {
        return Status::Error;
    }
    if args.format == OutputFormat::Text {
        let _ = writeln!(out, "{summary}");
    }
    if let Err(e) = args
        .html
        .write(|| crate::html::build::check(&kept, &summary, &fallback))
    {
        eprintln!("notifspec check: {e}");
        return Status::Error;
    }
    summary.status()
}
