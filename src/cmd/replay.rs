//! `notifspec replay FILE...`: plays transcripts against a server (client role, the default)
//! or a client (`--role server`) and judges what comes back.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::cmd::{OutputFormat, Status};

use crate::publish_cmd::PublishCmd;
use crate::replay::{self, ClientTarget, Options, ReplayTarget, Replayed, ServerTarget};
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
    /// Or make items appear with this shell command, as `conform --publish-cmd` does:
    /// `{kind}` (random or classified) and `{text}` (the ad, the number, or empty) become
    /// quoted shell words; exit status 0 means published; each run is bounded by --timeout.
    #[arg(
        long,
        value_name = "CMD",
        requires = "server",
        conflicts_with = "control"
    )]
    pub publish_cmd: Option<String>,
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
    /// Write what really happened, one transcript per input, into this folder. A folder
    /// holding earlier results (`*.observed.txt`) is refused unless `--force`.
    #[arg(long, value_name = "DIR")]
    pub save_observed: Option<PathBuf>,
    /// Delete the earlier `*.observed.txt` results in the `--save-observed` folder first
    /// (nothing else there is touched).
    #[arg(long, requires = "save_observed")]
    pub force: bool,
    /// A folder a transcript's `dialect:` path may reach besides the transcript's own folder
    /// tree (repeatable; see docs/security.md).
    #[arg(long, value_name = "DIR")]
    pub allow_path: Vec<PathBuf>,
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
    let publish_cmd = match args.publish_cmd.as_deref().map(PublishCmd::new).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("notifspec replay: {e}");
            return Status::Error;
        }
    };
    let target = match (args.role, args.server) {
        (RoleArg::Client, Some(addr)) => ReplayTarget::Server(ServerTarget {
            addr,
            control: args.control,
            publish_cmd,
        }),
        (RoleArg::Client, None) => ReplayTarget::Embedded,
        (RoleArg::Server, Some(_)) => {
            eprintln!("notifspec replay: --server is for the client role; use --listen");
            return Status::Error;
        }
        (RoleArg::Server, None) => ReplayTarget::Client(ClientTarget {
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
    let jobs = if matches!(target, ReplayTarget::Client(_)) {
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
    opts.allowed = match crate::fsio::AllowedPaths::new(&args.allow_path) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("notifspec replay: --allow-path: {e}");
            return Status::Error;
        }
    };
    if let Some(dir) = &args.save_observed
        && let Err(e) = crate::fsio::prepare_output_dir(dir, replay::observed::is_ours, args.force)
    {
        eprintln!("notifspec replay: --save-observed: {e}");
        return Status::Error;
    }
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
    let stdout = std::io::stdout();
    let mut err = std::io::stderr();
    let mut summary = Summary {
        strict: args.strict,
        ..Summary::default()
    };
    let format = args.format;
    // Only an HTML report needs the results after they are printed (each holds a bounded
    // number of findings); without one, memory stays flat with the number of files.
    let keep = args.html.html.is_some();
    let mut results = Vec::new();
    let each = |r: Replayed| {
        summary.add(&r.result);
        let mut out = stdout.lock();
        let written = match format {
            OutputFormat::Text => r.result.write_text(&mut out, &mut err),
            OutputFormat::Json => r.result.write_json(&mut out),
        };
        if keep {
            results.push(r);
        }
        written.and_then(|()| out.flush()).is_ok()
    };
    // Ctrl-C and SIGTERM end the client command's process group too.
    let work = replay::replay_each(&args.files, &opts, jobs, each);
    match rt.block_on(crate::process::until_interrupted(work)) {
        None => {
            eprintln!("notifspec replay: interrupted");
            std::process::exit(crate::process::INTERRUPTED.into());
        }
        Some(false) => return Status::Error,
        Some(true) => {}
    }
    if args.format == OutputFormat::Text {
        let _ = writeln!(stdout.lock(), "{summary}");
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
