//! The tokio shell shared by both roles: it pumps one connection's bytes and timers around the
//! sans-IO [`ScriptRunner`]. Every wait is bounded by what the runner asks for.

use futures::{FutureExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::time::{Instant, timeout};
use tokio_util::codec::FramedRead;

use super::control::{PublishError, Publisher};
use super::script::{Arrival, Findings, ScriptRunner, Step};
use crate::checker::Terminator;
use crate::dialect::Dialect;
use crate::wire::{Ending, Frame, LineCodec};

/// Plays the runner over one connection until it is done, then returns its findings.
pub async fn drive<R, W>(
    mut runner: ScriptRunner,
    dialect: &Dialect,
    read: R,
    mut write: W,
    mut publisher: Option<&mut Publisher<'_>>,
) -> Findings
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let start = Instant::now();
    let write_timeout = std::time::Duration::from_secs(5);
    let mut reader = FramedRead::new(read, LineCodec::new(dialect.max_line, dialect.line_ending));
    let mut eof = false;
    loop {
        // Everything already readable goes to the runner first, so the checker sees lines in
        // the order they crossed the wire relative to what we are about to send.
        while !eof {
            let Some(item) = reader.next().now_or_never() else {
                break;
            };
            eof = deliver(&mut runner, item, start);
        }
        match runner.step(start.elapsed()) {
            Step::Done => break,
            Step::Send(line) => {
                let mut bytes = line.into_bytes();
                bytes.extend_from_slice(dialect.line_ending.as_bytes());
                match timeout(write_timeout, write.write_all(&bytes)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => runner.failed(format!("sending failed: {e}")),
                    Err(_) => runner.failed(format!(
                        "sending blocked for {write_timeout:?}: the peer is not reading"
                    )),
                }
            }
            Step::Publish(d) => {
                let result = match publisher.as_deref_mut() {
                    Some(c) => c.publish(&d).await,
                    None => Err(PublishError::NoControlPort),
                };
                runner.published(result.map_err(|e| e.to_string()));
            }
            Step::Close => {
                let _ = timeout(write_timeout, write.shutdown()).await;
            }
            Step::Wait(d) | Step::AwaitClose(d) | Step::Quiet(d) => {
                if eof {
                    tokio::time::sleep(d).await;
                    runner.timer_fired(start.elapsed());
                    continue;
                }
                match timeout(d, reader.next()).await {
                    Ok(item) => eof = deliver(&mut runner, item, start),
                    Err(_) => runner.timer_fired(start.elapsed()),
                }
            }
        }
    }
    runner.finish()
}

/// Hands one read result to the runner; returns whether the stream has ended.
fn deliver(
    runner: &mut ScriptRunner,
    item: Option<Result<Frame, std::io::Error>>,
    start: Instant,
) -> bool {
    let now = start.elapsed();
    match item {
        Some(Ok(Frame::Line(raw))) => {
            let terminator = match raw.ending {
                Ending::Lf => Terminator::Lf,
                Ending::CrLf => Terminator::CrLf,
                Ending::Eof => Terminator::Missing,
            };
            runner.receive(
                Arrival::Line {
                    text: raw.lossy(),
                    terminator,
                },
                now,
            );
            false
        }
        Some(Ok(Frame::TooLong { .. })) => {
            runner.receive(Arrival::Oversized, now);
            false
        }
        Some(Err(e)) => {
            tracing::debug!("replay connection: {e}");
            runner.receive(Arrival::Closed, now);
            true
        }
        None => {
            runner.receive(Arrival::Closed, now);
            true
        }
    }
}
