//! The reference client as an async library: a thin tokio shell around
//! [`crate::proto::client::ClientSession`].
//!
//! Notification mode is a type change (as in mini-redis's `subscribe(self) -> Subscriber`):
//! [`Client::notify`] consumes the client and returns a [`NotifSession`], whose only ways out
//! are [`NotifSession::stop`] (which hands the [`Client`] back) or dropping the connection.
//! So a program cannot send a request in the mode, and the session state refuses anything
//! else the client rules forbid before a byte is sent.
//!
//! Every wait, reading or writing, is bounded by [`ClientOptions::timeout`] (or an explicit
//! duration): a hung server yields [`ClientError::Timeout`], never a hung client. After any
//! error other than [`ClientError::Usage`] the conversation is in an unknown state; drop the
//! connection.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::time::{Instant, timeout};
use tokio_util::codec::Framed;

use crate::dialect::{Dialect, ItemKind};
use crate::proto::client::{ClientEvent, ClientSession, ProtocolError, Reply, Request, UsageError};
use crate::rule::RuleId;
use crate::wire::{Ending, Frame, LineCodec};

/// Settings of a client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// The longest the client waits for anything: connecting, a reply, a write to complete,
    /// the `OK` after `stop_notif`, and (by default) a notification.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    /// Ten seconds: far above any loopback or LAN round trip, short enough for a person.
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(10),
        }
    }
}

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server broke a protocol rule; `line` is what it sent.
    #[error("server broke {rule}: {message} (line `{line}`)")]
    Protocol {
        /// The server rule broken.
        rule: RuleId,
        /// The offending line (lossy UTF-8; a placeholder for an oversized line).
        line: String,
        /// What was wrong.
        message: String,
    },
    /// The server answered a request with an error line (e.g. `ERR too many connections`).
    #[error("server refused the request: `{line}`")]
    Refused {
        /// The error line.
        line: String,
    },
    /// Nothing arrived (or a write did not complete) in time.
    #[error("timed out after {} waiting for {waiting_for}", humantime::format_duration(*after))]
    Timeout {
        /// What the client was waiting for.
        waiting_for: &'static str,
        /// How long it waited.
        after: Duration,
    },
    /// The server closed the connection.
    #[error("the server closed the connection while the client was waiting for {waiting_for}")]
    Closed {
        /// What the client was waiting for.
        waiting_for: &'static str,
    },
    /// A transport error.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The call is not allowed in the current state; nothing was sent.
    #[error(transparent)]
    Usage(#[from] UsageError),
}

impl From<ProtocolError> for ClientError {
    fn from(e: ProtocolError) -> Self {
        ClientError::Protocol {
            rule: e.rule,
            line: e.line,
            message: e.message,
        }
    }
}

/// Results of client calls.
pub type Result<T> = std::result::Result<T, ClientError>;

/// The framed stream plus the session state: the part shared by both client types.
#[derive(Debug)]
struct Conn<S> {
    framed: Framed<S, LineCodec>,
    session: ClientSession,
    timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    async fn send(&mut self, line: String) -> Result<()> {
        tracing::debug!(line = %line, "client sends");
        let after = self.timeout;
        match timeout(after, self.framed.send(line)).await {
            Err(_) => Err(ClientError::Timeout {
                waiting_for: "the server to accept a line",
                after,
            }),
            Ok(Err(e)) if is_disconnect(&e) => Err(ClientError::Closed {
                waiting_for: "a line to be sent",
            }),
            Ok(r) => Ok(r?),
        }
    }

    /// The next server line, interpreted; `Ok(None)` when nothing arrived within `within`
    /// (the read is cancel-safe: a partial line stays buffered for the next call).
    async fn recv_within(
        &mut self,
        waiting_for: &'static str,
        within: Duration,
    ) -> Result<Option<ClientEvent>> {
        let frame = match timeout(within, self.framed.next()).await {
            Err(_) => return Ok(None),
            Ok(None) => return Err(ClientError::Closed { waiting_for }),
            Ok(Some(Err(e))) if is_disconnect(&e) => {
                return Err(ClientError::Closed { waiting_for });
            }
            Ok(Some(frame)) => frame?,
        };
        let raw = match frame {
            Frame::TooLong { limit } => {
                return Err(framing(
                    format!("<a line over {limit} bytes>"),
                    format!("a line longer than the dialect's limit of {limit} bytes"),
                ));
            }
            Frame::Line(raw) => raw,
        };
        if raw.ending == Ending::Eof {
            return Err(framing(
                raw.lossy(),
                "the connection closed in the middle of a line".into(),
            ));
        }
        let Some(text) = raw.text() else {
            return Err(framing(raw.lossy(), "a line that is not UTF-8".into()));
        };
        tracing::debug!(line = %text, "client received");
        Ok(Some(self.session.handle_line(text)?))
    }

