//! The reference server's tokio shell: [`ServerBuilder`] → [`ServerHandle`].
//!
//! Every notifspec command that needs a server by default starts this one in-process on an
//! ephemeral port, so the builder defaults are the deterministic ones (no auto-publish,
//! loopback, port 0); `notifspec serve` turns on the lively schedule for people using `nc`.
//!
//! Shared state is one [`Items`] store behind a mutex. A publish updates the store, then walks
//! the TCP connections idle in notification mode and writes each one's notification (decided by
//! its session) with a non-blocking write, handing what a full socket refuses to the
//! connection's task; in-memory connections are woken through a `watch` channel carrying a
//! publish counter instead. No per-client queue exists: what a connection has not been told
//! yet is two numbers compared with the store, whatever the number of publishes.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng as _;
use rand::rngs::StdRng;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, DuplexStream};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::choices::Choices;
use crate::dialect::{Dialect, ErrorPolicy};
use crate::proto::availability::{DEFAULT_AD_CAPACITY, Feed, Items, validate_ad};
use crate::wire::LineCodec;

use super::connection;
use super::control;
use super::shared::{Shared, accept_until_shutdown, random_number};
use super::shutdown::{ShutdownController, ShutdownGuard};

/// Default listening address of `notifspec serve`.
pub const DEFAULT_ADDR: &str = "127.0.0.1:6789";

/// Default connection limit: high enough for benchmarks, low enough to refuse a flood.
pub const DEFAULT_MAX_CONNS: usize = 10_000;

/// How long [`ServerHandle::shutdown`] waits for connections to close.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a refused connection gets to receive `ERR too many connections`.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Capacity of each direction of an in-memory connection: small, like a socket buffer, so
/// a client that does not read exerts back-pressure just as over TCP.
pub const IN_MEMORY_BUFFER: usize = 8 * 1024;

/// Why the server could not start or stop cleanly, or refused an input.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The dialect with the `max_line` override is unusable.
    #[error("invalid line limit: {0}")]
    MaxLine(String),
    /// `max_conns` of 0 would refuse every client.
    #[error("--max-conns must be at least 1")]
    MaxConns,
    /// An ad given to `publish_classified` cannot be sent as one line.
    #[error("cannot publish this ad: {0}")]
    BadAd(String),
    /// Connections were still open when the shutdown timeout passed.
    #[error("connections still open {0:?} after shutdown began")]
    ShutdownTimeout(Duration),
    /// The server is shutting down and takes no new connection.
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// The auto-publish schedule: how often each kind of item appears on its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishSchedule {
    /// Period of new random numbers, if any.
    pub random: Option<Duration>,
    /// Period of new classified ads (the feed's next one), if any.
    pub classified: Option<Duration>,
}

impl PublishSchedule {
    /// The lively default of `notifspec serve`: `random=3s,classified=10s`.
    pub fn lively() -> PublishSchedule {
        PublishSchedule {
            random: Some(Duration::from_secs(3)),
            classified: Some(Duration::from_secs(10)),
        }
    }

    /// Whether nothing is ever published automatically.
    pub fn is_off(&self) -> bool {
        self.random.is_none() && self.classified.is_none()
    }
}

impl FromStr for PublishSchedule {
    type Err = String;

    /// Parses `random=3s,classified=10s` (either part may be omitted), or a bare `1s` for
    /// both kinds at that period.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !s.contains('=')
            && let Ok(period) = crate::units::parse_duration(s.trim())
        {
            if period.is_zero() {
                return Err(format!("`{s}`: the period must be greater than zero"));
            }
            return Ok(PublishSchedule {
                random: Some(period),
                classified: Some(period),
            });
        }
        let mut schedule = PublishSchedule::default();
        for part in s.split(',').map(str::trim) {
            let Some((kind, period)) = part.split_once('=') else {
                return Err(format!(
                    "`{part}` is not KIND=DURATION; try `random=3s,classified=10s`"
                ));
            };
            let period = crate::units::parse_duration(period.trim())?;
            if period.is_zero() {
                return Err(format!("`{part}`: the period must be greater than zero"));
            }
            let slot = match kind.trim() {
                "random" => &mut schedule.random,
                "classified" => &mut schedule.classified,
                other => {
                    return Err(format!(
                        "unknown item kind `{other}` in `{part}` (expected `random` or `classified`)"
                    ));
                }
            };
            if slot.replace(period).is_some() {
                return Err(format!("`{}` is given twice", kind.trim()));
            }
        }
        Ok(schedule)
    }
}

pub use super::shared::ServerStats;

