//! Request/response: `random?` round trips per second and their latency, reference server
//! next to the floor, with 1, 10 and 100 connections each doing sequential round trips.
//!
//! Both servers are started once and measured alternately within each run, so drift on the
//! shared machine (another build starting) hits both rather than one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::try_join_all;
use tokio::time::Instant;

use super::conn::LineConn;
use super::process::{ChildServer, free_addr};
use super::stats::{Histogram, LogLinear, median};
use super::{BenchError, Cell, Goal, PerfTarget, Plan, Reference, Table, micros, ratio};
use crate::dialect::Dialect;

/// The table's title.
pub const TITLE: &str = "request/response: `random?` round trips, reference vs floor";

/// Issue 14's target (issue 7 asked for 0.9×): the reference server at this fraction of the
/// floor's throughput, at every connection count.
pub const TARGET: f64 = 0.95;

/// What the round-trip measurement does.
#[derive(Debug, Clone)]
pub struct RrPlan {
    /// Connection counts, one table row each.
    pub conns: Vec<usize>,
    /// How long each point runs.
    pub duration: Duration,
    /// A cap on round trips per connection, so a point is bounded in count as well as time.
    pub max_per_conn: u64,
}

/// One point of one run: how many round trips in how long, and their latencies.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Round trips completed.
    pub round_trips: u64,
    /// From the common start to the last connection's end.
    pub elapsed: Duration,
    /// Round-trip latencies.
    pub latency: Histogram<LogLinear>,
}

impl Sample {
    /// Round trips per second.
    pub fn rate(&self) -> f64 {
        self.round_trips as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// How long a single read or write may stall before the point fails.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Drives `conns` connections to `addr`, each sending `request` and reading one decimal
/// reply at a time, for `duration` or `max_per_conn` round trips.
pub async fn drive(
    addr: SocketAddr,
    conns: usize,
    request: Arc<[u8]>,
    duration: Duration,
    max_per_conn: u64,
) -> Result<Sample, BenchError> {
    let connected = try_join_all((0..conns).map(|_| LineConn::connect(addr, IO_TIMEOUT))).await?;
    let start = Instant::now();
    let deadline = start + duration;
    let tasks = connected.into_iter().map(|mut c| {
        let request = Arc::clone(&request);
        tokio::spawn(async move {
            let mut latency = Histogram::<LogLinear>::default();
            let mut n = 0u64;
            while n < max_per_conn && Instant::now() < deadline {
                let t0 = Instant::now();
                c.send(&request).await?;
                let reply = c.line().await?;
                if reply.is_empty() || !reply.iter().all(u8::is_ascii_digit) {
                    return Err(BenchError::Protocol {
                        what: format!(
                            "a decimal reply was expected, got `{}`",
                            String::from_utf8_lossy(reply)
                        ),
                    });
                }
                latency.record(t0.elapsed());
                n += 1;
            }
            Ok::<_, BenchError>((n, latency, Instant::now()))
        })
    });
    let mut sample = Sample {
        round_trips: 0,
        elapsed: Duration::ZERO,
        latency: Histogram::default(),
    };
    for joined in try_join_all(tasks)
        .await
        .map_err(|e| BenchError::Protocol {
            what: format!("a client task failed: {e}"),
        })?
    {
        let (n, h, end) = joined?;
        sample.round_trips += n;
        sample.latency.merge(&h);
        sample.elapsed = sample.elapsed.max(end - start);
    }
    Ok(sample)
}

/// Starts the floor as a child process (`notifspec bench --serve-floor ADDR`).
pub async fn start_floor(plan: &Plan) -> Result<(ChildServer, SocketAddr), BenchError> {
    let addr = free_addr()?;
    let args = vec![
        "bench".to_string(),
        "--serve-floor".into(),
        addr.to_string(),
    ];
    let child = ChildServer::start("the floor server", &plan.exe, &args, &[], addr).await?;
    Ok((child, addr))
}

/// The figures of each run of one server (or path) at one connection count, whose medians a
/// table shows; the proxy table reads them too.
#[derive(Debug, Default)]
pub(super) struct Runs {
    pub(super) rate: Vec<f64>,
    pub(super) p50: Vec<f64>,
    pub(super) p99: Vec<f64>,
}

impl Runs {
    pub(super) fn push(&mut self, s: &Sample) {
        self.rate.push(s.rate());
        self.p50.push(micros(s.latency.quantile(0.5)));
        self.p99.push(micros(s.latency.quantile(0.99)));
    }

    fn cells(&self) -> [Cell; 3] {
        let f = |v: &[f64], d| median(v).map_or(Cell::text("-"), |m| Cell::num(m, d));
        [f(&self.rate, 0), f(&self.p50, 1), f(&self.p99, 1)]
    }
}

/// Runs the measurement and builds its table.
pub async fn measure(plan: &Plan) -> Result<Table, BenchError> {
    let dialect = Dialect::default();
    let mut request = dialect.commands.random.clone().into_bytes();
    request.extend_from_slice(dialect.line_ending.as_bytes());
    let request: Arc<[u8]> = request.into();
    let (floor, floor_addr) = start_floor(plan).await?;
    let reference = match Reference::start(plan).await {
        Ok(r) => r,
        Err(e) => {
            floor.stop().await;
            return Err(e);
        }
    };
    let p = &plan.rr;
    let mut floor_runs: Vec<Runs> = p.conns.iter().map(|_| Runs::default()).collect();
    let mut ref_runs: Vec<Runs> = p.conns.iter().map(|_| Runs::default()).collect();
    let mut outcome = Ok(());
    'runs: for _ in 0..plan.runs {
        for (i, &n) in p.conns.iter().enumerate() {
            for (addr, runs) in [
                (floor_addr, &mut floor_runs[i]),
                (reference.addr, &mut ref_runs[i]),
            ] {
                match drive(addr, n, Arc::clone(&request), p.duration, p.max_per_conn).await {
                    Ok(s) => runs.push(&s),
                    Err(e) => {
                        outcome = Err(e);
                        break 'runs;
                    }
                }
            }
        }
    }
    floor.stop().await;
    reference.child.stop().await;
    outcome?;

    let mut t = Table::new(
        "rr",
        TITLE,
        &[
            "conns",
            "floor rt/s",
            "floor p50 µs",
            "floor p99 µs",
            "reference rt/s",
            "ref p50 µs",
            "ref p99 µs",
            "ref/floor",
        ],
    );
    for (i, &n) in p.conns.iter().enumerate() {
        let r = ratio(median(&ref_runs[i].rate), median(&floor_runs[i].rate));
        let mut row = vec![Cell::int(n as f64)];
        row.extend(floor_runs[i].cells());
        row.extend(ref_runs[i].cells());
        row.push(r.map_or(Cell::text("-"), |r| Cell::num(r, 2)));
        t.rows.push(row);
        t.targets.push(PerfTarget {
            what: format!("reference/floor round trips/s, {n} conns"),
            ratio: r,
            goal: TARGET,
            direction: Goal::AtLeast,
        });
    }
    t.notes.push(format!(
        "median of {} runs of {:?} per point; each connection does sequential round trips; \
         servers are child processes, the load generator shares the same cores",
        plan.runs, p.duration
    ));
    Ok(t)
}