    async fn recv(&mut self, waiting_for: &'static str) -> Result<ClientEvent> {
        let after = self.timeout;
        self.recv_within(waiting_for, after)
            .await?
            .ok_or(ClientError::Timeout { waiting_for, after })
    }
}

fn is_disconnect(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof
    )
}

fn framing(line: String, message: String) -> ClientError {
    ClientError::Protocol {
        rule: RuleId::SFraming,
        line,
        message,
    }
}

/// The session produced an event its state cannot produce: a bug in this crate, reported
/// as an error rather than a panic.
fn impossible(event: ClientEvent, waiting_for: &str) -> ClientError {
    ClientError::Protocol {
        rule: RuleId::SReplyOne,
        line: format!("{event:?}"),
        message: format!("internal error: unexpected event while waiting for {waiting_for}"),
    }
}

/// A connection outside notification mode: requests and entering the mode.
#[derive(Debug)]
pub struct Client<S = TcpStream> {
    conn: Conn<S>,
}

impl Client<TcpStream> {
    /// Connects over TCP (bounded by the timeout). Nagle is off: the protocol is one small
    /// line per turn, and batching would only add latency.
    pub async fn connect(
        addr: impl ToSocketAddrs,
        dialect: Dialect,
        opts: ClientOptions,
    ) -> Result<Self> {
        let stream = timeout(opts.timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout {
                waiting_for: "the connection to be accepted",
                after: opts.timeout,
            })??;
        stream.set_nodelay(true)?;
        Ok(Client::new(stream, dialect, opts))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// A client over an already connected stream (TCP, an in-memory duplex, a proxy leg).
    /// Lines are read up to the dialect's `max_line` and sent with its line ending.
    pub fn new(stream: S, dialect: Dialect, opts: ClientOptions) -> Self {
        let codec = LineCodec::new(dialect.max_line, dialect.line_ending);
        Client {
            conn: Conn {
                framed: Framed::new(stream, codec),
                session: ClientSession::new(dialect),
                timeout: opts.timeout,
            },
        }
    }

    /// The dialect spoken.
    pub fn dialect(&self) -> &Dialect {
        self.conn.session.dialect()
    }

    /// The newest random number, exactly as the server wrote it (digits only; it may not
    /// fit any integer type, so parsing is left to the caller).
    pub async fn random(&mut self) -> Result<String> {
        match self.fetch(ItemKind::Random).await? {
            Reply::Random(n) => Ok(n),
            other => Err(impossible(ClientEvent::Reply(other), "the random reply")),
        }
    }

    /// The oldest unread classified ad, or `None` when the server has none unread.
    pub async fn classified(&mut self) -> Result<Option<String>> {
        match self.fetch(ItemKind::Classified).await? {
            Reply::Classified(ad) => Ok(ad),
            other => Err(impossible(
                ClientEvent::Reply(other),
                "the classified reply",
            )),
        }
    }

    /// Fetches an item of `kind`: what a program reacting to a notification of that kind
    /// calls.
    pub async fn fetch(&mut self, kind: ItemKind) -> Result<Reply> {
        let waiting_for = match kind {
            ItemKind::Random => "the random reply",
            ItemKind::Classified => "the classified reply",
        };
        let line = self.conn.session.request(Request::Fetch(kind))?;
        self.conn.send(line).await?;
        match self.conn.recv(waiting_for).await? {
            ClientEvent::Reply(r) => Ok(r),
            ClientEvent::Refused(line) => Err(ClientError::Refused { line }),
            other => Err(impossible(other, waiting_for)),
        }
    }

    /// Enters notification mode and waits for the acknowledgement.
    pub async fn notify(mut self) -> Result<NotifSession<S>> {
        const WAITING: &str = "the mode acknowledgement";
        let line = self.conn.session.request(Request::EnterMode)?;
        self.conn.send(line).await?;
        match self.conn.recv(WAITING).await? {
            ClientEvent::ModeEntered => Ok(NotifSession { conn: self.conn }),
            ClientEvent::Refused(line) => Err(ClientError::Refused { line }),
            other => Err(impossible(other, WAITING)),
        }
    }
}

/// A connection in notification mode.
#[derive(Debug)]
pub struct NotifSession<S = TcpStream> {
    conn: Conn<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> NotifSession<S> {
    /// The dialect spoken.
    pub fn dialect(&self) -> &Dialect {
        self.conn.session.dialect()
    }

    /// The notification received and not answered yet (never set when the dialect requires
    /// no answers).
    pub fn outstanding(&self) -> Option<ItemKind> {
        self.conn.session.outstanding()
    }

    /// Waits for the next notification, at most the client's timeout
    /// ([`ClientError::Timeout`] after that).
    pub async fn next(&mut self) -> Result<ItemKind> {
        let after = self.conn.timeout;
        self.next_timeout(after).await?.ok_or(ClientError::Timeout {
            waiting_for: "a notification",
            after,
        })
    }

    /// Waits at most `within` for the next notification; `Ok(None)` when none came, which
    /// in notification mode is normal (nothing new was published) and leaves the session
    /// as it was.
    ///
    /// Where answers are required, the outstanding notification must be answered first
    /// ([`NotifSession::ack`] or [`NotifSession::stop`]): the server sends nothing more
    /// until then, so waiting could only time out.
    pub async fn next_timeout(&mut self, within: Duration) -> Result<Option<ItemKind>> {
        if let Some(kind) = self.outstanding() {
            return Err(ClientError::Usage(UsageError {
                rule: RuleId::CAck,
                reason: format!(
                    "the `{kind}` notification is unanswered: ack() or stop() before waiting again"
                ),
            }));
        }
        match self.conn.recv_within("a notification", within).await? {
            None => Ok(None),
            Some(ClientEvent::Notification(kind)) => Ok(Some(kind)),
            Some(other) => Err(impossible(other, "a notification")),
        }
    }

    /// Answers the outstanding notification with `OK`, staying in the mode.
    ///
    /// With `answers.policy: none` this sends nothing and succeeds, so the same program works
    /// in every dialect. Without an outstanding notification it is a
    /// [`ClientError::Usage`] error (C-ACK-ONLY-NOTIF) and nothing is sent.
    pub async fn ack(&mut self) -> Result<()> {
        if self.outstanding().is_some() {
            // While a notification is unanswered the server may send nothing at all, so a
            // line that is already here (looked at without waiting) was sent before the server
            // could read our answer: the session reports it (S-NOTIF-WINDOW for a second
            // notification) instead of the client answering as if all were well.
            const WAITING: &str = "nothing (a notification is unanswered)";
            if let Some(event) = self.conn.recv_within(WAITING, Duration::ZERO).await? {
                return Err(impossible(event, WAITING));
            }
        }
        if let Some(line) = self.conn.session.ack()? {
            self.conn.send(line).await?;
        }
        Ok(())
    }

    /// Leaves the mode: sends `stop_notif` (as the answer to the outstanding notification,
    /// if any) and waits for the `OK` that completes it, within the client's timeout.
    ///
    /// Returns the client and the notifications that crossed the stop on the wire: the
    /// server sent them before it read the stop. They are not answered (the protocol forbids
    /// it) but their items are available, so a caller fetches them instead of losing them.
    pub async fn stop(mut self) -> Result<(Client<S>, Vec<ItemKind>)> {
        const WAITING: &str = "the OK completing stop_notif";
        let line = self.conn.session.stop()?;
        self.conn.send(line).await?;
        let after = self.conn.timeout;
        // One deadline for the whole wait: a server that keeps sending notifications
        // (allowed without required answers) cannot keep the client here forever.
        let deadline = Instant::now() + after;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.conn.recv_within(WAITING, left).await? {
                None => {
                    return Err(ClientError::Timeout {
                        waiting_for: WAITING,
                        after,
                    });
                }
                Some(ClientEvent::Crossed(kind)) => {
                    tracing::debug!(%kind, "notification crossed stop_notif");
                }
                Some(ClientEvent::Stopped { crossed }) => {
                    return Ok((Client { conn: self.conn }, crossed));
                }
                Some(other) => return Err(impossible(other, WAITING)),
            }
        }
    }
}
