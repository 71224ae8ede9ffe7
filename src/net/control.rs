//! The control port: a separate line protocol through which tests, `replay` and people make
//! items appear (`publish random`, `publish random <N>`, `publish classified <text>`, each
//! answered `OK`, a bad line `ERR <reason>`). It lives on its own port so the notif protocol
//! stays exactly what the spec says, and it is off unless asked for: whoever reaches it can
//! publish.

use std::sync::Arc;

use futures::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::dialect::LineEnding;
use crate::wire::{Frame, LineCodec};

use super::shared::{Shared, accept_until_shutdown};
use super::shutdown::ShutdownGuard;

/// One control request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlCommand {
    /// Publish a random number: the given one, or one from the server's seeded source.
    PublishRandom(Option<u64>),
    /// Publish a classified ad with this text.
    PublishClassified(String),
}

/// The longest control line: `publish classified ` followed by an ad of `max_line` bytes.
pub fn control_max_line(max_line: usize) -> usize {
    max_line + "publish classified ".len()
}

/// Parses a control line; the error is the reason sent back after `ERR `.
pub fn parse_control_line(line: &str) -> Result<ControlCommand, String> {
    const USAGE: &str =
        "expected `publish random`, `publish random <N>` or `publish classified <text>`";
    let Some(rest) = line.strip_prefix("publish ") else {
        return Err(format!("unknown control command `{line}`; {USAGE}"));
    };
    if rest == "random" {
        return Ok(ControlCommand::PublishRandom(None));
    }
    if let Some(n) = rest.strip_prefix("random ") {
        return n
            .parse::<u64>()
            .map(|n| ControlCommand::PublishRandom(Some(n)))
            .map_err(|_| format!("`{n}` is not a non-negative integer; {USAGE}"));
    }
    if let Some(text) = rest.strip_prefix("classified ") {
        return Ok(ControlCommand::PublishClassified(text.to_string()));
    }
    Err(format!("cannot publish `{rest}`; {USAGE}"))
}

/// Control connections served at once. The control port has its own limit, apart from
/// `--max-conns`: 400 idle control connections once used up the descriptors and locked
/// protocol clients out. One publisher needs one connection; a few dozen tools at once
/// are plenty.
pub const MAX_CONTROL_CONNS: usize = 64;

/// The line an extra control connection gets before it is closed.
pub const TOO_MANY_CONTROL: &str = "ERR too many control connections";

/// Accepts control connections until shutdown, at most [`MAX_CONTROL_CONNS`] at once; an
/// extra one is told so and closed.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, guard: ShutdownGuard) {
    let limit = Arc::new(Semaphore::new(MAX_CONTROL_CONNS));
    accept_until_shutdown(listener, &guard, |stream, peer| {
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::info!(%peer, "control connection refused: too many control connections");
            tokio::spawn(async move {
                let mut stream = stream;
                let line = format!("{TOO_MANY_CONTROL}\r\n");
                let _ = tokio::time::timeout(REFUSE_WAIT, stream.write_all(line.as_bytes())).await;
            });
            return true;
        };
        tracing::info!(%peer, "control connection opened");
        let shared = shared.clone();
        let guard = guard.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = serve_control(stream, &shared, &guard).await {
                tracing::info!(%peer, error = %e, "control connection failed");
            }
            tracing::info!(%peer, "control connection closed");
        });
        true
    })
    .await;
}

/// How long a refused control connection gets to receive its `ERR` line.
const REFUSE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Serves one control connection (any byte stream).
pub(crate) async fn serve_control<S>(
    stream: S,
    shared: &Shared,
    guard: &ShutdownGuard,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite,
{
    let (r, w) = tokio::io::split(stream);
    let codec = LineCodec::new(control_max_line(shared.max_line()), LineEnding::Crlf);
    let mut reader = FramedRead::new(r, codec.clone());
    let mut writer = FramedWrite::new(w, codec);
    loop {
        let frame = tokio::select! {
            _ = guard.cancelled() => return Ok(()),
            f = reader.next() => f,
        };
        let (reply, close) = match frame {
            None => return Ok(()),
            Some(Err(e)) => return Err(e),
            Some(Ok(Frame::TooLong { .. })) => ("ERR line too long".to_string(), true),
            Some(Ok(Frame::Line(line))) => {
                let outcome = match line.text() {
                    None => Err("line is not valid UTF-8".to_string()),
                    Some(text) => parse_control_line(text).and_then(|cmd| apply(shared, cmd)),
                };
                match outcome {
                    Ok(()) => ("OK".to_string(), false),
                    Err(reason) => {
                        tracing::info!(%reason, "control protocol error");
                        (format!("ERR {reason}"), false)
                    }
                }
            }
        };
        tokio::select! {
            _ = guard.cancelled() => return Ok(()),
            r = writer.send(reply) => r?,
        }
        if close {
            super::connection::close_halves_gracefully(reader.into_inner(), writer.into_inner())
                .await;
            return Ok(());
        }
    }
}

/// Applies a control request to the server's store; the error is the reason for `ERR`.
fn apply(shared: &Shared, cmd: ControlCommand) -> Result<(), String> {
    match cmd {
        ControlCommand::PublishRandom(n) => {
            shared.publish_random(n);
            Ok(())
        }
        ControlCommand::PublishClassified(text) => shared.publish_classified(&text).map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            parse_control_line("publish random"),
            Ok(ControlCommand::PublishRandom(None))
        );
        assert_eq!(
            parse_control_line("publish random 89765234756"),
            Ok(ControlCommand::PublishRandom(Some(89765234756)))
        );
        assert_eq!(
            parse_control_line("publish classified Nice appart in the 11e."),
            Ok(ControlCommand::PublishClassified(
                "Nice appart in the 11e.".into()
            ))
        );
    }

    #[test]
    fn bad_lines_say_why() {
        let err = parse_control_line("publish random -3").unwrap_err();
        assert!(
            err.starts_with("`-3` is not a non-negative integer"),
            "{err}"
        );
        let err = parse_control_line("publish news").unwrap_err();
        assert!(err.starts_with("cannot publish `news`"), "{err}");
        let err = parse_control_line("hello").unwrap_err();
        assert!(err.starts_with("unknown control command `hello`"), "{err}");
        assert!(parse_control_line("publish random ").is_err());
    }
}
