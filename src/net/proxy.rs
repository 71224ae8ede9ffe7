//! A checking, recording proxy between a client and a server.
//!
//! It must be invisible: bytes are copied unchanged in both directions, half-closes are passed
//! on as half-closes and resets as resets. A *copy* of each direction is split into lines with
//! the wire codec and fed to one checker per connection, so violations are reported live with
//! the connection id, and (with a record folder) each connection becomes a transcript that
//! `check` and `replay` accept. Memory per connection is bounded: one read buffer per
//! direction and the codec's line limit. Each connection is one task that forwards both
//! directions and owns its checker, so nothing on the path of a byte is shared between
//! connections or between the two directions.

use std::borrow::Cow;
use std::fmt;
use std::io::BufWriter;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::codec::Decoder as _;

use crate::checker::{Checker, Event, EventKind, Party, Terminator, Violation};
use crate::dialect::Dialect;
use crate::transcript::{Directive, FrontMatter, TranscriptWriter};
use crate::wire::{Ending, Frame, LineCodec};

/// Bytes read from one side at a time; also the most a direction buffers.
const CHUNK: usize = 8 * 1024;

/// Default limit on connections proxied at once (each costs two buffers and a checker).
pub const DEFAULT_MAX_CONNS: usize = 256;

/// How the proxy is set up.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The server every client connection is forwarded to.
    pub upstream: String,
    /// The dialect the checker and the recordings use.
    pub dialect: Dialect,
    /// How the dialect is named in recordings' front matter (a built-in name or a path).
    pub dialect_ref: String,
    /// Write one transcript per connection into this folder.
    pub record: Option<PathBuf>,
    /// Bound on connecting to the upstream.
    pub connect_timeout: Duration,
    /// Connections proxied at once; further clients wait in the listen backlog.
    pub max_conns: usize,
    /// Most bytes written to one recording; past it the recording is marked truncated and
    /// closed (the connection is still forwarded and checked). A flooding peer must not fill
    /// the disk: without a limit one wrote 287 MB in 8 s.
    pub record_limit: u64,
    /// Threads the connections run on, each with an event loop of its own and connections
    /// handed to them in turn; 0 runs them on the caller's runtime. A connection stays on its
    /// thread, as in haproxy: with tokio's shared scheduler, half of each burst of ready
    /// sockets was handed to the other worker, which on a busy machine waited to be
    /// scheduled (at 100 connections: 0.76× haproxy's round trips/s on one runtime, ≈ 1.0×
    /// on two single-threaded ones; docs/performance.md).
    pub threads: usize,
}

/// Default [`ProxyConfig::record_limit`]: far above any real conversation of this protocol,
/// far below a full disk.
pub const DEFAULT_RECORD_LIMIT: u64 = 4 * 1024 * 1024;

impl ProxyConfig {
    /// Defaults: no recording, 5 s connect timeout, [`DEFAULT_MAX_CONNS`],
    /// [`DEFAULT_RECORD_LIMIT`], connections on the caller's runtime.
    pub fn new(upstream: impl Into<String>, dialect: Dialect) -> ProxyConfig {
        ProxyConfig {
            upstream: upstream.into(),
            dialect_ref: dialect.name.clone(),
            dialect,
            record: None,
            connect_timeout: Duration::from_secs(5),
            max_conns: DEFAULT_MAX_CONNS,
            record_limit: DEFAULT_RECORD_LIMIT,
            threads: 0,
        }
    }
}

