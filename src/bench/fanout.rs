//! Fan-out: 1,000 and 10,000 subscribers, a publish every few milliseconds; deliveries per
//! second and publish → delivery latency, the reference server next to Redis pub/sub.
//!
//! The reference server's clients answer every notification with `OK` (the window), Redis's
//! subscribers just read. A fresh server is started for each run, so no run inherits another's
//! connections.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::watch;
use tokio::time::Instant;

use super::stats::{Histogram, LogLinear, median};
use super::swarm::{self, Broker, Phase, PublishLog, Received};
use super::{BenchError, Cell, Goal, PerfTarget, Plan, Reference, Table, micros, ratio, redis};
use crate::dialect::Dialect;

/// The table's title.
pub const TITLE: &str = "fan-out: notifications delivered, reference vs Redis pub/sub";

/// One subscriber count and its publish interval.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    /// Subscribers.
    pub clients: usize,
    /// Time between publishes.
    pub interval: Duration,
}

impl Point {
    /// `1000 clients, every 2ms`, for target lines.
    pub fn label(&self) -> String {
        format!("{} clients, every {:?}", self.clients, self.interval)
    }
}

/// What the fan-out measurement does.
#[derive(Debug, Clone)]
pub struct FanoutPlan {
    /// The points, one pair of rows each.
    pub points: Vec<Point>,
    /// How long publishing lasts.
    pub duration: Duration,
    /// How long subscribers may take to catch up once publishing stops.
    pub drain: Duration,
}

/// One run at one point against one broker.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Publishes made.
    pub publishes: usize,
    /// Deliveries received by all subscribers.
    pub deliveries: u64,
    /// From the first publish to the last delivery.
    pub span: Duration,
    /// Publish → delivery.
    pub latency: Histogram<LogLinear>,
}

/// Runs one point against a started broker.
pub async fn drive(
    broker: Broker,
    point: Point,
    plan: &FanoutPlan,
    dialect: &Dialect,
) -> Result<Sample, BenchError> {
    let timeout = plan.duration + plan.drain + Duration::from_secs(10);
    let subs = swarm::subscribe(broker, point.clients, dialect, timeout).await?;
    let capacity = (plan.duration.as_nanos() / point.interval.as_nanos().max(1)) as usize + 2;
    let log = Arc::new(PublishLog::new(capacity));
    let (phase_tx, phase_rx) = watch::channel(Phase::Publishing);
    let listeners: Vec<_> = subs
        .into_iter()
        .map(|c| {
            let (log, phase, dialect) = (Arc::clone(&log), phase_rx.clone(), dialect.clone());
            tokio::spawn(async move { swarm::listen(broker, c, &dialect, log, phase).await })
        })
        .collect();
    let published = swarm::publish(broker, &log, point.interval, plan.duration, timeout).await;
    let _ = phase_tx.send(Phase::Draining);
    let drained = tokio::time::sleep(plan.drain);
    let all = join_all(listeners);
    tokio::pin!(all);
    let results = tokio::select! {
        r = &mut all => r,
        () = drained => {
            let _ = phase_tx.send(Phase::Stop);
            all.await
        }
    };
    let publishes = published?;
    let mut total = Received::default();
    for r in results {
        let got = r.map_err(|e| BenchError::Protocol {
            what: format!("a subscriber task failed: {e}"),
        })??;
        total.deliveries += got.deliveries;
        total.latency.merge(&got.latency);
        total.last = total.last.max(got.last);
    }
    let first = if log.is_empty() {
        Instant::now()
    } else {
        log.time(0)
    };
    Ok(Sample {
        publishes,
        deliveries: total.deliveries,
        span: total
            .last
            .map_or(Duration::ZERO, |l| l.saturating_duration_since(first)),
        latency: total.latency,
    })
}

/// Medians over runs of one broker at one point.
#[derive(Debug, Default)]
struct Runs {
    publishes: Vec<f64>,
    deliveries: Vec<f64>,
    rate: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    max: Vec<f64>,
}

