//! A client for a server's control port, so replay can make items appear on demand (the
//! `! publish` directives, and the item an expected notification announces).

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use crate::dialect::LineEnding;
use crate::transcript::Directive;
use crate::wire::{Frame, LineCodec};

/// Longest reply line read from a control port (`OK` or `ERR <reason>`).
const MAX_REPLY: usize = 1024;

/// One connection to a control port, kept for the whole replay.
#[derive(Debug)]
pub struct Control {
    conn: Framed<TcpStream, LineCodec>,
    timeout: Duration,
}

impl Control {
    /// Connects within `timeout`.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Control, String> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("control port {addr}: no connection within {timeout:?}"))?
            .map_err(|e| format!("control port {addr}: {e}"))?;
        Ok(Control {
            conn: Framed::new(stream, LineCodec::new(MAX_REPLY, LineEnding::Crlf)),
            timeout,
        })
    }

    /// Publishes what `directive` says and waits for the `OK`.
    pub async fn publish(&mut self, directive: &Directive) -> Result<(), String> {
        let line = control_line(directive)
            .ok_or_else(|| format!("{directive:?} is not a publish directive"))?;
        let exchange = async {
            self.conn
                .send(line.as_str())
                .await
                .map_err(|e| format!("sending `{line}`: {e}"))?;
            match self.conn.next().await {
                Some(Ok(Frame::Line(reply))) if reply.bytes.as_ref() == b"OK" => Ok(()),
                Some(Ok(Frame::Line(reply))) => {
                    Err(format!("`{line}` was answered `{}`", reply.lossy()))
                }
                Some(Ok(Frame::TooLong { .. })) => Err(format!("`{line}`: reply too long")),
                Some(Err(e)) => Err(format!("`{line}`: {e}")),
                None => Err(format!("`{line}`: the control port closed the connection")),
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("`{line}`: no reply within {:?}", self.timeout))?
    }
}

/// The control-port line for a publish directive.
pub fn control_line(directive: &Directive) -> Option<String> {
    match directive {
        Directive::PublishRandom(None) => Some("publish random".into()),
        Directive::PublishRandom(Some(n)) => Some(format!("publish random {n}")),
        Directive::PublishClassified(text) => Some(format!("publish classified {text}")),
        _ => None,
    }
}
