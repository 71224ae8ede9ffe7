//! Memory: resident memory per idle connection in notification mode, against issue 14's
//! budget of 2 KB, and the reference server next to Redis per subscriber.
//!
//! Read from the server process's own `VmRSS`, before and after opening the connections, so
//! the load generator's memory never enters the figure: (after − before) / connections.

use std::time::Duration;

use super::stats::median;
use super::swarm::{self, Broker};
use super::{BenchError, Cell, Goal, PerfTarget, Plan, Reference, Table, ratio, redis};
use crate::dialect::Dialect;

/// The table's title.
pub const TITLE: &str = "memory: resident bytes per idle connection, reference vs Redis";

/// What the memory measurement does.
#[derive(Debug, Clone)]
pub struct MemoryPlan {
    /// Idle connections held open.
    pub conns: usize,
}

/// One run: the server's RSS before and after.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Bytes before the connections.
    pub before: u64,
    /// Bytes with every connection open and idle.
    pub after: u64,
}

impl Sample {
    /// Bytes per connection (negative deltas, from memory returned meanwhile, count as 0).
    pub fn per_conn(&self, conns: usize) -> f64 {
        self.after.saturating_sub(self.before) as f64 / conns.max(1) as f64
    }
}

/// Issue 14's budget of resident memory per idle connection: 2 KB.
pub const BUDGET: u64 = 2048;

const TIMEOUT: Duration = Duration::from_secs(30);

async fn sample(
    broker: Broker,
    rss: impl Fn() -> Result<u64, BenchError>,
    conns: usize,
) -> Result<Sample, BenchError> {
    let before = rss()?;
    let held = swarm::subscribe(broker, conns, &Dialect::default(), TIMEOUT).await?;
    let after = rss()?;
    drop(held);
    Ok(Sample { before, after })
}

/// Runs the measurement and builds its table.
pub async fn measure(plan: &Plan) -> Result<Table, BenchError> {
    let n = plan.memory.conns;
    super::ensure_fds(n)?;
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..plan.runs {
        let server = Reference::start(plan).await?;
        let broker = Broker::Reference {
            addr: server.addr,
            control: server.control,
        };
        let s = sample(broker, || server.child.rss(), n).await;
        server.child.stop().await;
        ours.push(s?);
        if let Some(program) = &plan.redis {
            let (child, addr) = redis::start(program, n).await?;
            let s = sample(Broker::Redis { addr }, || child.rss(), n).await;
            child.stop().await;
            theirs.push(s?);
        }
    }
    let mut t = Table::new(
        "memory",
        TITLE,
        &[
            "server",
            "connections",
            "RSS before KiB",
            "RSS after KiB",
            "bytes/conn",
        ],
    );
    let mut per = [None, None];
    for (i, (name, runs)) in [("reference", &ours), ("redis", &theirs)]
        .into_iter()
        .enumerate()
    {
        if runs.is_empty() {
            continue;
        }
        let kib = |f: fn(&Sample) -> u64| {
            let v: Vec<f64> = runs.iter().map(|s| f(s) as f64 / 1024.0).collect();
            median(&v)
        };
        let pc: Vec<f64> = runs.iter().map(|s| s.per_conn(n)).collect();
        per[i] = median(&pc);
        let cell = |v: Option<f64>| v.map_or(Cell::text("-"), Cell::int);
        t.rows.push(vec![
            Cell::text(name),
            Cell::int(n as f64),
            cell(kib(|s| s.before)),
            cell(kib(|s| s.after)),
            cell(per[i]),
        ]);
    }
    // Issue 14's goal is absolute: at most 2 KB per idle connection, printed as the ratio
    // to that budget. Issue 7's ratio to Redis follows it.
    t.targets.push(PerfTarget {
        what: format!("reference bytes per idle connection / {BUDGET} B, {n} conns"),
        ratio: per[0].map(|b| b / BUDGET as f64),
        goal: 1.0,
        direction: Goal::AtMost,
    });
    t.targets.push(PerfTarget {
        what: format!("reference/redis bytes per idle subscriber, {n} conns"),
        ratio: ratio(per[0], per[1]),
        goal: 1.0,
        direction: Goal::AtMost,
    });
    if plan.redis.is_none() {
        t.notes.push("redis-server not installed: skipped".into());
    }
    t.notes.push(format!(
        "median of {} runs; VmRSS of the server process, read before and after {n} \
         connections entered notification mode (Redis: SUBSCRIBEd)",
        plan.runs
    ));
    Ok(t)
}