/// Serves `stream` as a notif connection with `serve` (TCP ones are reached by the
/// publishers' walk, others by the `watch` channel) if a permit is free, or refuses it.
fn spawn_connection<S, F, Fut>(
    shared: &Arc<Shared>,
    stream: S,
    peer: String,
    serve: F,
) -> Result<(), ServerError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
    F: FnOnce(S, Arc<Shared>, ShutdownGuard, String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let guard = shared.shutdown.guard().ok_or(ServerError::ShuttingDown)?;
    match shared.conns.clone().try_acquire_owned() {
        Ok(permit) => {
            shared.accepted.fetch_add(1, Ordering::Relaxed);
            let shared = shared.clone();
            tokio::spawn(async move {
                let _open = OpenConnection::new(&shared, permit);
                serve(stream, shared.clone(), guard, peer).await;
            });
        }
        Err(_) => {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%peer, "connection refused: too many connections");
            let shared = shared.clone();
            tokio::spawn(async move {
                let _guard = guard;
                refuse(stream, &shared).await;
            });
        }
    }
    Ok(())
}

/// Counts a connection as open for as long as it lives (and holds its permit).
struct OpenConnection<'a> {
    shared: &'a Shared,
    _permit: OwnedSemaphorePermit,
}

impl<'a> OpenConnection<'a> {
    fn new(shared: &'a Shared, permit: OwnedSemaphorePermit) -> Self {
        shared.open.fetch_add(1, Ordering::Relaxed);
        OpenConnection {
            shared,
            _permit: permit,
        }
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.shared.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Tells an extra client why it is turned away (unless the dialect stays silent), then closes.
async fn refuse<S: AsyncRead + AsyncWrite>(stream: S, shared: &Shared) {
    if shared.dialect.errors.policy == ErrorPolicy::Ignore {
        return;
    }
    let Some(mut line) = shared.dialect.error_line("too many connections") else {
        return;
    };
    crate::proto::server::fit(&mut line, shared.max_line());
    let codec = LineCodec::new(shared.max_line(), shared.dialect.line_ending);
    let mut bytes = Vec::with_capacity(line.len() + 2);
    codec.encode_into(line.as_bytes(), &mut bytes);
    let mut stream = std::pin::pin!(stream);
    if tokio::time::timeout(REFUSE_TIMEOUT, stream.write_all(&bytes))
        .await
        .is_ok_and(|r| r.is_ok())
    {
        connection::close_gracefully(stream).await;
    }
}

/// Configures and starts a reference server.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    dialect: Dialect,
    choices: Choices,
    addr: SocketAddr,
    listen: bool,
    seed: Option<u64>,
    feed: Option<Feed>,
    control: Option<SocketAddr>,
    max_conns: usize,
    max_line: Option<usize>,
    idle_timeout: Option<Duration>,
    schedule: PublishSchedule,
    ad_capacity: usize,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder::new()
    }
}

impl ServerBuilder {
    /// Default dialect, `127.0.0.1:0`, no control port, no auto-publish, no idle timeout.
    pub fn new() -> ServerBuilder {
        ServerBuilder {
            dialect: Dialect::default(),
            choices: Choices::default(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            listen: true,
            seed: None,
            feed: None,
            control: None,
            max_conns: DEFAULT_MAX_CONNS,
            max_line: None,
            idle_timeout: None,
            schedule: PublishSchedule::default(),
            ad_capacity: DEFAULT_AD_CAPACITY,
        }
    }

    /// The dialect to speak.
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// Where to listen (port 0 = ephemeral).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Do not open a TCP listener: connections come only from
    /// [`ServerHandle::connect_in_memory`] / [`ServerHandle::serve_stream`] (simulator, tests).
    pub fn without_listener(mut self) -> Self {
        self.listen = false;
        self
    }

    /// Seeds the random-number source so a run is reproducible.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The ads to start with and auto-publish (default: the built-in feed).
    pub fn feed(mut self, feed: Feed) -> Self {
        self.feed = Some(feed);
        self
    }

    /// Opens the control port on `addr`.
    pub fn control(mut self, addr: SocketAddr) -> Self {
        self.control = Some(addr);
        self
    }

    /// The most connections served at once; extra ones get `ERR too many connections`.
    pub fn max_conns(mut self, n: usize) -> Self {
        self.max_conns = n;
        self
    }

    /// Overrides the dialect's line limit.
    pub fn max_line(mut self, n: usize) -> Self {
        self.max_line = Some(n);
        self
    }

    /// Closes a connection (silently) after this long without a line from its client.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = Some(d);
        self
    }

