//! `notifspec proxy --listen ADDR --upstream ADDR [--record DIR]`: sits between a client and a
//! server, forwards every byte unchanged, prints violations live (`conn 3: S-NOTIF-WINDOW: ...`)
//! and records each connection as a transcript.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cmd::Status;
use crate::dialect::{DEFAULT_DIALECT, Dialect};
use crate::net::proxy::{self, ProxyConfig, ProxyReport};

/// Arguments of `notifspec proxy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where clients connect.
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// The server every connection is forwarded to.
    #[arg(long, value_name = "ADDR")]
    pub upstream: String,
    /// Write one transcript per connection into this folder.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Most bytes in one recording; a longer conversation is cut there and the file says so
    /// (the connection is still forwarded and checked).
    #[arg(long, value_name = "BYTES", default_value_t = proxy::DEFAULT_RECORD_LIMIT,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub record_limit: u64,
    /// Dialect (built-in name or YAML file) spoken through the proxy.
    #[arg(long, default_value = DEFAULT_DIALECT)]
    pub dialect: String,
    /// Connections proxied at once.
    #[arg(long, default_value_t = proxy::DEFAULT_MAX_CONNS)]
    pub max_conns: usize,
    /// Bound on connecting to the upstream.
    #[arg(long, value_parser = crate::cmd::parse_duration, default_value = "5s")]
    pub connect_timeout: Duration,
}

/// Runs until Ctrl-C or SIGTERM: 0 if no connection broke a rule, 1 if one did, 2 on a setup error.
pub fn run(args: Args) -> Status {
    let dialect = match Dialect::load(&args.dialect, None) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("notifspec proxy: --dialect: {e}");
            return Status::Error;
        }
    };
    let dialect_ref = if Dialect::builtin(&args.dialect).is_some() {
        args.dialect.clone()
    } else {
        let p = PathBuf::from(&args.dialect);
        std::path::absolute(&p).unwrap_or(p).display().to_string()
    };
    let mut cfg = ProxyConfig::new(args.upstream.clone(), dialect);
    cfg.dialect_ref = dialect_ref;
    cfg.record = args.record.clone();
    cfg.record_limit = args.record_limit;
    // Named here, so an unusable folder (a file, no permission) is reported as the folder.
    if let Some(dir) = &args.record
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("notifspec proxy: --record {}: {e}", dir.display());
        return Status::Error;
    }
    cfg.max_conns = args.max_conns;
    cfg.connect_timeout = args.connect_timeout;
    let rt = match crate::cmd::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("notifspec proxy: cannot start the runtime: {e}");
            return Status::Error;
        }
    };
    let broken = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = broken.clone();
    let sink: proxy::ReportSink = Arc::new(move |r: ProxyReport| {
        if matches!(r, ProxyReport::Violation { .. }) {
            seen.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let mut out = std::io::stdout().lock();
        // Violations quote the peers' lines: escaped, so their bytes never reach the terminal.
        let _ = writeln!(out, "{}", crate::escape::printable(&r.to_string()));
        let _ = out.flush();
    });
    let started = rt.block_on(async {
        // SIGTERM as Ctrl-C: the open recordings are flushed when the runtime drops them
        // (the default SIGTERM kill left them empty).
        let stop = crate::process::stop_signals()?;
        let handle = proxy::start(&args.listen, cfg, sink).await?;
        eprintln!(
            "notifspec proxy: listening on {}, forwarding to {}",
            handle.local_addr(),
            args.upstream
        );
        tokio::select! {
            _ = handle.wait() => {}
            () = stop => {}
        }
        std::io::Result::Ok(())
    });
    if let Err(e) = started {
        eprintln!("notifspec proxy: {}: {e}", args.listen);
        return Status::Error;
    }
    if broken.load(std::sync::atomic::Ordering::Relaxed) {
        Status::Fail
    } else {
        Status::Pass
    }
}
