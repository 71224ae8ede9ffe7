//! `notifspec bench`: the reference server measured side by side with baselines, on loopback.
//!
//! Six measurements, one file each — [`rr`] (request/response against a floor server),
//! [`fanout`] (notification delivery against Redis pub/sub), [`memory`] (resident memory per
//! idle connection against Redis), [`check`] (`notifspec check` against `wc -l`),
//! [`replay`], and [`proxy`] (round trips through `notifspec proxy` against haproxy). Each
//! runs several times and reports medians, with the ratio to its baseline
//! and the target from issue 7 (rr and memory: issue 14's). Targets are printed, never
//! enforced: on a shared 2-core
//! machine a benchmark informs, and the machinery is tested on tiny plans only.
//!
//! Every server under test (the reference server, the floor, Redis) runs as a child process
//! ([`process`]); the load generator is this process. Every wait is bounded, and every run
//! is bounded in time and count by its [`Plan`].

pub mod check;
pub mod conn;
pub mod fanout;
pub mod floor;
pub mod memory;
pub mod process;
pub mod proxy;
pub mod redis;
pub mod replay;
pub mod rr;
pub mod stats;
pub mod swarm;
pub mod table;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use process::{ChildServer, free_addr};
pub use table::{Cell, Goal, PerfTarget, Table};

/// Why a measurement could not be made. Each names what was being done, so a reader can tell
/// a missing baseline from a broken server.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// An OS call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A wait passed its bound.
    #[error("{what}: no progress within {after:?}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The bound.
        after: Duration,
    },
    /// A server said something the benchmark did not expect.
    #[error("unexpected traffic: {what}")]
    Protocol {
        /// What was wrong.
        what: String,
    },
    /// A child server could not be started.
    #[error("could not start {name}: {reason}")]
    Start {
        /// Which server.
        name: String,
        /// Why.
        reason: String,
    },
    /// A command under test is not part of this build.
    #[error("{0}")]
    Unavailable(String),
}

/// The measurements, as `--only` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// `random?` round trips against the floor.
    Rr,
    /// Notification delivery against Redis pub/sub.
    Fanout,
    /// Resident memory per idle connection against Redis.
    Memory,
    /// `notifspec check` against `wc -l`.
    Check,
    /// Transcripts replayed per second.
    Replay,
    /// Round trips through `notifspec proxy` against haproxy.
    Proxy,
}

impl Which {
    /// All measurements in the order they run.
    pub const ALL: [Which; 6] = [
        Which::Rr,
        Which::Fanout,
        Which::Memory,
        Which::Check,
        Which::Replay,
        Which::Proxy,
    ];
}

/// Everything a benchmark run does, with its bounds. [`Plan::full`] is the documented run,
/// [`Plan::quick`] a smoke run of about half a minute; tests build tiny plans by hand.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The `notifspec` binary the child servers and `check` run from.
    pub exe: PathBuf,
    /// `redis-server`, when installed; `None` skips the Redis columns.
    pub redis: Option<PathBuf>,
    /// `haproxy`, when installed; `None` skips the haproxy rows.
    pub haproxy: Option<PathBuf>,
    /// Runs per figure; medians are reported.
    pub runs: usize,
    /// Which measurements to make.
    pub only: Vec<Which>,
    /// Request/response.
    pub rr: rr::RrPlan,
    /// Fan-out.
    pub fanout: fanout::FanoutPlan,
    /// Memory per connection.
    pub memory: memory::MemoryPlan,
    /// `notifspec check` throughput.
    pub check: check::CheckPlan,
    /// Replay throughput.
    pub replay: replay::ReplayPlan,
    /// Round trips through the proxies.
    pub proxy: proxy::ProxyPlan,
}

impl Plan {
    /// The documented run: a few minutes on the 2-core machine.
    pub fn full(exe: PathBuf) -> Plan {
        Plan {
            exe,
            redis: process::on_path("redis-server"),
            haproxy: process::on_path("haproxy"),
            runs: 5,
            only: Which::ALL.to_vec(),
            rr: rr::RrPlan {
                conns: vec![1, 10, 100],
                duration: Duration::from_secs(1),
                max_per_conn: 1_000_000,
            },
            fanout: fanout::FanoutPlan {
                // A publish every few milliseconds saturates this machine (the figures are
                // then capacities); one every 200 ms at 1,000 clients does not, so its
                // latency is the fan-out delay itself.
                points: vec![
                    fanout::Point {
                        clients: 1_000,
                        interval: Duration::from_millis(200),
                    },
                    fanout::Point {
                        clients: 1_000,
                        interval: Duration::from_millis(2),
                    },
                    fanout::Point {
                        clients: 10_000,
                        interval: Duration::from_millis(10),
                    },
                ],
                duration: Duration::from_secs(3),
                drain: Duration::from_secs(3),
            },
            memory: memory::MemoryPlan { conns: 10_000 },
            check: check::CheckPlan { lines: 10_000_000 },
            replay: replay::ReplayPlan {
                transcripts: 1_000,
                jobs: 8,
            },
            proxy: proxy::ProxyPlan {
                conns: vec![10, 100],
                duration: Duration::from_secs(1),
                max_per_conn: 1_000_000,
            },
        }
    }