/// Something worth telling the user about one connection, as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyReport {
    /// A client connected and the upstream accepted.
    Opened {
        /// Connection id (1, 2, ... in accept order).
        conn: u64,
        /// The client's address.
        client: SocketAddr,
    },
    /// The upstream could not be reached; the client's connection is closed.
    UpstreamFailed {
        /// Connection id.
        conn: u64,
        /// Why.
        error: String,
    },
    /// A rule was broken.
    Violation {
        /// Connection id.
        conn: u64,
        /// Which rule, where, and why.
        violation: Violation,
    },
    /// A line over the dialect's limit passed through (forwarded as-is).
    Oversized {
        /// Connection id.
        conn: u64,
        /// Who sent it.
        from: Party,
    },
    /// One side closed its sending side; the proxy passed the half-close on.
    HalfClosed {
        /// Connection id.
        conn: u64,
        /// Who closed.
        by: Party,
    },
    /// One side reset the connection; the proxy reset the other side.
    Reset {
        /// Connection id.
        conn: u64,
        /// Who reset.
        by: Party,
    },
    /// The recording could not be written (forwarding goes on).
    RecordFailed {
        /// Connection id.
        conn: u64,
        /// Why.
        error: String,
    },
    /// The connection is over.
    Closed {
        /// Connection id.
        conn: u64,
        /// Rules broken on it.
        violations: usize,
        /// Where its transcript was written.
        recorded: Option<PathBuf>,
    },
}

impl fmt::Display for ProxyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyReport::Opened { conn, client } => write!(f, "conn {conn}: opened from {client}"),
            ProxyReport::UpstreamFailed { conn, error } => {
                write!(
                    f,
                    "conn {conn}: upstream unreachable, client closed: {error}"
                )
            }
            ProxyReport::Violation { conn, violation } => {
                write!(f, "conn {conn}: {}: {}", violation.rule, violation.message)
            }
            ProxyReport::Oversized { conn, from } => {
                write!(
                    f,
                    "conn {conn}: {from} sent a line over the limit (forwarded as-is)"
                )
            }
            ProxyReport::HalfClosed { conn, by } => {
                write!(f, "conn {conn}: {by} closed its side (passed on)")
            }
            ProxyReport::Reset { conn, by } => {
                write!(f, "conn {conn}: {by} reset the connection (passed on)")
            }
            ProxyReport::RecordFailed { conn, error } => {
                write!(f, "conn {conn}: recording stopped: {error}")
            }
            ProxyReport::Closed {
                conn,
                violations,
                recorded,
            } => {
                write!(f, "conn {conn}: closed, {violations} violation(s)")?;
                if let Some(p) = recorded {
                    write!(f, ", recorded to {}", p.display())?;
                }
                Ok(())
            }
        }
    }
}

/// Where reports go: the CLI prints them, tests collect them.
pub type ReportSink = Arc<dyn Fn(ProxyReport) + Send + Sync>;

/// A running proxy. Dropping it (or [`ProxyHandle::shutdown`]) stops accepting and drops
/// every proxied connection.
#[derive(Debug)]
pub struct ProxyHandle {
    local_addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    shards: Vec<ShardThread>,
}

