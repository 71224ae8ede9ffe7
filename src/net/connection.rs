//! One notif connection: reads lines into a [`ServerSession`] and writes its output back to
//! the peer, wakes it when items are published, and enforces the idle timeout and shutdown.
//!
//! One stream, two plain buffers: lines are found in the read buffer by [`LineCodec::scan`]
//! and handed to the session as slices (no allocation per line), and the session writes its
//! replies straight into the write buffer ([`ServerSession::transmit_into`], no `String` per
//! line). No `split` halves (a lock around the stream on every read and write), no framed
//! stream or sink polling, and the shutdown future lives for the whole connection (one
//! registration with the token, not one per wake-up).
//!
//! Bounded by construction: the read buffer holds at most one line (the codec's limit), and
//! the session's outbox holds at most a few lines because the loop drains it before reading
//! again. A client that never reads blocks only this task's write, never the publisher or
//! other connections, and publishes made meanwhile coalesce in the session's per-kind state.

use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf as _, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch::{self, error::RecvError};
use tokio::time::{Instant, Sleep};

use crate::proto::server::{Mode, ServerSession};
use crate::wire::{LineCodec, Scan};

use super::link::{Link, LinkState, lock, log_sent};
use super::shared::Shared;
use super::shutdown::ShutdownGuard;

/// Read buffer per connection while no long line arrives: any request in one read.
const READ_CAPACITY: usize = 64;

/// Write buffer allocated when lines are to be sent: a mode ack and a notification fit.
const WRITE_CAPACITY: usize = 64;

/// Why a connection ended, for the close log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// The client closed its side.
    ClientClosed,
    /// The session asked to close (an oversized line).
    Protocol,
    /// No line from the client within the idle timeout.
    Idle,
    /// The server is shutting down.
    Shutdown,
}

/// Completes when the idle timer (if any) fires.
async fn idle_expired(timer: Option<Pin<&mut Sleep>>) {
    match timer {
        Some(t) => t.await,
        None => std::future::pending().await,
    }
}

/// What a connection task waits on for publishes: the `watch` channel's counter (in-memory
/// connections), or nothing at all for TCP ones, which the publisher's walk reaches (they wait
/// for its kick instead). Generic so that a TCP task's future holds no `watch` future: its
/// size is memory per idle connection.
pub(crate) trait Publishes {
    /// Whether the walk delivers (and kicks the task on a partial write).
    const WALKED: bool;
    /// Completes after a publish; `Err` once the server is gone.
    fn changed(&mut self) -> impl std::future::Future<Output = Result<(), RecvError>> + Send;
}

impl Publishes for watch::Receiver<u64> {
    const WALKED: bool = false;
    fn changed(&mut self) -> impl std::future::Future<Output = Result<(), RecvError>> + Send {
        watch::Receiver::changed(self)
    }
}

/// A TCP connection's [`Publishes`]: the walk delivers.
pub(crate) struct Walked;

impl Publishes for Walked {
    const WALKED: bool = true;
    fn changed(&mut self) -> impl std::future::Future<Output = Result<(), RecvError>> + Send {
        std::future::pending()
    }
}

/// Completes when the walk handed the task work; otherwise keeps the task's waker (cloned
/// only when it changed), so an idle wait costs one uncontended lock, no waiter list.
fn poll_kicked(state: &Mutex<LinkState>, cx: &mut Context<'_>) -> Poll<()> {
    let mut st = lock(state);
    if std::mem::take(&mut st.kicked) {
        return Poll::Ready(());
    }
    if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        st.waker = Some(cx.waker().clone());
    }
    Poll::Pending
}

/// A shared TCP stream used as a byte stream by its task, while the walk writes to it with
/// `try_write` (only when the task is idle, see [`LinkState::idle`]).
struct TcpRef<'a>(&'a TcpStream);

impl AsyncRead for TcpRef<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            std::task::ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for TcpRef<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        loop {
            std::task::ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                r => return Poll::Ready(r),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(self.0).shutdown(std::net::Shutdown::Write))
    }
}

/// A new connection's state: a fresh session on the store as it is now.
fn new_state(shared: &Shared) -> LinkState {
    let session = shared
        .with_items(|items| ServerSession::with_choices(shared.dialect(), shared.choices(), items));
    LinkState::new(session)
}

