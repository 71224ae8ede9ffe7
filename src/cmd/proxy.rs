//! `notifspec proxy --listen ADDR --upstream ADDR [--record DIR]`: sits between a client and a
//! server, forwards every byte unchanged, prints violations live (`conn 3: S-NOTIF-WINDOW: ...`)
//! and records each connection as a transcript.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cmd::{OutputFormat, Status};
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
    /// On exit, write an HTML report of the connections recorded under --record (each
    /// transcript checked again, failing ones drawn as sequence diagrams).
    #[arg(long, value_name = "FILE", requires = "record")]
    pub html: Option<PathBuf>,
    /// Replace the --html file if it exists.
    #[arg(long, requires = "html")]
    pub html_overwrite: bool,
    /// One line per event: `text` (`conn 3: S-NOTIF-WINDOW: ...`) or `json` (one object).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
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
    // One event loop per core, as haproxy runs one per thread (docs/performance.md).
    cfg.threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = match crate::cmd::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("notifspec proxy: cannot start the runtime: {e}");
            return Status::Error;
        }
    };
    let html = crate::html::HtmlArgs {
        html: args.html.clone(),
        html_overwrite: args.html_overwrite,
    };
    if let Err(e) = html.precheck() {
        eprintln!("notifspec proxy: {e}");
        return Status::Error;
    }
    let recorded = Arc::new(std::sync::Mutex::new(Vec::<PathBuf>::new()));
    let keep = html.html.is_some().then(|| recorded.clone());
    let broken = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = broken.clone();
    let json = args.format == OutputFormat::Json;
    let sink: proxy::ReportSink = Arc::new(move |r: ProxyReport| {
        if matches!(r, ProxyReport::Violation { .. }) {
            seen.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if let (
            Some(keep),
            ProxyReport::Closed {
                recorded: Some(p), ..
            },
        ) = (&keep, &r)
            && let Ok(mut list) = keep.lock()
            && list.len() < MAX_REPORTED
        {
            list.push(p.clone());
        }
        let mut out = std::io::stdout().lock();
        let _ = if json {
            writeln!(out, "{}", report_json(&r))
        } else {
            // Violations quote the peers' lines: escaped, so their bytes never reach the terminal.
            writeln!(out, "{}", crate::escape::printable(&r.to_string()))
        };
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
    let files = recorded.lock().map(|l| l.clone()).unwrap_or_default();
    if let Err(e) = html.write(|| recordings_page(&files, &args.dialect)) {
        eprintln!("notifspec proxy: {e}");
        return Status::Error;
    }
    if broken.load(std::sync::atomic::Ordering::Relaxed) {
        Status::Fail
    } else {
        Status::Pass
    }
}

/// Most recorded connections the HTML report covers (the first ones; the folder has them all).
pub const MAX_REPORTED: usize = 10_000;

/// The HTML page of a proxy session: every recorded connection checked again from its file.
fn recordings_page(files: &[PathBuf], dialect: &str) -> crate::html::Page {
    let fallback = Dialect::load(dialect, None).unwrap_or_default();
    let mut summary = crate::report::Summary::default();
    let results: Vec<_> = files
        .iter()
        .map(|f| {
            let r = crate::check_files::check_file(f, &fallback);
            summary.add(&r);
            r
        })
        .collect();
    let mut page = crate::html::build::check(&results, &summary, &fallback);
    page.command = "proxy".into();
    page
}

/// One proxy event as JSON: `conn`, `event` (the variant in kebab-case) and its fields.
pub fn report_json(r: &ProxyReport) -> serde_json::Value {
    use serde_json::json;
    match r {
        ProxyReport::Opened { conn, client } => {
            json!({"conn": conn, "event": "opened", "client": client.to_string()})
        }
        ProxyReport::UpstreamFailed { conn, error } => {
            json!({"conn": conn, "event": "upstream-failed", "error": error})
        }
        ProxyReport::Violation { conn, violation } => json!({
            "conn": conn, "event": "violation", "rule": violation.rule,
            "line": violation.line, "message": violation.message,
        }),
        ProxyReport::Oversized { conn, from } => {
            json!({"conn": conn, "event": "oversized", "from": from})
        }
        ProxyReport::HalfClosed { conn, by } => {
            json!({"conn": conn, "event": "half-closed", "by": by})
        }
        ProxyReport::Reset { conn, by } => json!({"conn": conn, "event": "reset", "by": by}),
        ProxyReport::RecordFailed { conn, error } => {
            json!({"conn": conn, "event": "record-failed", "error": error})
        }
        ProxyReport::Closed {
            conn,
            violations,
            recorded,
        } => json!({
            "conn": conn, "event": "closed", "violations": violations,
            "recorded": recorded.as_ref().map(|p| p.display().to_string()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Violation;
    use crate::rule::{Party, RuleId};

    #[test]
    fn events_as_json_name_the_connection_and_the_event() {
        let v = report_json(&ProxyReport::Violation {
            conn: 3,
            violation: Violation {
                rule: RuleId::SNotifWindow,
                line: Some(7),
                message: "m".into(),
            },
        });
        assert_eq!(
            v,
            serde_json::json!({"conn": 3, "event": "violation", "rule": "S-NOTIF-WINDOW", "line": 7, "message": "m"})
        );
        let v = report_json(&ProxyReport::HalfClosed {
            conn: 1,
            by: Party::Server,
        });
        assert_eq!(v["by"], "server");
        let v = report_json(&ProxyReport::Closed {
            conn: 1,
            violations: 0,
            recorded: None,
        });
        assert_eq!(v["event"], "closed");
        assert!(v["recorded"].is_null());
    }
}
