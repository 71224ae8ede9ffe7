//! The one client of a server's control port (the server side is `net::control`), shared
//! by replay, the conformance harness and the simulator, so that every caller reads replies
//! with the same bounds and timeouts.
//!
//! A control line is answered by one line, `OK` or `ERR <reason>`. Replies are read with a
//! length limit, so a hostile control port that never ends its line costs at most
//! [`MAX_CONTROL_REPLY`] bytes; connecting, and each exchange (send plus reply), are bounded
//! by the client's timeout. Callers word the errors for their own reports, so the error type
//! keeps the facts (what failed, at which step) and not a sentence.
//!
//! It reads its replies with its own few lines rather than the notif line codec
//! (`crate::wire`): the conformance suite's peers stay off notifspec's framing and reference
//! peers (so a bug there cannot hide a bug under test), and the suite publishes through this.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// Longest control-port reply line read (`OK` or `ERR <reason>`).
pub const MAX_CONTROL_REPLY: usize = 4096;

/// Why a control-port exchange failed. The `Display` texts are short facts; callers put
/// the address and the control line around them.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No connection within the timeout.
    #[error("no connection within {0:?}")]
    ConnectTimeout(Duration),
    /// The connection was refused or failed.
    #[error("{0}")]
    Connect(std::io::Error),
    /// The control line could not be sent within the timeout.
    #[error("write timed out")]
    SendTimeout(Duration),
    /// Sending the control line failed.
    #[error("{0}")]
    Send(std::io::Error),
    /// The line was sent but no reply came within the timeout.
    #[error("no reply within {0:?}")]
    NoReply(Duration),
    /// Reading the reply failed.
    #[error("{0}")]
    Read(std::io::Error),
    /// The reply line passed the limit (its bytes were discarded, not buffered).
    #[error("reply over {limit} bytes")]
    TooLong {
        /// The limit that was passed.
        limit: usize,
    },
    /// The control port closed the connection before replying.
    #[error("the control port closed the connection")]
    Closed,
    /// The reply was not `OK` (typically `ERR <reason>`); the reply as text, invalid
    /// bytes replaced.
    #[error("answered `{0}`")]
    Refused(String),
}

/// One connection to a control port; reusable for any number of exchanges until one fails
/// (after an error the connection is in an unknown state: drop it). Generic over the stream
/// so tests can drive it over an in-memory pipe with a paused clock.
#[derive(Debug)]
pub struct ControlClient<S = TcpStream> {
    conn: BufReader<S>,
    timeout: Duration,
}