/// Serves the notif protocol on `stream` (an in-memory one: it is woken by the `watch`
/// channel) until the client leaves, the session closes, the idle timeout passes or shutdown
/// begins.
pub(crate) async fn serve<S>(
    stream: S,
    shared: &Shared,
    guard: &ShutdownGuard,
    peer: &str,
) -> std::io::Result<CloseReason>
where
    S: AsyncRead + AsyncWrite,
{
    let changed = shared.subscribe();
    let state = Mutex::new(new_state(shared));
    serve_loop(pin!(stream), &state, changed, shared, guard, peer).await
}

/// Serves a TCP connection, reachable by the publisher's walk while it lives.
pub(crate) async fn serve_tcp(
    stream: TcpStream,
    shared: &Shared,
    guard: &ShutdownGuard,
    peer: &str,
) -> std::io::Result<CloseReason> {
    let link = Arc::new(Link {
        state: Mutex::new(new_state(shared)),
        stream,
    });
    let _registered = shared.register(link.clone());
    let tcp = pin!(TcpRef(&link.stream));
    serve_loop(tcp, &link.state, Walked, shared, guard, peer).await
}

/// The connection loop's next step, decided under the link's lock.
enum Next {
    /// Write what was taken into the write buffer.
    Write { notifying: bool },
    /// Nothing to write: close if the session says so, else take a line or wait.
    Read { closing: bool, wants_items: bool },
}

/// The connection loop shared by both kinds of stream; `changed` says how publishes arrive.
async fn serve_loop<S, P>(
    mut stream: Pin<&mut S>,
    state: &Mutex<LinkState>,
    mut changed: P,
    shared: &Shared,
    guard: &ShutdownGuard,
    peer: &str,
) -> std::io::Result<CloseReason>
where
    S: AsyncRead + AsyncWrite,
    P: Publishes,
{
    let walked = P::WALKED;
    let ending = shared.dialect.line_ending.as_bytes();
    let mut codec = LineCodec::new(shared.max_line(), shared.dialect.line_ending);
    // Small buffers: an idle connection in notification mode is the common case at scale
    // (docs/performance.md, memory). The read buffer grows on demand up to the line limit and
    // shrinks back once drained; the write buffer is allocated only while lines are sent in
    // notification mode.
    let mut rbuf = BytesMut::with_capacity(READ_CAPACITY);
    let mut wbuf: Vec<u8> = Vec::new();
    let mut eof = false;
    let mut just_read = false;
    let idle = shared.idle_timeout();
    let mut idle_timer = pin!(idle.map(tokio::time::sleep));
    let shutdown_wait = pin!(guard.cancelled());
    let mut cancelled = guard.cancelled_cheaply(shutdown_wait);

    loop {
        // What to do next, decided under the lock (which is never held across an `await`).
        let next = {
            let mut st = lock(state);
            let st = &mut *st;
            if let Some(reason) = st.session.take_error() {
                shared.count_protocol_error();
                tracing::info!(%peer, %reason, "protocol error");
            }
            // Publishes the walk skipped while this task was busy are looked at here, before
            // the task declares itself idle again.
            if walked && !st.idle && st.session.wants_items() {
                shared.with_items(|items| st.session.handle_items_changed(items));
            }
            if !st.pending.is_empty() || st.session.has_output() {
                st.idle = false;
                if wbuf.capacity() == 0 {
                    // Room for an ack and a notification at once: one allocation, not a
                    // growth per line (in notification mode the buffer is released after
                    // each write).
                    wbuf.reserve_exact(WRITE_CAPACITY);
                }
                if !st.pending.is_empty() {
                    wbuf.extend_from_slice(&st.pending);
                    st.pending = Vec::new();
                }
                st.session.transmit_into(&mut wbuf, ending);
                Next::Write {
                    notifying: matches!(st.session.mode(), Mode::Notifying { .. }),
                }
            } else {
                st.idle = true;
                Next::Read {
                    closing: st.session.is_closing(),
                    wants_items: st.session.wants_items(),
                }
            }
        };
        let (closing, wants_items) = match next {
            Next::Write { notifying } => {
                log_sent(peer, &wbuf);
                // The session holds at most a few lines; writing them is the only place a
                // client that does not read can block us, so it stays interruptible by
                // shutdown and the idle timer.
                let write = async {
                    stream.write_all(&wbuf).await?;
                    stream.flush().await
                };
                tokio::select! {
                    _ = &mut cancelled => return Ok(CloseReason::Shutdown),
                    _ = idle_expired(idle_timer.as_mut().as_pin_mut()) => return Ok(CloseReason::Idle),
                    r = write => r?,
                }
                wbuf.clear();
                // In notification mode, where a connection mostly idles: release the buffer
                // rather than keep it while waiting. A connection doing round trips keeps it
                // (an allocation per reply cost ≈ 5% more instructions per round trip).
                if notifying {
                    wbuf = Vec::new();
                }
                continue;
            }
            Next::Read {
                closing,
                wants_items,
            } => (closing, wants_items),
        };
        if closing {
            // Boxed: its 4 KiB discard buffer would otherwise sit in every connection's
            // future, idle or not (docs/performance.md, memory).
            Box::pin(close_gracefully(stream.as_mut())).await;
            return Ok(CloseReason::Protocol);
        }
        // A line already buffered (pipelined, or the last one before EOF) is taken before
        // reading again, in the order a biased select would: shutdown, then the idle timer.
        let found = if eof {
            codec.scan_eof(&mut rbuf)
        } else {
            codec.scan(&mut rbuf)
        };
        let Some(found) = found else {
            if eof {
                return Ok(CloseReason::ClientClosed);
            }
            // Biased: a fixed order keeps runs reproducible (the simulator relies on it), and
            // reading the client's line before a wake-up lets a pending stop take effect
            // first.
            tokio::select! {
                biased;
                _ = &mut cancelled => return Ok(CloseReason::Shutdown),
                _ = idle_expired(idle_timer.as_mut().as_pin_mut()) => return Ok(CloseReason::Idle),
                n = stream.read_buf(&mut rbuf) => {
                    if n? == 0 {
                        eof = true;
                    }
                    just_read = true;
                }
                r = changed.changed(), if !walked && wants_items => {
                    if r.is_err() {
                        return Ok(CloseReason::Shutdown);
                    }
                    let mut st = lock(state);
                    let st = &mut *st;
                    shared.with_items(|items| st.session.handle_items_changed(items));
                }
                () = std::future::poll_fn(|cx| poll_kicked(state, cx)), if walked => {}
            }
            continue;
        };
        // Right after a read the select above just gave shutdown and the idle timer their
        // turn; a line that was already buffered gets the same checks here.
        if !std::mem::take(&mut just_read) && guard.is_shutdown() {
            return Ok(CloseReason::Shutdown);
        }
        if idle_timer
            .as_ref()
            .as_pin_ref()
            .is_some_and(|t| t.deadline() <= Instant::now())
        {
            return Ok(CloseReason::Idle);
        }
        match found {
            Scan::TooLong { limit } => {
                tracing::debug!(%peer, limit, "line too long");
                lock(state).session.handle_too_long();
            }
            Scan::Line { len, consumed, .. } => {
                let line = &rbuf[..len];
                tracing::debug!(%peer, line = %String::from_utf8_lossy(line), "recv");
                if let (Some(timer), Some(d)) = (idle_timer.as_mut().as_pin_mut(), idle) {
                    timer.reset(Instant::now() + d);
                }
                {
                    let mut st = lock(state);
                    let st = &mut *st;
                    shared.with_items(|items| st.session.handle_line(line, items));
                }
                rbuf.advance(consumed);
                // A long line grew the read buffer: back to the small one once drained.
                if rbuf.is_empty() && rbuf.capacity() > READ_CAPACITY {
                    rbuf = BytesMut::with_capacity(READ_CAPACITY);
                }
            }
        }
    }
}

