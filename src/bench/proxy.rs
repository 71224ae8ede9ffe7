//! Proxy: `random?` round trips straight to the reference server, through `notifspec proxy`
//! (which judges every line on the way) and through haproxy in TCP mode (which only
//! forwards), and the latency each proxy adds.
//!
//! One reference server serves all three paths, and each run measures the three in turn at
//! each connection count, so drift on the shared machine hits all of them alike. haproxy is
//! optional: without it on `PATH` its rows say so and the proxy/haproxy target has no ratio.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::process::{ChildServer, free_addr};
use super::rr::{Runs, drive};
use super::stats::median;
use super::{BenchError, Cell, Goal, PerfTarget, Plan, Reference, Table, ratio};
use crate::dialect::Dialect;

/// The table's title.
pub const TITLE: &str =
    "proxy: `random?` round trips direct, through `notifspec proxy` (checking) and haproxy";

/// The target: `notifspec proxy` at least as fast as haproxy.
pub const TARGET: f64 = 1.0;

/// What the proxy measurement does.
#[derive(Debug, Clone)]
pub struct ProxyPlan {
    /// Connection counts, three table rows each.
    pub conns: Vec<usize>,
    /// How long each point runs.
    pub duration: Duration,
    /// A cap on round trips per connection.
    pub max_per_conn: u64,
}

/// Starts `notifspec proxy` in front of `upstream`.
pub async fn start_notifspec_proxy(
    plan: &Plan,
    upstream: SocketAddr,
) -> Result<(ChildServer, SocketAddr), BenchError> {
    let addr = free_addr()?;
    let args = vec![
        "proxy".to_string(),
        "--listen".into(),
        addr.to_string(),
        "--upstream".into(),
        upstream.to_string(),
        "--max-conns".into(),
        "10000".into(),
    ];
    let child = ChildServer::start(
        "notifspec proxy",
        &plan.exe,
        &args,
        &[("RUST_LOG", "warn")],
        addr,
    )
    .await?;
    Ok((child, addr))
}

/// haproxy's configuration: one TCP frontend on `listen` forwarding to `upstream`.
pub fn haproxy_config(listen: SocketAddr, upstream: SocketAddr) -> String {
    format!(
        "global\n    maxconn 4000\n\
         defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n\
         frontend bench\n    bind {listen}\n    default_backend reference\n\
         backend reference\n    server reference {upstream}\n"
    )
}

/// haproxy running from a configuration file that is removed when it stops.
#[derive(Debug)]
pub struct Haproxy {
    /// The process.
    pub child: ChildServer,
    /// Where clients connect.
    pub addr: SocketAddr,
    config: PathBuf,
}

impl Haproxy {
    /// Starts `program` (haproxy) in the foreground in front of `upstream`. The configuration
    /// goes to a new file in the temporary folder (never over an existing one).
    pub async fn start(program: &Path, upstream: SocketAddr) -> Result<Haproxy, BenchError> {
        let addr = free_addr()?;
        let config = std::env::temp_dir().join(format!(
            "notifspec-bench-haproxy-{}-{}.cfg",
            std::process::id(),
            addr.port()
        ));
        let io = |what: &str| {
            let what = format!("{what} {}", config.display());
            move |source| BenchError::Io { what, source }
        };
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&config)
            .and_then(|mut f| f.write_all(haproxy_config(addr, upstream).as_bytes()))
            .map_err(io("writing"))?;
        let args = vec!["-db".to_string(), "-f".into(), config.display().to_string()];
        match ChildServer::start("haproxy", program, &args, &[], addr).await {
            Ok(child) => Ok(Haproxy {
                child,
                addr,
                config,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&config);
                Err(e)
            }
        }
    }

    /// Stops haproxy and removes its configuration.
    pub async fn stop(self) {
        self.child.stop().await;
        let _ = std::fs::remove_file(&self.config);
    }
}

