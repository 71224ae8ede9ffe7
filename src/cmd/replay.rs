//! `notifspec replay FILE...`: plays transcripts against a server (client role, the default)
//! or a client (`--role server`) and judges what comes back.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use crate::cmd::{OutputFormat, Status};
use crate::replay::{self, ClientTarget, Options, ServerTarget, Target};
use crate::report::Summary;

/// Which side notifspec plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    /// notifspec sends the `C:` lines to a server.
    Client,
    /// notifspec sends the `S:` lines to a client that connects.
    Server,
}

/// Arguments of `notifspec replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Transcript files to replay.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Which side notifspec plays.
    #[arg(long, value_enum, default_value_t = RoleArg::Client)]
    pub role: RoleArg,
    /// The server under test (client role). Without it, an embedded reference server is
    /// started for each transcript.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["listen", "client_cmd"])]
    pub server: Option<String>,
    /// The control port of the server under test, to make items appear when the transcript
    /// expects notifications.
    #[arg(long, value_name = "ADDR", requires = "server")]
    pub control: Option<String>,
    /// Where to listen for the client under test (server role).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Starts the client under test (server role); `{addr}` is replaced by the listening
    /// address, and the client is stopped at the end.
    #[arg(long, value_name = "CMD")]
    pub client_cmd: Option<String>,
    /// Dialect (built-in name or YAML file) for every transcript, overriding front matter.
    #[arg(long)]
    pub dialect: Option<String>,
    /// Values the recording could not predict must match exactly, and DIVERGED is a failure.
    #[arg(long)]
    pub strict: bool,
    /// Bound on every wait (an expected line, a connection, a close).
    #[arg(long, value_parser = crate::cmd::parse_duration, default_value = "2s")]
    pub timeout: Duration,
    /// Transcripts replayed at once, each on its own connection (client role).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Write what really happened, one transcript per input, into this folder.
    #[arg(long, value_name = "DIR")]
    pub save_observed: Option<PathBuf>,
    /// Output format: `text` (verdict lines and `file:line: RULE-ID: sentence`, then a
    /// summary) or `json` (one JSON object per run, one per line).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// The HTML report (`--html FILE`).
    #[command(flatten)]
    pub html: crate::html::HtmlArgs,
}

/// Runs the command: 0 when every transcript passes (or diverges, unless `--strict`), 1 when
/// one fails, 2 when one cannot be replayed.
pub fn run(args: Args) -> Status {
    let target = match (args.role, args.server) {
        (RoleArg::Client, Some(addr)) => Target::Server(ServerTarget {
            addr,
            control: args.control,
        }),
        (RoleArg::Client, None) => Target::Embedded,
        (RoleArg::Server, Some(_)) => {
            eprintln!("notifspec replay: --server is for the client role; use --listen");
            return Status::Error;
        }
        (RoleArg::Server, None) => Target::Client(ClientTarget {
            listen: args.listen,
            client_cmd: args.client_cmd,
        }),
    };
    if let Err(e) = args.html.precheck() {
        eprintln!("notifspec replay: {e}");
        return Status::Error;
    }
    if args.timeout.is_zero() {
        eprintln!("notifspec replay: --timeout must be longer than zero");
        return Status::Error;
    }
    if let Some(d) = &args.dialect
        && let Err(e) = crate::dialect::Dialect::load(d, None)
    {
        eprintln!("notifspec replay: --dialect: {e}");
        return Status::Error;
    }
    // One listening address cannot serve several replays at once.
    let jobs = if matches!(target, Target::Client(_)) {
        1
    } else {
        args.jobs
    };
    let mut opts = Options::new(target);
    let dialect = match &args.dialect {
        Some(d) => crate::dialect::Dialect::load(d, None).unwrap_or_default(),
        None => crate::dialect::Dialect::default(),
    };
    opts.dialect = args.dialect;
    opts.strict = args.strict;
    opts.timeout = args.timeout;
    opts.save_observed = args.save_observed;
    // One thread: replays are IO-bound (`--jobs` interleaves them), and an embedded server
    // on the same thread has set a connection up by the time replay sees it counted.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("notifspec replay: cannot start the runtime: {e}");
            return Status::Error;
        }
    };
    let results = if jobs > 1 && args.files.len() > 1 && std::io::stderr().is_terminal() {
        rt.block_on(with_progress(&args.files, &opts, jobs))
    } else {
        rt.block_on(replay::replay_files(&args.files, &opts, jobs))
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut err = std::io::stderr();
    let mut summary = Summary {
        strict: args.strict,
        ..Summary::default()
    };
    for r in &results {
        summary.add(&r.result);
        let written = match args.format {
            OutputFormat::Text => r.result.write_text(&mut out, &mut err),
            OutputFormat::Json => r.result.write_json(&mut out),
        };
        if written.is_err() {
            return Status::Error;
        }
    }
    if args.format == OutputFormat::Text {
        let _ = writeln!(out, "{summary}");
    }
    if let Err(e) = args
        .html
        .write(|| crate::html::build::replay(&results, &summary, &dialect))
    {
        eprintln!("notifspec replay: {e}");
        return Status::Error;
    }
    summary.status()
}

/// [`replay::replay_files`] with a progress bar on stderr (`indicatif`): many files replayed
/// at once can take a while, and the verdicts are printed in order only at the end.
async fn with_progress(files: &[PathBuf], opts: &Options, jobs: usize) -> Vec<replay::Replayed> {
    use futures::StreamExt as _;
    let bar = indicatif::ProgressBar::new(files.len() as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("[{bar:20}] {pos}/{len} replayed") {
        bar.set_style(style.progress_chars("#> "));
    }
    let results = futures::stream::iter(files)
        .map(|p| replay::replay_file(p, opts))
        .buffered(jobs)
        .inspect(|_| bar.inc(1))
        .collect()
        .await;
    bar.finish_and_clear();
    results
}
