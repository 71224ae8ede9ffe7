//! One notif connection: pumps framed lines into a [`ServerSession`] and its output back to
//! the peer, wakes it when items are published, and enforces the idle timeout and shutdown.
//!
//! Bounded by construction: the reader keeps at most one line (the codec's limit), and the
//! session's outbox holds at most a few lines because the loop drains it before reading again.
//! A client that never reads blocks only this task's write, never the publisher or other
//! connections, and publishes made meanwhile coalesce in the session's per-kind state.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt as _};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite};
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::proto::server::{Mode, ServerSession};
use crate::wire::{Frame, LineCodec};

use super::shared::Shared;
use super::shutdown::ShutdownGuard;

/// Read buffer per connection while no long line arrives: any request in one read.
const READ_CAPACITY: usize = 64;
/// Initial write buffer per connection: none. It is allocated for the lines to send, and
/// released once they are flushed in notification mode, so an idle subscriber holds none.
const WRITE_CAPACITY: usize = 0;

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
    let dialect = shared.dialect();
    let codec = LineCodec::new(shared.max_line(), dialect.line_ending);
    let (r, w) = tokio::io::split(stream);
    // Small buffers: an idle connection in notification mode is the common case at scale,
    // and tokio-util's 8 KiB defaults doubled its memory (docs/performance.md). The read
    // buffer grows on demand up to the line limit and shrinks back once drained; the write
    // buffer exists only while lines are being sent.
    let mut reader = FramedRead::with_capacity(r, codec.clone(), READ_CAPACITY);
    let mut writer = FramedWrite::with_capacity(w, codec, WRITE_CAPACITY);
    let mut changed = shared.subscribe();
    let mut session = shared
        .with_items(|items| ServerSession::with_choices(dialect.clone(), shared.choices(), items));
    let idle = shared.idle_timeout();
    let mut deadline = idle.map(|d| Instant::now() + d);
    let idle_expired = |deadline: Option<Instant>| async move {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };

    loop {
        if let Some(reason) = session.take_error() {
            shared.count_protocol_error();
            tracing::info!(%peer, %reason, "protocol error");
        }
        // The session holds at most a few lines; writing them is the only place a client that
        // does not read can block us, so it stays interruptible by shutdown and the idle timer.
        let pending: Vec<String> = std::iter::from_fn(|| session.poll_transmit()).collect();
        if !pending.is_empty() {
            let write = async {
                for line in pending {
                    tracing::debug!(%peer, line = %line, "send");
                    writer.feed(line).await?;
                }
                SinkExt::<String>::flush(&mut writer).await
            };
            tokio::select! {
                _ = guard.cancelled() => return Ok(CloseReason::Shutdown),
                _ = idle_expired(deadline) => return Ok(CloseReason::Idle),
                r = write => r?,
            }
            // Flushed, and in notification mode, where a connection mostly idles: release the
            // buffer rather than keep it while waiting. A connection doing round trips keeps
            // it (an allocation per reply cost ≈ 5% more instructions per round trip).
            let notifying = matches!(session.mode(), Mode::Notifying { .. });
            if notifying && writer.write_buffer().is_empty() {
                *writer.write_buffer_mut() = bytes::BytesMut::new();
            }
        }
        if session.is_closing() {
            // Boxed: its 4 KiB discard buffer would otherwise sit in every connection's
            // future, idle or not (docs/performance.md, memory).
            Box::pin(close_gracefully(reader.into_inner(), writer)).await;
            return Ok(CloseReason::Protocol);
        }
        // Biased: a fixed order keeps runs reproducible (the simulator relies on it), and
        // reading the client's line before a wake-up lets a pending stop take effect first.
        tokio::select! {
            biased;
            _ = guard.cancelled() => return Ok(CloseReason::Shutdown),
            _ = idle_expired(deadline) => return Ok(CloseReason::Idle),
            frame = reader.next() => match frame {
                None => return Ok(CloseReason::ClientClosed),
                Some(Err(e)) => return Err(e),
                Some(Ok(Frame::TooLong { limit })) => {
                    tracing::debug!(%peer, limit, "line too long");
                    session.handle_too_long();
                }
                Some(Ok(Frame::Line(line))) => {
                    tracing::debug!(%peer, line = %line.lossy(), "recv");
                    deadline = idle.map(|d| Instant::now() + d);
                    shared.with_items(|items| session.handle_line(&line.bytes, items));
                    // A long line grew the read buffer: back to the small one once drained.
                    let buf = reader.read_buffer_mut();
                    if buf.is_empty() && buf.capacity() > READ_CAPACITY {
                        *buf = bytes::BytesMut::with_capacity(READ_CAPACITY);
                    }
                }
            },
            r = changed.changed(), if session.wants_items() => {
                if r.is_err() {
                    return Ok(CloseReason::Shutdown);
                }
                shared.with_items(|items| session.handle_items_changed(items));
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
pub(crate) async fn close_gracefully<R, W>(mut reader: R, mut writer: W)
where
    R: AsyncRead + Unpin,
    W: SinkExt<String, Error = std::io::Error> + Unpin,
{
    let _ = tokio::time::timeout(LINGER, async {
        writer.close().await?;
        let mut buf = [0u8; 4096];
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            match reader.read(&mut buf).await? {
                0 => break,
                n => discarded += n,
            }
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
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
