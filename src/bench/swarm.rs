//! Many subscribers at once, for the fan-out and memory measurements: connecting them to the
//! reference server (in notification mode) or to Redis (subscribed), publishing, and
//! listening with per-delivery latency.
//!
//! Latency is publish → arrival. A Redis message carries its publish's sequence number, so
//! each delivery is matched exactly. A notif notification carries no payload, and the
//! reference server coalesces what became available while a notification was outstanding;
//! so a notification is taken to announce every publish made before it arrived, and its
//! latency is measured from the *oldest* of those not yet announced — the conservative
//! reading. A notification that finds nothing new (its publish was recorded as covered by
//! the previous one) counts as a delivery without a latency sample.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use tokio::sync::watch;
use tokio::time::Instant;

use super::BenchError;
use super::conn::LineConn;
use super::redis;
use super::stats::{Histogram, LogLinear};
use crate::dialect::Dialect;

/// Connections opened at once: more would overflow the listen backlog and measure SYN
/// retransmission instead of the server.
const CONNECT_CONCURRENCY: usize = 128;

/// The system that fans out.
#[derive(Debug, Clone, Copy)]
pub enum Broker {
    /// The reference server: clients in notification mode, publishing on the control port.
    Reference {
        /// Client address.
        addr: SocketAddr,
        /// Control address.
        control: SocketAddr,
    },
    /// Redis pub/sub.
    Redis {
        /// Server address.
        addr: SocketAddr,
    },
}

impl Broker {
    /// `reference` or `redis`, for tables.
    pub fn name(&self) -> &'static str {
        match self {
            Broker::Reference { .. } => "reference",
            Broker::Redis { .. } => "redis",
        }
    }
}

/// The dialect's lines a subscriber needs, terminated once, ready to compare or send.
#[derive(Debug, Clone)]
struct Spellings {
    classified: Vec<u8>,
    enter: Vec<u8>,
    mode_ack: String,
    notifications: [Vec<u8>; 2],
    ok: Vec<u8>,
    publish: Vec<u8>,
}

impl Spellings {
    fn of(dialect: &Dialect) -> Spellings {
        let end = dialect.line_ending.as_bytes();
        let line = |s: &str| [s.as_bytes(), end].concat();
        Spellings {
            classified: line(&dialect.commands.classified),
            enter: line(&dialect.commands.enter),
            mode_ack: dialect.replies.mode_ack.clone(),
            notifications: [
                dialect.notifications.random.clone().into_bytes(),
                dialect.notifications.classified.clone().into_bytes(),
            ],
            ok: line(&dialect.answers.ok),
            publish: line("publish random"),
        }
    }
}

