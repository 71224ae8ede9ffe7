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
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf as _, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::time::{Instant, Sleep};

use crate::proto::server::{Mode, ServerSession};
use crate::wire::{LineCodec, Scan};

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

/// Serves the notif protocol on `stream` until the client leaves, the session closes, the idle
/// timeout passes or shutdown begins.
pub(crate) async fn serve<S>(
    stream: S,
    shared: &Shared,
    guard: &ShutdownGuard,
    peer: &str,
) -> std::io::Result<CloseReason>
where
    S: AsyncRead + AsyncWrite,
{
    let mut stream = pin!(stream);
    let dialect = shared.dialect();
    let ending = dialect.line_ending.as_bytes();
    let mut codec = LineCodec::new(shared.max_line(), dialect.line_ending);
    // Small buffers: an idle connection in notification mode is the common case at scale
    // (docs/performance.md, memory). The read buffer grows on demand up to the line limit and
    // shrinks back once drained; the write buffer is allocated only while lines are sent in
    // notification mode.
    let mut rbuf = BytesMut::with_capacity(READ_CAPACITY);
    let mut wbuf: Vec<u8> = Vec::new();
    let mut eof = false;
    let mut just_read = false;
    let mut changed = shared.subscribe();
    let mut session = shared
        .with_items(|items| ServerSession::with_choices(dialect.clone(), shared.choices(), items));
    let idle = shared.idle_timeout();
    let mut idle_timer = pin!(idle.map(tokio::time::sleep));
    let shutdown_wait = pin!(guard.cancelled());
    let mut cancelled = guard.cancelled_cheaply(shutdown_wait);

    loop {
        if let Some(reason) = session.take_error() {
            shared.count_protocol_error();
            tracing::info!(%peer, %reason, "protocol error");
        }
        if session.has_output() {
            if wbuf.capacity() == 0 {
                // Room for an ack and a notification at once: one allocation, not a growth
                // per line (in notification mode the buffer is released after each write).
                wbuf.reserve_exact(WRITE_CAPACITY);
            }
            session.transmit_into(&mut wbuf, ending);
            if tracing::enabled!(tracing::Level::DEBUG) {
                for line in wbuf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line));
                    tracing::debug!(%peer, %line, "send");
                }
            }
            // The session holds at most a few lines; writing them is the only place a client
            // that does not read can block us, so it stays interruptible by shutdown and the
            // idle timer.
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
            if matches!(session.mode(), Mode::Notifying { .. }) {
                wbuf = Vec::new();
            }
        }
        if session.is_closing() {
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
                r = changed.changed(), if session.wants_items() => {
                    if r.is_err() {
                        return Ok(CloseReason::Shutdown);
                    }
                    shared.with_items(|items| session.handle_items_changed(items));
                }
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
                session.handle_too_long();
            }
            Scan::Line { len, consumed, .. } => {
                let line = &rbuf[..len];
                tracing::debug!(%peer, line = %String::from_utf8_lossy(line), "recv");
                if let (Some(timer), Some(d)) = (idle_timer.as_mut().as_pin_mut(), idle) {
                    timer.reset(Instant::now() + d);
                }
                shared.with_items(|items| session.handle_line(line, items));
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

/// Serves one accepted connection and logs its life; errors stay with this connection.
pub(crate) async fn run<S>(stream: S, shared: Arc<Shared>, guard: ShutdownGuard, peer: String)
where
    S: AsyncRead + AsyncWrite,
{
    tracing::info!(%peer, "connection opened");
    match serve(stream, &shared, &guard, &peer).await {
        Ok(reason) => tracing::info!(%peer, ?reason, "connection closed"),
        Err(e) => tracing::info!(%peer, error = %e, "connection closed by an I/O error"),
    }
}