/// How long a closing connection keeps reading (and discarding) what the client still sends.
const LINGER: Duration = Duration::from_secs(1);
/// How much it discards at most before closing anyway.
const LINGER_BYTES: usize = 64 * 1024;

/// Closes after a final error line so that the client gets to read it: send FIN after the
/// line, then discard the client's remaining bytes for a bounded time and amount. Closing
/// with unread input at once would make TCP send a reset, which can destroy the error line
/// before the client reads it.
pub(crate) async fn close_gracefully<S>(mut stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout(LINGER, async {
        stream.shutdown().await?;
        discard(&mut stream).await
    })
    .await;
}

/// [`close_gracefully`] for a stream already split in halves (the control port's).
pub(crate) async fn close_halves_gracefully<R, W>(mut reader: R, mut writer: W)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout(LINGER, async {
        writer.shutdown().await?;
        discard(&mut reader).await
    })
    .await;
}

/// Reads and drops what the peer still sends, up to [`LINGER_BYTES`] or its FIN.
async fn discard<R: AsyncRead + Unpin>(reader: &mut R) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    let mut discarded = 0;
    while discarded < LINGER_BYTES {
        match reader.read(&mut buf).await? {
            0 => break,
            n => discarded += n,
        }
    }
    Ok(())
}

/// Serves one in-memory (or other) connection and logs its life; errors stay with it.
pub(crate) async fn run<S>(stream: S, shared: Arc<Shared>, guard: ShutdownGuard, peer: String)
where
    S: AsyncRead + AsyncWrite,
{
    tracing::info!(%peer, "connection opened");
    log_closed(&peer, serve(stream, &shared, &guard, &peer).await);
}