    /// Publishes items on their own on this schedule.
    pub fn publish_schedule(mut self, schedule: PublishSchedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Which legal alternative to take at each point where the seed leaves the behaviour open
    /// (default: [`Choices::default`]).
    pub fn choices(mut self, choices: Choices) -> Self {
        self.choices = choices;
        self
    }

    /// How many ads the store retains (default 10,000).
    pub fn ad_capacity(mut self, n: usize) -> Self {
        self.ad_capacity = n;
        self
    }

    /// Binds the listeners and starts serving. Must be called within a tokio runtime.
    pub async fn start(self) -> Result<ServerHandle, ServerError> {
        let mut dialect = self.dialect;
        if let Some(n) = self.max_line {
            dialect.max_line = n;
            dialect.validate().map_err(ServerError::MaxLine)?;
        }
        if self.max_conns == 0 {
            return Err(ServerError::MaxConns);
        }
        let feed = self.feed.unwrap_or_else(Feed::builtin);
        for (i, ad) in feed.ads().iter().enumerate() {
            validate_ad(ad, dialect.max_line)
                .map_err(|e| ServerError::BadAd(format!("feed ad #{}: {e}", i + 1)))?;
        }
        let mut rng = match self.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => rand::make_rng(),
        };
        let items = Items::new(random_number(&mut rng), feed.nth(0), self.ad_capacity);
        let listener = if self.listen {
            Some(bind(self.addr).await?)
        } else {
            None
        };
        let control_listener = match self.control {
            Some(addr) => {
                if !addr.ip().is_loopback() {
                    tracing::warn!(
                        %addr,
                        "the control port is bound to a non-loopback address: anyone who reaches it can publish"
                    );
                }
                Some(bind(addr).await?)
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            dialect: Arc::new(dialect),
            choices: self.choices,
            items: Mutex::new(items),
            changed: watch::channel(0).0,
            rng: Mutex::new(rng),
            feed,
            feed_next: AtomicU64::new(1),
            idle_timeout: self.idle_timeout,
            conns: Arc::new(Semaphore::new(self.max_conns)),
            shutdown: ShutdownController::new(),
            open: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
            links: Mutex::default(),
        });
        let local_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        let control_addr = control_listener.as_ref().and_then(|l| l.local_addr().ok());
        let guard = || shared.shutdown.guard().ok_or(ServerError::ShuttingDown);
        if let Some(listener) = listener {
            tokio::spawn(accept_loop(listener, shared.clone(), guard()?));
        }
        if let Some(listener) = control_listener {
            tokio::spawn(control::accept_loop(listener, shared.clone(), guard()?));
        }
        if !self.schedule.is_off() {
            tokio::spawn(auto_publish(self.schedule, shared.clone(), guard()?));
        }
        Ok(ServerHandle {
            shared,
            local_addr,
            control_addr,
        })
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, guard: ShutdownGuard) {
    accept_until_shutdown(listener, &guard, |stream, peer| {
        let _ = stream.set_nodelay(true);
        spawn_connection(&shared, stream, peer.to_string(), connection::run_tcp).is_ok()
    })
    .await;
}

async fn auto_publish(schedule: PublishSchedule, shared: Arc<Shared>, guard: ShutdownGuard) {
    fn ticker(period: Option<Duration>) -> Option<tokio::time::Interval> {
        period.map(|p| {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + p, p);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        })
    }
    async fn tick(t: &mut Option<tokio::time::Interval>) {
        match t {
            Some(t) => {
                t.tick().await;
            }
            None => std::future::pending().await,
        }
    }
    let mut random = ticker(schedule.random);
    let mut classified = ticker(schedule.classified);
    loop {
        tokio::select! {
            _ = guard.cancelled() => return,
            _ = tick(&mut random) => {
                let n = shared.publish_random(None);
                tracing::debug!(n, "auto-published a random number");
            }
            _ = tick(&mut classified) => {
                shared.publish_next_ad();
                tracing::debug!("auto-published a classified ad");
            }
        }
    }
}

/// A running server. Dropping it signals shutdown without waiting; call
/// [`ServerHandle::shutdown`] to wait for connections to close.
#[derive(Debug)]
pub struct ServerHandle {
    pub(super) shared: Arc<Shared>,
    local_addr: Option<SocketAddr>,
    control_addr: Option<SocketAddr>,
}

