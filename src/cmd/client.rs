//! `notifspec client`: the seed's typical client, for people watching a server.
//!
//! It connects, fetches the items it is interested in, enters notification mode, and for each
//! notification either answers `OK` (a kind it does not care about) or leaves the mode,
//! fetches the item, prints it and enters again. One line per event, stamped with the time
//! since start, so a person can follow the conversation. With `--keepalive` it leaves and
//! re-enters the mode before a quiet period that long, so a server's idle timeout never fires
//! (the seed's origin does this with a timer).
//!
//! Exit status: 0 after `--count` notifications (or Ctrl-C), 1 when the server breaks a rule,
//! 2 when the connection fails (refused, closed, timed out) or the arguments are bad.

use crate::escape::printable;
use std::io::Write;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::cmd::{Status, parse_duration};
use crate::dialect::{DEFAULT_DIALECT, Dialect, ItemKind};
use crate::net::client::{Client, ClientError, ClientOptions, NotifSession};
use crate::proto::client::Reply;

/// Arguments of `notifspec client`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The server to connect to.
    #[arg(long, default_value = "127.0.0.1:6789")]
    pub server: String,
    /// Dialect: a built-in name or a YAML file.
    #[arg(long, default_value = DEFAULT_DIALECT)]
    pub dialect: String,
    /// Kinds to fetch when announced (comma-separated); others are answered with OK.
    #[arg(long, value_delimiter = ',', default_value = "random")]
    pub interest: Vec<ItemKind>,
    /// Exit (status 0) after this many notifications.
    #[arg(long)]
    pub count: Option<u64>,
    /// The longest wait for a reply, an acknowledgement or a write.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Leave and re-enter notification mode after this long without traffic, to outlive a
    /// server-side idle timeout.
    #[arg(long, value_parser = parse_duration)]
    pub keepalive: Option<Duration>,
    /// One line per event: `text` (`+1.234s notif: random`) or `json`
    /// (`{"at":1.234,"event":"notif: random"}`).
    #[arg(long, value_enum, default_value_t = crate::cmd::OutputFormat::Text)]
    pub format: crate::cmd::OutputFormat,
}

/// Runs the command.
pub fn run(args: Args) -> Status {
    if args.timeout.is_zero() || args.keepalive.is_some_and(|k| k.is_zero()) {
        eprintln!("error: --timeout and --keepalive must be longer than zero");
        return Status::Error;
    }
    let dialect = match Dialect::load(&args.dialect, None) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return Status::Error;
        }
    };
    let rt = match crate::cmd::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return Status::Error;
        }
    };
    let mut out = std::io::stdout();
    let outcome = rt.block_on(async {
        tokio::select! {
            r = watch(&args, dialect, &mut out) => r,
            _ = interrupted() => Ok(()),
        }
    });
    match outcome {
        Ok(()) => Status::Pass,
        Err(e) => {
            // The error may quote the server's line: escaped, like every line shown.
            eprintln!("error: {}", printable(&e.to_string()));
            exit_status(&e)
        }
    }
}

/// Completes on Ctrl-C; never, if the handler cannot be installed (the client then runs
/// until `--count` or an error, rather than stopping at once).
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The exit status for an error: a rule broken by the server is a failure, anything else
/// (network, timeout, refusal, usage) is trouble reaching a verdict.
pub fn exit_status(e: &ClientError) -> Status {
    match e {
        ClientError::Protocol { .. } => Status::Fail,
        _ => Status::Error,
    }
}

/// Connects to `args.server` and follows the notifications, writing one line per event to
/// `out`; returns when `--count` notifications were seen.
pub async fn watch(args: &Args, dialect: Dialect, out: &mut impl Write) -> Result<(), ClientError> {
    let start = Instant::now();
    let opts = ClientOptions {
        timeout: args.timeout,
    };
    let name = dialect.name.clone();
    let client = Client::connect(args.server.as_str(), dialect, opts)
        .await
        .map_err(|e| match e {
            ClientError::Io(io) => ClientError::Io(std::io::Error::new(
                io.kind(),
                format!("cannot connect to {}: {io}", args.server),
            )),
            other => other,
        })?;
    Log {
        start,
        out: &mut *out,
        json: args.format == crate::cmd::OutputFormat::Json,
    }
    .say(format_args!(
        "connected to {} (dialect {name})",
        args.server
    ));
    follow(client, args, start, out).await
}