/// Serves one accepted TCP connection and logs its life; errors stay with this connection.
pub(crate) async fn run_tcp(
    stream: TcpStream,
    shared: Arc<Shared>,
    guard: ShutdownGuard,
    peer: String,
) {
    tracing::info!(%peer, "connection opened");
    log_closed(&peer, serve_tcp(stream, &shared, &guard, &peer).await);
}

fn log_closed(peer: &str, result: std::io::Result<CloseReason>) {
    match result {
        Ok(reason) => tracing::info!(%peer, ?reason, "connection closed"),
        Err(e) => tracing::info!(%peer, error = %e, "connection closed by an I/O error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::server::{ServerBuilder, ServerHandle};

    /// A server and a TCP connection pair whose server side is a [`Link`] in notification
    /// mode, idle, as its task leaves it before waiting; the client side never reads unless
    /// the test does.
    async fn idle_subscriber() -> (ServerHandle, Link, TcpStream) {
        let server = ServerBuilder::new()
            .without_listener()
            .start()
            .await
            .unwrap();
        let shared = &server.shared;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let mut state = new_state(shared);
        let session = &mut state.session;
        // The feed's newest ad is unread at connect: read it, so that only the publish below
        // is news.
        shared.with_items(|items| session.handle_line(b"classified?", items));
        shared.with_items(|items| session.handle_line(b"_notif_", items));
        let mut replies = Vec::new();
        session.transmit_into(&mut replies, b"\r\n");
        assert!(replies.ends_with(b"\r\nwill send notifs\r\n"));
        state.idle = true;
        let link = Link {
            state: Mutex::new(state),
            stream,
        };
        (server, link, client)
    }

    #[tokio::test]
    async fn the_walk_writes_the_notification_of_an_idle_subscriber() {
        let (server, link, mut client) = idle_subscriber().await;
        link.stream.writable().await.unwrap();
        server.publish_random(Some(123_456_789));
        let mut buf = Vec::new();
        link.deliver(&server.shared.items, b"\r\n", &mut buf);
        {
            let st = lock(&link.state);
            assert!(st.idle && !st.kicked && st.pending.is_empty());
            assert!(!st.session.wants_items(), "the window is now closed");
        }
        let mut got = vec![0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut got))
            .await
            .expect("the notification arrives")
            .unwrap();
        assert_eq!(&got[..n], b"notif: random\r\n");
        // A second walk with the window closed writes nothing.
        link.deliver(&server.shared.items, b"\r\n", &mut buf);
        assert!(lock(&link.state).pending.is_empty());
        server.shutdown().await.unwrap();
    }

    /// A client that never reads: the walk must neither block nor lose the notification; it
    /// hands the bytes to the task (which writes them with back-pressure) and wakes it.
    #[tokio::test]
    async fn the_walk_hands_what_a_full_socket_refuses_to_the_task() {
        let (server, link, _client) = idle_subscriber().await;
        let junk = vec![0u8; 64 * 1024];
        let mut filled = 0usize;
        // Bounded by the kernel's buffers; the client side never reads.
        while filled < 256 << 20 {
            link.stream.writable().await.unwrap();
            match link.stream.try_write(&junk) {
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        server.publish_random(Some(123_456_789));
        let woken = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let waker = std::task::Waker::from(Arc::new(Flag(woken.clone())));
        assert!(poll_kicked(&link.state, &mut Context::from_waker(&waker)).is_pending());
        let mut buf = Vec::new();
        link.deliver(&server.shared.items, b"\r\n", &mut buf);
        {
            let st = lock(&link.state);
            assert!(!st.idle, "the task owns the socket's writes again");
            assert_eq!(st.pending, b"notif: random\r\n");
        }
        assert!(woken.load(std::sync::atomic::Ordering::SeqCst));
        assert!(poll_kicked(&link.state, &mut Context::from_waker(&waker)).is_ready());
        // Not idle: another walk leaves the connection to its task.
        server.publish_random(Some(223_456_789));
        link.deliver(&server.shared.items, b"\r\n", &mut buf);
        assert_eq!(lock(&link.state).pending, b"notif: random\r\n");
        server.shutdown().await.unwrap();
    }

    struct Flag(Arc<std::sync::atomic::AtomicBool>);

    impl std::task::Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}
