//! The load generator's side of a connection: send bytes, read lines, every wait bounded.
//!
//! Deliberately smaller than the crate's framing (no codec, no `Bytes` per line): the load
//! generator shares the two cores with the server it measures, so its own cost per line is
//! kept to a memchr and a slice, identical for every server compared.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::BenchError;

/// Longest line a benchmark client accepts (the protocol's 1024 bytes plus a terminator,
/// with room for Redis replies); a longer one is an error, so memory stays bounded.
const MAX_LINE: usize = 2048;

/// A client connection that reads lines.
#[derive(Debug)]
pub struct LineConn {
    stream: TcpStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    timeout: Duration,
}

impl LineConn {
    /// Connects to `addr`; each later read or write fails after `timeout` without progress.
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<LineConn, BenchError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| BenchError::Timeout {
                what: format!("connecting to {addr}"),
                after: timeout,
            })?
            .map_err(|source| BenchError::Io {
                what: format!("connecting to {addr}"),
                source,
            })?;
        stream.set_nodelay(true).map_err(|source| BenchError::Io {
            what: "setting TCP_NODELAY".into(),
            source,
        })?;
        Ok(LineConn {
            stream,
            buf: vec![0; MAX_LINE].into_boxed_slice(),
            start: 0,
            end: 0,
            timeout,
        })
    }

    /// Sends `bytes` whole.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), BenchError> {
        tokio::time::timeout(self.timeout, self.stream.write_all(bytes))
            .await
            .map_err(|_| BenchError::Timeout {
                what: "sending".into(),
                after: self.timeout,
            })?
            .map_err(|source| BenchError::Io {
                what: "sending".into(),
                source,
            })
    }

    /// The next line, without its `\n` or `\r\n`. Valid until the next call.
    pub async fn line(&mut self) -> Result<&[u8], BenchError> {
        let range = loop {
            if let Some(p) = memchr(b'\n', &self.buf[self.start..self.end]) {
                let r = self.start..self.start + p;
                self.start += p + 1;
                break r;
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                return Err(BenchError::Protocol {
                    what: format!("a line longer than {MAX_LINE} bytes"),
                });
            }
            let read = self.stream.read(&mut self.buf[self.end..]);
            let n = tokio::time::timeout(self.timeout, read)
                .await
                .map_err(|_| BenchError::Timeout {
                    what: "waiting for a line".into(),
                    after: self.timeout,
                })?
                .map_err(|source| BenchError::Io {
                    what: "reading".into(),
                    source,
                })?;
            if n == 0 {
                return Err(BenchError::Protocol {
                    what: "the server closed the connection".into(),
                });
            }
            self.end += n;
        };
        let line = &self.buf[range];
        Ok(line.strip_suffix(b"\r").unwrap_or(line))
    }

    /// Reads a line and fails unless it is `want` (a handshake such as the mode ack).
    pub async fn expect(&mut self, want: &str) -> Result<(), BenchError> {
        let got = self.line().await?;
        if got != want.as_bytes() {
            return Err(BenchError::Protocol {
                what: format!("expected `{want}`, got `{}`", String::from_utf8_lossy(got)),
            });
        }
        Ok(())
    }
}

/// Position of the first `byte` in `hay`.
pub fn memchr(byte: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == byte)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn lines_split_across_reads_and_endings() {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accept");
            s.write_all(b"one\r\ntw").await.expect("write");
            s.flush().await.expect("flush");
            s.write_all(b"o\nthree\r\n").await.expect("write");
        });
        let mut c = LineConn::connect(addr, Duration::from_secs(5))
            .await
            .expect("connect");
        assert_eq!(c.line().await.expect("line"), b"one");
        assert_eq!(c.line().await.expect("line"), b"two");
        c.expect("three").await.expect("three");
        server.await.expect("server");
        assert!(matches!(c.line().await, Err(BenchError::Protocol { .. })));
    }
}