/// Opens `n` subscribers: in notification mode (mode acknowledged) or subscribed (confirmed).
/// A notif subscriber first reads the ad that is unread at connection start, so that the
/// only notifications it gets are for what the benchmark publishes.
pub async fn subscribe(
    broker: Broker,
    n: usize,
    dialect: &Dialect,
    timeout: Duration,
) -> Result<Vec<LineConn>, BenchError> {
    let sp = Spellings::of(dialect);
    futures::stream::iter(0..n)
        .map(|_| {
            let sp = &sp;
            async move {
                match broker {
                    Broker::Reference { addr, .. } => {
                        let mut c = LineConn::connect(addr, timeout).await?;
                        c.send(&sp.classified).await?;
                        c.line().await?;
                        c.send(&sp.enter).await?;
                        c.expect(&sp.mode_ack).await?;
                        Ok(c)
                    }
                    Broker::Redis { addr } => {
                        let mut c = LineConn::connect(addr, timeout).await?;
                        redis::subscribe(&mut c).await?;
                        Ok(c)
                    }
                }
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .try_collect()
        .await
}

/// When each publish was made, shared by the publisher and every listener without locks.
/// Its capacity bounds the run's publishes.
#[derive(Debug)]
pub struct PublishLog {
    start: Instant,
    times: Box<[AtomicU64]>,
    len: AtomicUsize,
}

impl PublishLog {
    /// Room for `capacity` publishes.
    pub fn new(capacity: usize) -> PublishLog {
        PublishLog {
            start: Instant::now(),
            times: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            len: AtomicUsize::new(0),
        }
    }

    /// Records a publish about to be sent; its sequence number, or `None` when full.
    /// Only one publisher may call this.
    fn push(&self) -> Option<usize> {
        let i = self.len.load(Ordering::Relaxed);
        let slot = self.times.get(i)?;
        slot.store(self.start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.len.store(i + 1, Ordering::Release);
        Some(i)
    }

    /// Publishes recorded so far.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether nothing was published.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When publish `i` was made (`i` < [`PublishLog::len`]).
    pub fn time(&self, i: usize) -> Instant {
        let nanos = self.times.get(i).map_or(0, |t| t.load(Ordering::Relaxed));
        self.start + Duration::from_nanos(nanos)
    }
}

/// Publishes every `interval` for `duration` (and at most the log's capacity), each publish
/// acknowledged before the next; returns how many were made.
pub async fn publish(
    broker: Broker,
    log: &PublishLog,
    interval: Duration,
    duration: Duration,
    timeout: Duration,
) -> Result<usize, BenchError> {
    let sp = Spellings::of(&Dialect::default());
    let mut conn = match broker {
        Broker::Reference { control, .. } => LineConn::connect(control, timeout).await?,
        Broker::Redis { addr } => LineConn::connect(addr, timeout).await?,
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = Instant::now() + duration;
    let result = async {
        while Instant::now() < end {
            tick.tick().await;
            let Some(seq) = log.push() else { break };
            match broker {
                Broker::Reference { .. } => {
                    conn.send(&sp.publish).await?;
                    conn.expect("OK").await?;
                }
                Broker::Redis { .. } => {
                    redis::publish(&mut conn, &seq.to_string()).await?;
                }
            }
        }
        Ok(())
    }
    .await;
    result.map(|()| log.len())
}

/// Where a fan-out run is, as the listeners see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Publishes are being made.
    Publishing,
    /// Publishing is over: a listener that has everything stops.
    Draining,
    /// The drain time is over: every listener stops.
    Stop,
}

/// What one subscriber received.
#[derive(Debug, Default)]
pub struct Received {
    /// Notifications or messages received.
    pub deliveries: u64,
    /// Publish → arrival.
    pub latency: Histogram<LogLinear>,
    /// When the last one arrived.
    pub last: Option<Instant>,
}

/// One thing a subscriber received: a notification, or a Redis message's sequence number.
enum Incoming {
    Notification,
    Message(usize),
}

/// Reads the next delivery on `conn`, failing on anything else.
async fn next(
    broker: Broker,
    conn: &mut LineConn,
    sp: &Spellings,
    log: &PublishLog,
) -> Result<Incoming, BenchError> {
    match broker {
        Broker::Reference { .. } => {
            let line = conn.line().await?;
            if sp.notifications.iter().any(|n| n.as_slice() == line) {
                Ok(Incoming::Notification)
            } else {
                Err(BenchError::Protocol {
                    what: format!(
                        "a notification was expected, got `{}`",
                        String::from_utf8_lossy(line)
                    ),
                })
            }
        }
        Broker::Redis { .. } => {
            let msg = redis::read_array(conn).await?;
            let seq = match msg.as_slice() {
                [kind, _, payload] if kind == b"message" => std::str::from_utf8(payload)
                    .ok()
                    .and_then(|p| p.parse::<usize>().ok()),
                _ => None,
            };
            // Publishes are logged before they are sent, so a real one is already logged.
            seq.filter(|&s| s < log.len())
                .map(Incoming::Message)
                .ok_or_else(|| BenchError::Protocol {
                    what: format!("redis: unexpected push {msg:?}"),
                })
        }
    }
}

/// Receives on `conn`, answering each notification with the dialect's OK, until it has heard
/// of every publish once publishing is over, or `phase` says stop.
pub async fn listen(
    broker: Broker,
    mut conn: LineConn,
    dialect: &Dialect,
    log: Arc<PublishLog>,
    mut phase: watch::Receiver<Phase>,
) -> Result<Received, BenchError> {
    let sp = Spellings::of(dialect);
    let mut got = Received::default();
    // How many publishes (in order) this subscriber has heard of.
    let mut heard = 0usize;
    loop {
        let incoming = tokio::select! {
            biased;
            changed = phase.changed() => {
                let now = *phase.borrow_and_update();
                if changed.is_err() || now == Phase::Stop {
                    break;
                }
                None
            }
            r = next(broker, &mut conn, &sp, &log) => Some(r?),
        };
        if let Some(incoming) = incoming {
            let t = Instant::now();
            got.deliveries += 1;
            got.last = Some(t);
            match incoming {
                Incoming::Notification => {
                    let published = log.len();
                    if heard < published {
                        got.latency.record(t - log.time(heard));
                        heard = published;
                    }
                    conn.send(&sp.ok).await?;
                }
                Incoming::Message(seq) => {
                    got.latency.record(t - log.time(seq));
                    heard = heard.max(seq + 1);
                }
            }
        }
        if *phase.borrow() == Phase::Draining && heard == log.len() {
            break;
        }
    }
    Ok(got)
}