/// Timestamped event lines. A failed write to stdout (a closed pipe) is ignored: the
/// conversation's outcome, reported by the exit status, does not depend on it.
struct Log<'a, W> {
    start: Instant,
    out: &'a mut W,
    json: bool,
}

impl<W: Write> Log<'_, W> {
    fn say(&mut self, what: std::fmt::Arguments<'_>) {
        let t = self.start.elapsed().as_secs_f64();
        let _ = if self.json {
            let at = (t * 1000.0).round() / 1000.0;
            let line = serde_json::json!({ "at": at, "event": what.to_string() });
            writeln!(self.out, "{line}")
        } else {
            writeln!(self.out, "+{t:.3}s {what}")
        };
        let _ = self.out.flush();
    }
}

/// The seed's usage over an established connection (any stream, so tests drive it over an
/// in-memory duplex under a paused clock); event times are offsets from `start`.
pub async fn follow<S, W>(
    mut client: Client<S>,
    args: &Args,
    start: Instant,
    out: &mut W,
) -> Result<(), ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    W: Write,
{
    let log = &mut Log {
        start,
        out,
        json: args.format == crate::cmd::OutputFormat::Json,
    };
    let mut interest = args.interest.clone();
    interest.sort();
    interest.dedup();
    for kind in &interest {
        fetch(&mut client, *kind, log).await?;
    }
    let mut seen = 0u64;
    loop {
        let mut mode = client.notify().await?;
        log.say(format_args!("notification mode entered"));
        let (mut wanted, mut done) = in_mode(&mut mode, args, &interest, &mut seen, log).await?;
        let (back, crossed) = mode.stop().await?;
        for kind in crossed {
            seen += 1;
            let fetching = interest.contains(&kind);
            log.say(format_args!(
                "notif: {kind} (crossed stop_notif{})",
                if fetching { ", fetch" } else { "" }
            ));
            if fetching && !wanted.contains(&kind) {
                wanted.push(kind);
            }
        }
        // A notification that crossed the stop counts too: otherwise a run whose last
        // notification crosses a keep-alive stop would never end.
        done |= args.count.is_some_and(|n| seen >= n);
        log.say(format_args!("notification mode left"));
        client = back;
        for kind in wanted {
            fetch(&mut client, kind, log).await?;
        }
        if done {
            return Ok(());
        }
    }
}

/// Stays in the mode until an interesting notification, the keep-alive deadline or the
/// count. Returns the kinds to fetch once out of the mode, and whether `--count` is reached;
/// the mode is still open (the caller stops it, which answers any outstanding notification).
async fn in_mode<S, W>(
    mode: &mut NotifSession<S>,
    args: &Args,
    interest: &[ItemKind],
    seen: &mut u64,
    log: &mut Log<'_, W>,
) -> Result<(Vec<ItemKind>, bool), ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    W: Write,
{
    let mut last_traffic = Instant::now();
    loop {
        let wait = match args.keepalive {
            Some(k) => k.saturating_sub(last_traffic.elapsed()),
            None => args.timeout,
        };
        let Some(kind) = mode.next_timeout(wait).await? else {
            if let Some(k) = args.keepalive {
                log.say(format_args!(
                    "keepalive: quiet for {}, leaving and re-entering the mode",
                    humantime::format_duration(k)
                ));
                return Ok((vec![], false));
            }
            log.say(format_args!(
                "no notification for {}, still waiting",
                humantime::format_duration(args.timeout)
            ));
            last_traffic = Instant::now();
            continue;
        };
        *seen += 1;
        last_traffic = Instant::now();
        let done = args.count.is_some_and(|n| *seen >= n);
        if interest.contains(&kind) {
            log.say(format_args!("notif: {kind} -> stop, fetch"));
            return Ok((vec![kind], done));
        }
        if done {
            log.say(format_args!(
                "notif: {kind} (not interested; count reached: stop)"
            ));
            return Ok((vec![], true));
        }
        mode.ack().await?;
        log.say(format_args!("notif: {kind} (not interested: OK)"));
    }
}

async fn fetch<S, W>(
    client: &mut Client<S>,
    kind: ItemKind,
    log: &mut Log<'_, W>,
) -> Result<(), ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    W: Write,
{
    match client.fetch(kind).await? {
        Reply::Random(n) => log.say(format_args!("random: {n}")),
        Reply::Classified(Some(ad)) => log.say(format_args!("classified: {}", printable(&ad))),
        Reply::Classified(None) => log.say(format_args!("classified: (none unread)")),
    }
    Ok(())
}