impl ServerHandle {
    /// The notif listener's address (`None` when started without a listener).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The control port's address, if it was asked for.
    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.control_addr
    }

    /// The dialect spoken (with any `max_line` override applied).
    pub fn dialect(&self) -> &Dialect {
        &self.shared.dialect
    }

    /// Publishes a random number (`value`, or one from the seeded source) and returns it.
    pub fn publish_random(&self, value: Option<u64>) -> u64 {
        self.shared.publish_random(value)
    }

    /// Publishes a classified ad; it must be one non-empty line within the line limit.
    pub fn publish_classified(&self, text: impl AsRef<str>) -> Result<(), ServerError> {
        self.shared
            .publish_classified(text.as_ref())
            .map(|_| ())
            .map_err(ServerError::BadAd)
    }

    /// Serves any byte stream as a notif connection (same limits as TCP ones).
    pub fn serve_stream<S>(&self, stream: S, peer: impl Into<String>) -> Result<(), ServerError>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        spawn_connection(&self.shared, stream, peer.into(), connection::run)
    }

    /// A connection without any socket: the returned stream is the client's end.
    pub fn connect_in_memory(&self) -> Result<DuplexStream, ServerError> {
        let (client, server) = tokio::io::duplex(IN_MEMORY_BUFFER);
        self.serve_stream(server, "in-memory")?;
        Ok(client)
    }

    /// Counters (open connections, refusals, protocol errors, retained ads).
    pub fn stats(&self) -> ServerStats {
        self.shared.stats()
    }

    /// Stops accepting, closes every connection and waits (up to [`SHUTDOWN_TIMEOUT`]) until
    /// all are closed.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.shutdown_within(SHUTDOWN_TIMEOUT).await
    }

    /// Like [`ServerHandle::shutdown`] with an explicit bound.
    pub async fn shutdown_within(self, timeout: Duration) -> Result<(), ServerError> {
        if self.shared.shutdown.shutdown(timeout).await {
            Ok(())
        } else {
            Err(ServerError::ShutdownTimeout(timeout))
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shared.shutdown.signal();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_parses_and_explains_errors() {
        assert_eq!(
            "random=3s,classified=10s".parse::<PublishSchedule>(),
            Ok(PublishSchedule::lively())
        );
        let s: PublishSchedule = "classified=500ms".parse().unwrap();
        assert_eq!(s.random, None);
        assert_eq!(s.classified, Some(Duration::from_millis(500)));
        let err = "news=1s".parse::<PublishSchedule>().unwrap_err();
        assert!(err.contains("unknown item kind `news`"), "{err}");
        let err = "random=0s".parse::<PublishSchedule>().unwrap_err();
        assert!(err.contains("greater than zero"), "{err}");
        let err = "random=fast".parse::<PublishSchedule>().unwrap_err();
        assert!(err.contains("`fast` is not a duration"), "{err}");
        let err = "random=1s,random=2s"
            .parse::<PublishSchedule>()
            .unwrap_err();
        assert!(err.contains("given twice"), "{err}");
        let err = "random".parse::<PublishSchedule>().unwrap_err();
        assert!(err.contains("KIND=DURATION"), "{err}");
    }

    #[test]
    fn seeded_numbers_are_reproducible_and_seed_shaped() {
        let mut a = StdRng::seed_from_u64(7);
        let mut b = StdRng::seed_from_u64(7);
        for _ in 0..100 {
            let n = random_number(&mut a);
            assert_eq!(n, random_number(&mut b));
            assert!((100_000_000..100_000_000_000).contains(&n));
        }
    }

    /// An idle connection's memory is mostly its task, whose size is the connection future's
    /// largest state, and its `net::link::Link` (session and socket, reached by the walk):
    /// neither may hold buffers only closing needs (the task held a 4 KiB one, 5.4 KB in all,
    /// before the graceful close was boxed), nor a `watch` wait TCP connections never use.
    #[tokio::test]
    async fn a_connection_future_is_small() {
        let server = ServerBuilder::new()
            .without_listener()
            .start()
            .await
            .unwrap();
        let guard = server.shared.shutdown.guard().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let serve = connection::serve_tcp(stream, &server.shared, &guard, "p");
        let task = std::mem::size_of_val(&serve);
        // The link's allocation: the `Arc`'s two counts and the link.
        let link = 2 * std::mem::size_of::<usize>() + std::mem::size_of::<crate::net::link::Link>();
        eprintln!("the connection future is {task} bytes, its link {link}");
        assert!(
            task + link <= 2048,
            "the connection future is {task} bytes, its link {link}"
        );
        drop(serve);
        drop(guard);
        server.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn auto_publish_follows_the_schedule() {
        let server = ServerBuilder::new()
            .without_listener()
            .seed(1)
            .publish_schedule("random=3s,classified=10s".parse().unwrap())
            .start()
            .await
            .unwrap();
        let version = || {
            server
                .shared
                .with_items(|i| crate::proto::availability::ItemsView::random_version(i))
        };
        let v0 = version();
        tokio::time::sleep(Duration::from_millis(10_500)).await;
        assert_eq!(version(), v0 + 3);
        assert_eq!(server.stats().retained_ads, 2);
        server.shutdown().await.unwrap();
    }
}
