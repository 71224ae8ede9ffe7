//! `notifspec serve`: the reference server on TCP, with a lively auto-publish schedule so a
//! person with `nc` sees notifications, and a graceful stop on Ctrl-C / SIGTERM (exit 0).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::choices::Choices;
use crate::cmd::{Status, parse_duration};
use crate::dialect::{DEFAULT_DIALECT, Dialect};
use crate::net::server::{DEFAULT_ADDR, DEFAULT_MAX_CONNS, PublishSchedule, ServerBuilder};
use crate::proto::availability::Feed;

/// Arguments of `notifspec serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = DEFAULT_ADDR)]
    pub addr: SocketAddr,
    /// Dialect: a built-in name or a YAML file.
    #[arg(long, default_value = DEFAULT_DIALECT)]
    pub dialect: String,
    /// Seed of the random-number source, for a reproducible run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Classified ads to publish (YAML: `ads:` and a list of one-line strings); the first is
    /// held from the start. Default: a built-in list.
    #[arg(long)]
    pub feed: Option<PathBuf>,
    /// Open the control port (`publish random [N]`, `publish classified <text>`) on ADDR.
    #[arg(long, value_name = "ADDR")]
    pub control: Option<SocketAddr>,
    /// How often items appear on their own, e.g. `random=3s,classified=10s`, or `1s` for
    /// both kinds.
    #[arg(long, value_name = "SPEC", default_value = "random=3s,classified=10s")]
    pub publish_every: PublishSchedule,
    /// Publish nothing on a schedule (only the control port publishes).
    #[arg(long)]
    pub no_auto_publish: bool,
    /// Most connections served at once; extra ones get `ERR too many connections`.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNS)]
    pub max_conns: usize,
    /// Longest accepted line in bytes (default: the dialect's).
    #[arg(long)]
    pub max_line: Option<usize>,
    /// Close a connection, silently, after this long without a line from its client.
    #[arg(long, value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// How the ready line on stdout is written: `text` or `json` (`{"event":"listening",...}`).
    #[arg(long, value_enum, default_value_t = crate::cmd::OutputFormat::Text)]
    pub format: crate::cmd::OutputFormat,
    /// Where the seed leaves the behaviour open, which legal alternative to take, e.g.
    /// `classified-order=newest,when-none=repeat` (keys: connect-random=seen|available,
    /// classified-order=oldest|newest, when-none=empty|repeat, ads-behind=each|one,
    /// random=newest|draw; the first value is the default). See docs/protocol.md, 8.1.
    #[arg(long, value_name = "SPEC", default_value = "")]
    pub choice: Choices,
}

/// Runs the command.
pub fn run(args: Args) -> Status {
    match run_inner(args) {
        Ok(()) => Status::Pass,
        Err(message) => {
            eprintln!("notifspec serve: {message}");
            Status::Error
        }
    }
}

fn builder(args: &Args) -> Result<ServerBuilder, String> {
    let dialect = Dialect::load(&args.dialect, None).map_err(|e| e.to_string())?;
    let max_line = args.max_line.unwrap_or(dialect.max_line);
    let mut b = ServerBuilder::new()
        .dialect(dialect)
        .addr(args.addr)
        .choices(args.choice)
        .max_conns(args.max_conns);
    if let Some(path) = &args.feed {
        b = b.feed(Feed::from_file(path, max_line).map_err(|e| e.to_string())?);
    }
    if let Some(seed) = args.seed {
        b = b.seed(seed);
    }
    if let Some(addr) = args.control {
        b = b.control(addr);
    }
    if let Some(n) = args.max_line {
        b = b.max_line(n);
    }
    if let Some(d) = args.idle_timeout {
        b = b.idle_timeout(d);
    }
    if !args.no_auto_publish {
        b = b.publish_schedule(args.publish_every);
    }
    Ok(b)
}

fn run_inner(args: Args) -> Result<(), String> {
    let builder = builder(&args)?;
    let rt = crate::cmd::runtime().map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async {
        // Watch the signals before announcing the address: whoever reads that line may stop
        // us at once, and must get a graceful exit rather than the default kill.
        let signal = crate::process::stop_signals()
            .map_err(|e| format!("cannot watch Ctrl-C and SIGTERM: {e}"))?;
        let server = builder.start().await.map_err(|e| e.to_string())?;
        let addr = server
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        if args.format == crate::cmd::OutputFormat::Json {
            println!(
                "{}",
                serde_json::json!({
                    "event": "listening",
                    "addr": addr,
                    "control": server.control_addr().map(|a| a.to_string()),
                    "dialect": server.dialect().name,
                })
            );
        } else {
            let control = server
                .control_addr()
                .map(|a| format!(", control on {a}"))
                .unwrap_or_default();
            println!(
                "notifspec serve: listening on {addr} (dialect {}){control}",
                server.dialect().name
            );
        }
        signal.await;
        tracing::info!("shutting down");
        server.shutdown().await.map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn defaults_and_bad_flags() {
        let cli = Cli::try_parse_from(["serve"]).unwrap();
        assert_eq!(cli.args.addr.to_string(), "127.0.0.1:6789");
        assert_eq!(cli.args.publish_every, PublishSchedule::lively());
        let err = Cli::try_parse_from(["serve", "--publish-every", "random=soon"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`soon` is not a duration"), "{err}");
        let both = Cli::try_parse_from(["serve", "--publish-every", "1s"]).unwrap();
        let one_second = Some(std::time::Duration::from_secs(1));
        assert_eq!(both.args.publish_every.random, one_second);
        assert_eq!(both.args.publish_every.classified, one_second);
        for bad in ["0s", "soon", "random"] {
            assert!(
                Cli::try_parse_from(["serve", "--publish-every", bad]).is_err(),
                "{bad}"
            );
        }
        let args = Cli::try_parse_from(["serve", "--dialect", "nope"])
            .unwrap()
            .args;
        let err = builder(&args).err().unwrap();
        assert!(err.contains("unknown dialect `nope`"), "{err}");
    }
}