    /// A smoke run of about half a minute: smaller counts, shorter durations, one run.
    pub fn quick(exe: PathBuf) -> Plan {
        let full = Plan::full(exe);
        Plan {
            runs: 1,
            rr: rr::RrPlan {
                duration: Duration::from_millis(500),
                ..full.rr
            },
            fanout: fanout::FanoutPlan {
                points: vec![fanout::Point {
                    clients: 1_000,
                    interval: Duration::from_millis(2),
                }],
                duration: Duration::from_secs(2),
                drain: Duration::from_secs(2),
            },
            memory: memory::MemoryPlan { conns: 2_000 },
            check: check::CheckPlan { lines: 1_000_000 },
            replay: replay::ReplayPlan {
                transcripts: 100,
                jobs: 4,
            },
            proxy: proxy::ProxyPlan {
                duration: Duration::from_millis(500),
                ..full.proxy
            },
            ..full
        }
    }
}

/// Makes the planned measurements, one table each. A measurement that fails still yields its
/// table, with the error as a note, so one missing piece does not hide the other figures;
/// the second value says whether any failed.
pub async fn run(plan: &Plan) -> (Vec<Table>, bool) {
    let mut tables = Vec::new();
    let mut failed = false;
    for which in Which::ALL {
        if !plan.only.contains(&which) {
            continue;
        }
        let (id, title, result) = match which {
            Which::Rr => ("rr", rr::TITLE, rr::measure(plan).await),
            Which::Fanout => ("fanout", fanout::TITLE, fanout::measure(plan).await),
            Which::Memory => ("memory", memory::TITLE, memory::measure(plan).await),
            Which::Check => ("check", check::TITLE, check::measure(plan).await),
            Which::Replay => ("replay", replay::TITLE, replay::measure(plan).await),
            Which::Proxy => ("proxy", proxy::TITLE, proxy::measure(plan).await),
        };
        match result {
            Ok(t) => tables.push(t),
            Err(e) => {
                tracing::warn!("bench {id}: {e}");
                let mut t = Table::new(id, title, &[]);
                if !matches!(e, BenchError::Unavailable(_)) {
                    failed = true;
                }
                t.notes.push(format!("not measured: {e}"));
                tables.push(t);
            }
        }
    }
    (tables, failed)
}

/// The reference server as a child process, with the addresses it serves.
#[derive(Debug)]
pub struct Reference {
    /// The process.
    pub child: ChildServer,
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The control port (publishing).
    pub control: SocketAddr,
}

impl Reference {
    /// Starts `notifspec serve` on free loopback ports, with a control port, no publishing of
    /// its own (only the benchmark publishes), a connection limit above the largest planned
    /// count, logging only warnings (per-connection logs at
    /// 10,000 connections would measure the logger).
    pub async fn start(plan: &Plan) -> Result<Reference, BenchError> {
        let addr = free_addr()?;
        let control = free_addr()?;
        let args = vec![
            "serve".to_string(),
            "--addr".into(),
            addr.to_string(),
            "--control".into(),
            control.to_string(),
            "--max-conns".into(),
            "100000".into(),
            "--no-auto-publish".into(),
        ];
        let child = ChildServer::start(
            "the reference server",
            &plan.exe,
            &args,
            &[("RUST_LOG", "warn")],
            addr,
        )
        .await?;
        Ok(Reference {
            child,
            addr,
            control,
        })
    }
}

/// Raises this process's soft limit on open files to its hard limit, and fails with the fix
/// when that is still too low for `clients` connections (plus a margin for the runtime,
/// the publisher and the child pipes). Each server is its own process, so only the client
/// sides count here.
pub fn ensure_fds(clients: usize) -> Result<(), BenchError> {
    let need = clients as u64 + 256;
    let have = rlimit::increase_nofile_limit(need).map_err(|source| BenchError::Io {
        what: "raising RLIMIT_NOFILE".into(),
        source,
    })?;
    if have < need {
        return Err(BenchError::Start {
            name: format!("{clients} clients"),
            reason: format!(
                "{need} open files are needed but the limit is {have}; raise it (`ulimit -n {need}`)"
            ),
        });
    }
    Ok(())
}

/// `a / b`, or `None` when the baseline is zero or missing.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// Microseconds of a duration, as a figure for a table.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