/// The paths measured, in table order.
const PATHS: [&str; 3] = ["direct", "notifspec proxy", "haproxy"];

/// Runs the measurement and builds its table.
pub async fn measure(plan: &Plan) -> Result<Table, BenchError> {
    let dialect = Dialect::default();
    let mut request = dialect.commands.random.clone().into_bytes();
    request.extend_from_slice(dialect.line_ending.as_bytes());
    let request: Arc<[u8]> = request.into();
    let reference = Reference::start(plan).await?;
    let proxy = match start_notifspec_proxy(plan, reference.addr).await {
        Ok(p) => p,
        Err(e) => {
            reference.child.stop().await;
            return Err(e);
        }
    };
    let mut notes = Vec::new();
    let haproxy = match &plan.haproxy {
        None => {
            notes.push("haproxy not installed: skipped (apt-get install -y haproxy)".to_string());
            None
        }
        Some(program) => match Haproxy::start(program, reference.addr).await {
            Ok(h) => Some(h),
            Err(e) => {
                notes.push(format!("haproxy not measured: {e}"));
                None
            }
        },
    };
    let addrs = [
        Some(reference.addr),
        Some(proxy.1),
        haproxy.as_ref().map(|h| h.addr),
    ];
    let p = &plan.proxy;
    let mut runs: Vec<[Runs; 3]> = p.conns.iter().map(|_| Default::default()).collect();
    let mut outcome = Ok(());
    'runs: for _ in 0..plan.runs {
        for (i, &n) in p.conns.iter().enumerate() {
            for (path, addr) in addrs.iter().enumerate() {
                let Some(addr) = addr else { continue };
                match drive(*addr, n, Arc::clone(&request), p.duration, p.max_per_conn).await {
                    Ok(s) => runs[i][path].push(&s),
                    Err(e) => {
                        outcome = Err(e);
                        break 'runs;
                    }
                }
            }
        }
    }
    if let Some(h) = haproxy {
        h.stop().await;
    }
    proxy.0.stop().await;
    reference.child.stop().await;
    outcome?;

    let mut t = Table::new(
        "proxy",
        TITLE,
        &[
            "conns",
            "path",
            "rt/s",
            "p50 µs",
            "p99 µs",
            "added p50 µs",
            "added p99 µs",
            "rt/s vs direct",
        ],
    );
    for (i, &n) in p.conns.iter().enumerate() {
        let direct = &runs[i][0];
        for (path, name) in PATHS.iter().enumerate() {
            let r = &runs[i][path];
            let fig = |v: &[f64], d| median(v).map_or(Cell::text("-"), |m| Cell::num(m, d));
            let added = |v: &[f64], base: &[f64]| match (median(v), median(base)) {
                (Some(a), Some(b)) if path > 0 => Cell::num(a - b, 1),
                _ => Cell::text("-"),
            };
            let vs_direct = ratio(median(&r.rate), median(&direct.rate));
            t.rows.push(vec![
                Cell::int(n as f64),
                Cell::text(*name),
                fig(&r.rate, 0),
                fig(&r.p50, 1),
                fig(&r.p99, 1),
                added(&r.p50, &direct.p50),
                added(&r.p99, &direct.p99),
                vs_direct.map_or(Cell::text("-"), |v| Cell::num(v, 2)),
            ]);
        }
        t.targets.push(PerfTarget {
            what: format!("notifspec proxy/haproxy round trips/s, {n} conns"),
            ratio: ratio(median(&runs[i][1].rate), median(&runs[i][2].rate)),
            goal: TARGET,
            direction: Goal::AtLeast,
        });
    }
    t.notes.extend(notes);
    t.notes.push(format!(
        "median of {} runs of {:?} per point; one reference server behind all three paths; \
         `notifspec proxy` judges every line (checking on), haproxy runs in TCP mode; added \
         latency = path's median minus direct's",
        plan.runs, p.duration
    ));
    Ok(t)
}