impl ControlClient {
    /// Connects to `addr` within `timeout`; later exchanges are bounded by the same timeout.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<ControlClient, ControlError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ControlError::ConnectTimeout(timeout))?
            .map_err(ControlError::Connect)?;
        let _ = stream.set_nodelay(true);
        Ok(ControlClient::over(stream, timeout))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> ControlClient<S> {
    /// Uses an open stream; exchanges are bounded by `timeout`.
    pub fn over(stream: S, timeout: Duration) -> ControlClient<S> {
        ControlClient {
            conn: BufReader::new(stream),
            timeout,
        }
    }

    /// Sends `line` (without terminator, `\r\n` is added) and waits for its `OK`, all within
    /// the timeout.
    pub async fn request(&mut self, line: &str) -> Result<(), ControlError> {
        let timeout = self.timeout;
        let mut sent = false;
        let exchange = async {
            let out = self.conn.get_mut();
            out.write_all(format!("{line}\r\n").as_bytes())
                .await
                .map_err(ControlError::Send)?;
            out.flush().await.map_err(ControlError::Send)?;
            sent = true;
            let reply = self.read_reply().await?;
            if reply == b"OK" {
                Ok(())
            } else {
                Err(ControlError::Refused(
                    String::from_utf8_lossy(&reply).into_owned(),
                ))
            }
        };
        let result = tokio::time::timeout(timeout, exchange).await;
        match result {
            Ok(r) => r,
            Err(_) if sent => Err(ControlError::NoReply(timeout)),
            Err(_) => Err(ControlError::SendTimeout(timeout)),
        }
    }

    /// One reply line without its `\n` or `\r\n`, never buffering more than the limit; a
    /// last line cut off by the end of the stream counts as a reply.
    async fn read_reply(&mut self) -> Result<Vec<u8>, ControlError> {
        let mut reply = Vec::new();
        loop {
            let buf = self.conn.fill_buf().await.map_err(ControlError::Read)?;
            if buf.is_empty() {
                return if reply.is_empty() {
                    Err(ControlError::Closed)
                } else {
                    Ok(reply)
                };
            }
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (buf.len(), false),
            };
            reply.extend_from_slice(&buf[..take.min(MAX_CONTROL_REPLY + 1)]);
            self.conn.consume(if done { take + 1 } else { take });
            if done && reply.ends_with(b"\r") {
                reply.pop();
            }
            if reply.len() > MAX_CONTROL_REPLY {
                return Err(ControlError::TooLong {
                    limit: MAX_CONTROL_REPLY,
                });
            }
            if done {
                return Ok(reply);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, DuplexStream};
    use tokio::net::TcpListener;

    use super::*;

    const WAIT: Duration = Duration::from_secs(10);

    /// A control port over an in-memory pipe that reads one line, answers `reply` (raw
    /// bytes), then stays open (or closes, with `close`); returns the line it read.
    fn port(
        reply: &'static [u8],
        close: bool,
    ) -> (ControlClient<DuplexStream>, tokio::task::JoinHandle<String>) {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let task = tokio::spawn(async move {
            let (r, mut w) = tokio::io::split(theirs);
            let mut line = String::new();
            BufReader::new(r).read_line(&mut line).await.unwrap();
            w.write_all(reply).await.unwrap();
            if !close {
                std::future::pending::<()>().await;
            }
            line
        });
        (ControlClient::over(ours, WAIT), task)
    }

    #[tokio::test(start_paused = true)]
    async fn ok_is_success_and_the_line_goes_out_with_crlf() {
        let (mut c, port) = port(b"OK\r\n", true);
        c.request("publish random 7").await.unwrap();
        assert_eq!(port.await.unwrap(), "publish random 7\r\n");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reply_ended_by_a_bare_newline_is_read_too() {
        let (mut c, _port) = port(b"OK\n", false);
        c.request("publish random").await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn err_reply_is_refused_with_its_text() {
        let (mut c, _port) = port(b"ERR unknown command\r\n", false);
        let e = c.request("publish nothing").await.unwrap_err();
        assert!(
            matches!(&e, ControlError::Refused(r) if r == "ERR unknown command"),
            "{e:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_endless_reply_is_cut_at_the_limit() {
        static LONG: [u8; MAX_CONTROL_REPLY + 10] = [b'x'; MAX_CONTROL_REPLY + 10];
        let (mut c, _port) = port(&LONG, false);
        let e = c.request("publish random").await.unwrap_err();
        assert!(
            matches!(
                e,
                ControlError::TooLong {
                    limit: MAX_CONTROL_REPLY
                }
            ),
            "{e:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_port_is_a_timeout_after_the_send() {
        let (mut c, _port) = port(b"", false);
        let e = c.request("publish random").await.unwrap_err();
        assert!(matches!(e, ControlError::NoReply(WAIT)), "{e:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_port_that_closes_without_reply_is_closed() {
        let (mut c, _port) = port(b"", true);
        let e = c.request("publish random").await.unwrap_err();
        assert!(matches!(e, ControlError::Closed), "{e:?}");
    }

    #[tokio::test]
    async fn connects_over_loopback() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (r, mut w) = s.into_split();
            let mut line = String::new();
            BufReader::new(r).read_line(&mut line).await.unwrap();
            w.write_all(b"OK\r\n").await.unwrap();
        });
        let mut c = ControlClient::connect(&addr, WAIT).await.unwrap();
        c.request("publish random").await.unwrap();
        server.await.unwrap();
    }
}