impl ProxyHandle {
    /// Where clients connect.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the proxy and its connections.
    pub async fn shutdown(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    /// Runs until the proxy fails (it only stops when aborted or dropped).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.task.abort();
        // Stop every shard, then wait for each: its runtime drops its connections, which
        // flushes their recordings, before the caller (and the process) moves on.
        for shard in &mut self.shards {
            shard.stop.take();
        }
        for shard in &mut self.shards {
            if let Some(t) = shard.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// A thread running proxied connections on a single-threaded runtime of its own.
#[derive(Debug)]
struct ShardThread {
    /// Dropped to stop the shard.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// An accepted client on its way to a shard.
struct Job {
    conn: u64,
    client: std::net::TcpStream,
    addr: SocketAddr,
    permit: OwnedSemaphorePermit,
}

/// Starts a proxy listening on `listen`.
pub async fn start(
    listen: &str,
    cfg: ProxyConfig,
    sink: ReportSink,
) -> std::io::Result<ProxyHandle> {
    if let Some(dir) = &cfg.record {
        std::fs::create_dir_all(dir)?;
    }
    let listener = TcpListener::bind(listen).await?;
    let local_addr = listener.local_addr()?;
    let cfg = Arc::new(cfg);
    let mut shards = Vec::with_capacity(cfg.threads);
    let mut queues = Vec::with_capacity(cfg.threads);
    for i in 0..cfg.threads {
        let (tx, rx) = mpsc::unbounded_channel();
        shards.push(start_shard(i, rx, cfg.clone(), sink.clone())?);
        queues.push(tx);
    }
    let task = tokio::spawn(accept_loop(listener, cfg, sink, queues));
    Ok(ProxyHandle {
        local_addr,
        task,
        shards,
    })
}

fn start_shard(
    i: usize,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    cfg: Arc<ProxyConfig>,
    sink: ReportSink,
) -> std::io::Result<ShardThread> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stop, mut stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("proxy-{i}"))
        .spawn(move || {
            rt.block_on(async {
                let mut conns = JoinSet::new();
                loop {
                    let job = tokio::select! {
                        biased;
                        _ = &mut stopped => break,
                        job = jobs.recv() => job,
                    };
                    let Some(job) = job else { break };
                    while conns.try_join_next().is_some() {}
                    let (cfg, sink) = (cfg.clone(), sink.clone());
                    conns.spawn(async move {
                        match TcpStream::from_std(job.client) {
                            Ok(client) => {
                                proxy_connection(job.conn, client, job.addr, &cfg, &sink).await;
                            }
                            Err(e) => tracing::warn!("proxy: conn {}: {e}", job.conn),
                        }
                        drop(job.permit);
                    });
                }
            });
            // Dropping the runtime drops the connections still open (and flushes their
            // recordings) on this thread.
            drop(rt);
        })?;
    Ok(ShardThread {
        stop: Some(stop),
        thread: Some(thread),
    })
}

async fn accept_loop(
    listener: TcpListener,
    cfg: Arc<ProxyConfig>,
    sink: ReportSink,
    shards: Vec<mpsc::UnboundedSender<Job>>,
) {
    let limit = Arc::new(Semaphore::new(cfg.max_conns.max(1)));
    let mut conns = JoinSet::new();
    let mut next_id = 0u64;
    loop {
        // Take a permit before accepting, so excess clients wait in the backlog.
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        // Reap finished connections so the set stays as small as the limit.
        while conns.try_join_next().is_some() {}
        let (client, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("proxy accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        next_id += 1;
        let conn = next_id;
        if !shards.is_empty() {
            // In turn: connections doing the same work spread evenly over the threads.
            let shard = &shards[(conn % shards.len() as u64) as usize];
            match client.into_std() {
                Ok(client) => {
                    let job = Job {
                        conn,
                        client,
                        addr,
                        permit,
                    };
                    if shard.send(job).is_err() {
                        tracing::warn!("proxy: conn {conn}: its thread is gone");
                    }
                }
                Err(e) => tracing::warn!("proxy: conn {conn}: {e}"),
            }
            continue;
        }
        let cfg = cfg.clone();
        let sink = sink.clone();
        conns.spawn(async move {
            proxy_connection(conn, client, addr, &cfg, &sink).await;
            drop(permit);
        });
    }
}

async fn proxy_connection(
    conn: u64,
    client: TcpStream,
    addr: SocketAddr,
    cfg: &ProxyConfig,
    sink: &ReportSink,
) {
    let connected = tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(&cfg.upstream));
    let upstream = match connected.await {
        Ok(Ok(s)) => s,
        failed => {
            let error = match failed {
                Ok(Err(e)) => format!("{}: {e}", cfg.upstream),
                _ => format!(
                    "{}: no answer within {:?}",
                    cfg.upstream, cfg.connect_timeout
                ),
            };
            // The client sees what it would have seen connecting directly: a reset.
            let _ = client.set_zero_linger();
            drop(client);
            sink(ProxyReport::UpstreamFailed { conn, error });
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    sink(ProxyReport::Opened { conn, client: addr });
    let peers = format!("client {addr} -> upstream {}", cfg.upstream);
    let mut tap = Tap::new(conn, cfg, &peers, sink.clone());
    let mut ends = [client, upstream];
    if let Some(by) = forward(&mut ends, &mut tap).await {
        // A reset must not turn into an orderly close: zero linger makes the close of the
        // other side (below, when `ends` drops) a reset too.
        let _ = ends[1 - by as usize].set_zero_linger();
    }
    drop(ends);
    let summary = tap.finish();
    sink(summary);
}

/// Forwards both directions of one connection on its one task, until both have ended or
/// one ended in a reset (then returns who reset). `ends[p as usize]` is party `p`'s socket.
///
/// One task per connection, not one per direction: a round trip wakes one task per message
/// instead of two halves sharing a lock, and the checker, owned by the task, needs no lock.
/// Each direction keeps its own buffer and only reads when its last chunk is fully written,
/// so a peer that does not read stalls its direction alone, never the other one.
async fn forward(ends: &mut [TcpStream; 2], tap: &mut Tap) -> Option<Party> {
    let mut flows = [Flow::new(Party::Client), Flow::new(Party::Server)];
    std::future::poll_fn(|cx| {
        // Each direction runs until it waits on a socket (which then holds the task's
        // waker), and is polled once more only when the task is woken: the directions share
        // no state a poll of the other could change. Tokio's cooperative budget makes a poll
        // return `Pending` (and wake the task) before a busy direction starves the runtime.
        for flow in &mut flows {
            let (a, b) = ends.split_at_mut(1);
            let (from, to) = match flow.party {
                Party::Client => (&mut a[0], &mut b[0]),
                Party::Server => (&mut b[0], &mut a[0]),
            };
            loop {
                match flow.poll(cx, from, to, tap) {
                    Step::Reset => return Poll::Ready(Some(flow.party)),
                    Step::Moved => {}
                    Step::Waiting => break,
                }
            }
        }
        if flows.iter().all(|f| f.ended) {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    })
    .await
}

/// What one poll of a direction did.
enum Step {
    /// Bytes moved or the direction ended: poll again.
    Moved,
    /// Nothing to do until a socket is ready (the waker is registered) or the direction is over.
    Waiting,
    /// The sender reset the connection.
    Reset,
}

/// One direction: bytes read from `party` and not yet all written to the other side.
struct Flow {
    party: Party,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    ended: bool,
}

impl Flow {
    fn new(party: Party) -> Flow {
        Flow {
            party,
            buf: vec![0u8; CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            ended: false,
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        from: &mut TcpStream,
        to: &mut TcpStream,
        tap: &mut Tap,
    ) -> Step {
        if self.ended {
            return Step::Waiting;
        }
        if self.start < self.end {
            return match Pin::new(&mut *to).poll_write(cx, &self.buf[self.start..self.end]) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    self.start += n;
                    Step::Moved
                }
                Poll::Ready(_) => {
                    // The receiver is gone; its own direction reports how. Stop reading
                    // for it, and close the half it can no longer take.
                    let _ = Pin::new(to).poll_shutdown(cx);
                    self.ended = true;
                    Step::Moved
                }
                Poll::Pending => Step::Waiting,
            };
        }
        let mut rb = ReadBuf::new(&mut self.buf);
        match Pin::new(&mut *from).poll_read(cx, &mut rb) {
            Poll::Pending => Step::Waiting,
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                if n == 0 {
                    tap.closed(self.party, false);
                    let _ = Pin::new(to).poll_shutdown(cx);
                    self.ended = true;
                    return Step::Moved;
                }
                (self.start, self.end) = (0, n);
                // Forward first, then judge the same bytes before anything else is read:
                // the other peer's answer to them can only be read after this returns, so
                // the checker still sees every line before any reply to it.
                if let Poll::Ready(Ok(w)) = Pin::new(&mut *to).poll_write(cx, &self.buf[..n]) {
                    self.start = w;
                }
                tap.bytes(self.party, &self.buf[..n]);
                Step::Moved
            }
            Poll::Ready(Err(_)) => {
                tap.closed(self.party, true);
                self.ended = true;
                Step::Reset
            }
        }
    }
}

/// One connection's observer: line splitting, the checker and the recording.
struct Tap {
    conn: u64,
    start: Instant,
    checker: Checker,
    codecs: [(LineCodec, BytesMut); 2],
    sink: ReportSink,
    recorder: Option<Recorder>,
    /// Where the recording went (kept when it was cut at the limit).
    recorded: Option<PathBuf>,
    record_limit: u64,
    first_close: Option<Party>,
    violations: usize,
    /// The checker's findings for the line at hand (kept, so judging a line allocates nothing).
    found: Vec<Violation>,
}

impl Tap {
    fn new(conn: u64, cfg: &ProxyConfig, peers: &str, sink: ReportSink) -> Tap {
        let d = &cfg.dialect;
        let codec = || (LineCodec::new(d.max_line, d.line_ending), BytesMut::new());
        let mut tap = Tap {
            conn,
            start: Instant::now(),
            checker: Checker::new(d.clone()),
            codecs: [codec(), codec()],
            sink,
            recorder: None,
            recorded: None,
            record_limit: cfg.record_limit,
            first_close: None,
            violations: 0,
            found: Vec::new(),
        };
        if let Some(dir) = &cfg.record {
            match open_recording(dir, conn, &cfg.dialect_ref, peers) {
                Ok(r) => {
                    tap.recorded = Some(r.path.clone());
                    tap.recorder = Some(r);
                }
                Err(e) => tap.record_failed(e),
            }
        }
        tap
    }

    fn bytes(&mut self, from: Party, chunk: &[u8]) {
        let i = from as usize;
        self.codecs[i].1.extend_from_slice(chunk);
        loop {
            let (codec, buf) = &mut self.codecs[i];
            match codec.decode(buf) {
                Ok(Some(frame)) => self.frame(from, frame),
                Ok(None) | Err(_) => break,
            }
        }
    }

    fn frame(&mut self, from: Party, frame: Frame) {
        match frame {
            Frame::Line(raw) => {
                // Borrowed when the line is UTF-8 (always, for a conforming peer): no
                // allocation per line.
                let text = match std::str::from_utf8(&raw.bytes) {
                    Ok(t) => Cow::Borrowed(t),
                    Err(_) => String::from_utf8_lossy(&raw.bytes),
                };
                self.record(|w| match from {
                    Party::Client => w.client(&text),
                    Party::Server => w.server(&text),
                });
                let terminator = match raw.ending {
                    Ending::Lf => Terminator::Lf,
                    Ending::CrLf => Terminator::CrLf,
                    Ending::Eof => Terminator::Missing,
                };
                let mut found = std::mem::take(&mut self.found);
                self.checker
                    .feed_line(from, &text, terminator, None, &mut found);
                self.report(&mut found);
                self.found = found;
            }
            Frame::TooLong { limit } => {
                (self.sink)(ProxyReport::Oversized {
                    conn: self.conn,
                    from,
                });
                self.record(|w| {
                    w.comment(&format!(
                        "{from} sent a line over {limit} bytes (forwarded, not recorded)"
                    ))
                });
                self.feed(EventKind::Oversized { from });
            }
        }
    }

    fn closed(&mut self, by: Party, reset: bool) {
        // An unterminated last line is still a line (the framing rules judge it).
        let i = by as usize;
        let (codec, buf) = &mut self.codecs[i];
        if let Ok(Some(frame)) = codec.decode_eof(buf) {
            self.frame(by, frame);
        }
        let conn = self.conn;
        (self.sink)(if reset {
            ProxyReport::Reset { conn, by }
        } else {
            ProxyReport::HalfClosed { conn, by }
        });
        // The format has no half-close: the close is noted here, and the directive for
        // whoever closed first ends the recording (see `finish`), so it is complete.
        self.first_close.get_or_insert(by);
        let what = if reset {
            "reset the connection"
        } else {
            "closed its side"
        };
        self.record(|w| w.comment(&format!("{by} {what}")));
        self.feed(EventKind::Closed { by });
    }

    fn feed(&mut self, kind: EventKind) {
        let event = Event {
            at: Some(self.start.elapsed()),
            source_line: None,
            kind,
        };
        let mut found = self.checker.feed(&event);
        self.report(&mut found);
    }

    /// Reports (and records) the violations in `found`, leaving it empty for reuse.
    fn report(&mut self, found: &mut Vec<Violation>) {
        for violation in found.drain(..) {
            self.violations += 1;
            self.record(|w| w.comment(&format!("{}: {}", violation.rule, violation.message)));
            (self.sink)(ProxyReport::Violation {
                conn: self.conn,
                violation,
            });
        }
    }

    /// Writes to the recording with a timestamp first; a failure stops the recording only.
    /// Once the recording holds `record_limit` bytes it is marked truncated and closed.
    fn record(&mut self, f: impl FnOnce(&mut RecordWriter) -> std::io::Result<()>) {
        let Some(r) = &mut self.recorder else {
            return;
        };
        let at = self.start.elapsed();
        if r.written.load(Ordering::Relaxed) >= self.record_limit {
            let limit = self.record_limit;
            let marked =
                r.w.comment(&format!(
                    "{TRUNCATED_MARK} at {limit} bytes (--record-limit): the connection went on, \
                     forwarded and checked, but the rest is not recorded"
                ))
                .and_then(|()| r.w.flush());
            self.recorder = None;
            let error = match marked {
                Ok(()) => format!(
                    "the recording reached --record-limit ({limit} bytes) and was cut there \
                     (marked in the file); forwarding and checking go on"
                ),
                Err(e) => e.to_string(),
            };
            (self.sink)(ProxyReport::RecordFailed {
                conn: self.conn,
                error,
            });
            return;
        }
        if let Err(e) = r.w.timestamp(at).and_then(|()| f(&mut r.w)) {
            self.recorder = None;
            self.recorded = None;
            self.record_failed(e);
        }
    }

    fn record_failed(&mut self, e: std::io::Error) {
        (self.sink)(ProxyReport::RecordFailed {
            conn: self.conn,
            error: e.to_string(),
        });
    }

    /// Ends the conversation: a connection closed by either side is complete, so what is
    /// left hanging is judged too.
    fn finish(&mut self) -> ProxyReport {
        let mut found = self.checker.finish(self.first_close.is_some());
        self.report(&mut found);
        if let Some(by) = self.first_close {
            let d = match by {
                Party::Client => Directive::Close,
                Party::Server => Directive::ExpectClose,
            };
            self.record(|w| w.directive(&d));
        }
        if let Some(mut r) = self.recorder.take()
            && let Err(e) = r.w.flush()
        {
            self.recorded = None;
            self.record_failed(e);
        }
        let recorded = self.recorded.take();
        ProxyReport::Closed {
            conn: self.conn,
            violations: self.violations,
            recorded,
        }
    }
}

/// The comment that ends a recording cut at the size limit (`check` and people can look for it).
pub const TRUNCATED_MARK: &str = "notifspec proxy: recording truncated";

/// A recording being written, and where.
struct Recorder {
    w: RecordWriter,
    path: PathBuf,
    /// Bytes written so far (shared with the [`Counted`] inside `w`).
    written: Arc<AtomicU64>,
}

type RecordWriter = TranscriptWriter<Counted<BufWriter<std::fs::File>>>;

/// Counts the bytes written through it, for the recording size limit.
struct Counted<W> {
    inner: W,
    written: Arc<AtomicU64>,
}

impl<W: std::io::Write> std::io::Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn open_recording(
    dir: &Path,
    conn: u64,
    dialect_ref: &str,
    peers: &str,
) -> std::io::Result<Recorder> {
    let now = SystemTime::now();
    let stamp = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let path = dir.join(format!("conn-{conn}-{stamp}.txt"));
    let file = std::fs::File::create_new(&path)?;
    let front = FrontMatter {
        title: Some(format!("proxy recording of connection {conn}")),
        dialect: Some(dialect_ref.to_string()),
        ..FrontMatter::default()
    };
    let written = Arc::new(AtomicU64::new(0));
    let out = Counted {
        inner: BufWriter::new(file),
        written: written.clone(),
    };
    let mut w = TranscriptWriter::new(out, &front)?;
    w.comment(&format!(
        "recorded by notifspec proxy at {}",
        humantime::format_rfc3339_seconds(now)
    ))?;
    w.comment(peers)?;
    Ok(Recorder { w, path, written })
}