impl Runs {
    fn push(&mut self, s: &Sample) {
        self.publishes.push(s.publishes as f64);
        self.deliveries.push(s.deliveries as f64);
        self.rate
            .push(s.deliveries as f64 / s.span.as_secs_f64().max(1e-9));
        self.p50.push(micros(s.latency.quantile(0.5)));
        self.p99.push(micros(s.latency.quantile(0.99)));
        self.max.push(micros(s.latency.max()));
    }
}

async fn run_reference(plan: &Plan, point: Point, d: &Dialect) -> Result<Sample, BenchError> {
    let server = Reference::start(plan).await?;
    let broker = Broker::Reference {
        addr: server.addr,
        control: server.control,
    };
    let sample = drive(broker, point, &plan.fanout, d).await;
    server.child.stop().await;
    sample
}

async fn run_redis(
    program: &std::path::Path,
    plan: &Plan,
    point: Point,
    d: &Dialect,
) -> Result<Sample, BenchError> {
    let (child, addr) = redis::start(program, point.clients).await?;
    let sample = drive(Broker::Redis { addr }, point, &plan.fanout, d).await;
    child.stop().await;
    sample
}

/// Runs the measurement and builds its table.
pub async fn measure(plan: &Plan) -> Result<Table, BenchError> {
    super::ensure_fds(
        plan.fanout
            .points
            .iter()
            .map(|p| p.clients)
            .max()
            .unwrap_or(0),
    )?;
    let dialect = Dialect::default();
    let mut t = Table::new(
        "fanout",
        TITLE,
        &[
            "clients",
            "every ms",
            "server",
            "publishes",
            "deliveries",
            "deliveries/s",
            "p50 µs",
            "p99 µs",
            "max µs",
        ],
    );
    for &point in &plan.fanout.points {
        let mut ours = Runs::default();
        let mut theirs = Runs::default();
        for _ in 0..plan.runs {
            ours.push(&run_reference(plan, point, &dialect).await?);
            if let Some(program) = &plan.redis {
                theirs.push(&run_redis(program, plan, point, &dialect).await?);
            }
        }
        for (name, runs) in [("reference", &ours), ("redis", &theirs)] {
            if runs.rate.is_empty() {
                continue;
            }
            let m = |v: &[f64], d| median(v).map_or(Cell::text("-"), |x| Cell::num(x, d));
            t.rows.push(vec![
                Cell::int(point.clients as f64),
                Cell::num(point.interval.as_secs_f64() * 1e3, 0),
                Cell::text(name),
                m(&runs.publishes, 0),
                m(&runs.deliveries, 0),
                m(&runs.rate, 0),
                m(&runs.p50, 0),
                m(&runs.p99, 0),
                m(&runs.max, 0),
            ]);
        }
        t.targets.push(PerfTarget {
            what: format!("reference/redis deliveries/s, {}", point.label()),
            ratio: ratio(median(&ours.rate), median(&theirs.rate)),
            goal: 1.0,
            direction: Goal::AtLeast,
        });
        t.targets.push(PerfTarget {
            what: format!("reference/redis p99 latency, {}", point.label()),
            ratio: ratio(median(&ours.p99), median(&theirs.p99)),
            goal: 1.0,
            direction: Goal::AtMost,
        });
    }
    if plan.redis.is_none() {
        t.notes.push("redis-server not installed: skipped".into());
    }
    t.notes.push(format!(
        "median of {} runs; publishing for {:?}, each publish acknowledged before the next, \
         then up to {:?} to drain; deliveries/s = deliveries / (first publish → last delivery)",
        plan.runs, plan.fanout.duration, plan.fanout.drain
    ));
    t.notes.push(
        "notif clients answer each notification with OK and the server coalesces what \
         became available meanwhile, so it may deliver fewer notifications than publishes; \
         its latency is measured from the oldest publish not yet announced"
            .into(),
    );
    Ok(t)
}
