//! A named peer of the conversation under test: one raw TCP connection, its receive buffer,
//! its own [`Checker`] and a short log of what was said.
//!
//! Like h2spec's test peer, it reads and writes hand-made bytes and does its own line
//! splitting: notifspec's framing code and reference peers are never on this path, so a bug
//! in them cannot hide a bug in the implementation under test. Memory is bounded: the buffer
//! never holds more than one line plus its terminator, and the log keeps the last lines only.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::checker::{
    Checker, Event, EventKind, Options as CheckerOptions, Party, Terminator, Violation,
};
use crate::dialect::{Dialect, ItemKind};

/// How many lines of conversation a peer keeps for failure reports.
const LOG_LINES: usize = 40;

/// What arrived from the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A complete line (invalid UTF-8 replaced), with its terminator.
    Line(String, Terminator),
    /// A line longer than the limit; its bytes were discarded.
    TooLong,
    /// The other side closed the connection (or it broke).
    Closed,
}

/// A peer could not be driven: the connection broke while writing.
#[derive(Debug, thiserror::Error)]
#[error("{peer}: {source}")]
pub struct PeerIoError {
    /// The peer's name.
    pub peer: String,
    /// What the OS said.
    pub source: std::io::Error,
}

/// One side of a conversation that the harness plays.
#[derive(Debug)]
pub struct Peer {
    name: String,
    us: Party,
    stream: TcpStream,
    buf: BytesMut,
    discarding: bool,
    closed: bool,
    close_recorded: bool,
    max_line: usize,
    started: Instant,
    checker: Checker,
    violations: Vec<Violation>,
    log: VecDeque<(Instant, String)>,
    /// We (a client) sent the stop command since we last sent the enter command: a
    /// notification arriving now crosses the stop and must not be answered.
    stopping: bool,
}

impl Peer {
    /// A peer named `name` (e.g. `client A`) playing `us` on `stream`. `items_known` tells
    /// the checker that every publish is fed to it (the server publishes nothing on its own),
    /// so availability rules (S-NO-DUP, S-LIVENESS) can be judged.
    pub fn new(
        name: impl Into<String>,
        us: Party,
        stream: TcpStream,
        dialect: &Dialect,
        items_known: bool,
    ) -> Self {
        let options = CheckerOptions {
            items_known,
            ..CheckerOptions::default()
        };
        Peer {
            name: name.into(),
            us,
            stream,
            buf: BytesMut::with_capacity(256),
            discarding: false,
            closed: false,
            close_recorded: false,
            max_line: dialect.max_line,
            started: Instant::now(),
            checker: Checker::with_options(dialect.clone(), options),
            violations: Vec::new(),
            log: VecDeque::new(),
            stopping: false,
        }
    }

    /// The peer's name, as in the features.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn them(&self) -> Party {
        match self.us {
            Party::Client => Party::Server,
            Party::Server => Party::Client,
        }
    }

    fn record(&mut self, kind: EventKind) {
        if let EventKind::Line { from, text, .. } = &kind
            && *from == self.us
            && self.us == Party::Client
        {
            let commands = &self.checker.dialect().commands;
            if *text == commands.stop {
                self.stopping = true;
            } else if *text == commands.enter {
                self.stopping = false;
            }
        }
        let note = match &kind {
            EventKind::Line { from, text, .. } => {
                let who = if *from == Party::Client { "C:" } else { "S:" };
                // `S:` alone is an empty line, as in a transcript.
                Some(if text.is_empty() {
                    format!("{} {who}", self.name)
                } else {
                    format!("{} {who} {text}", self.name)
                })
            }
            EventKind::Oversized { from } => Some(format!(
                "{} {}: <line longer than {} bytes>",
                self.name,
                if *from == Party::Client { "C" } else { "S" },
                self.max_line
            )),
            EventKind::Closed { by } => Some(format!("{} <closed by the {by}>", self.name)),
            EventKind::Published { .. } => None,
            EventKind::Quiet { duration } => {
                Some(format!("{} <quiet for {}>", self.name, fmt_dur(*duration)))
            }
        };
        if let Some(note) = note {
            self.note(note);
        }
        let event = Event {
            at: Some(self.started.elapsed()),
            source_line: None,
            kind,
        };
        let found = self.checker.feed(&event);
        self.violations.extend(found);
    }

    /// Tells the checker an item was published, so availability rules can be judged.
    pub fn published(&mut self, kind: ItemKind) {
        self.record(EventKind::Published { kind });
    }

    fn note(&mut self, line: String) {
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back((Instant::now(), line));
    }

    /// Sends `text` followed by `ending`, exactly as given.
    pub async fn send(&mut self, text: &str, ending: &[u8]) -> Result<(), PeerIoError> {
        let mut bytes = Vec::with_capacity(text.len() + 2);
        bytes.extend_from_slice(text.as_bytes());
        bytes.extend_from_slice(ending);
        self.write(&bytes).await?;
        let terminator = match ending {
            b"\r\n" => Terminator::CrLf,
            b"\n" => Terminator::Lf,
            _ => Terminator::Missing,
        };
        let from = self.us;
        if text.len() > self.max_line {
            self.record(EventKind::Oversized { from });
        } else {
            self.record(EventKind::Line {
                from,
                text: text.to_string(),
                terminator,
            });
        }
        Ok(())
    }

    /// Sends several lines in one write, so they reach the other side together.
    pub async fn send_many(&mut self, lines: &[String], ending: &[u8]) -> Result<(), PeerIoError> {
        let mut bytes = Vec::new();
        for l in lines {
            bytes.extend_from_slice(l.as_bytes());
            bytes.extend_from_slice(ending);
        }
        self.write(&bytes).await?;
        for l in lines {
            self.record(EventKind::Line {
                from: self.us,
                text: l.clone(),
                terminator: terminator_of(ending),
            });
        }
        Ok(())
    }

    /// Sends raw bytes that do not form a well-behaved line (invalid UTF-8, a half line).
    /// `as_text` is how the checker and the log see them.
    pub async fn send_raw(
        &mut self,
        bytes: &[u8],
        as_text: Option<&str>,
    ) -> Result<(), PeerIoError> {
        self.write(bytes).await?;
        if let Some(text) = as_text {
            self.record(EventKind::Line {
                from: self.us,
                text: text.to_string(),
                terminator: terminator_of(bytes),
            });
        }
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), PeerIoError> {
        let res = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        res.await.map_err(|source| PeerIoError {
            peer: self.name.clone(),
            source,
        })
    }

    /// Closes our side of the connection.
    pub async fn close(&mut self) {
        let _ = self.stream.shutdown().await;
        let by = self.us;
        self.record(EventKind::Closed { by });
    }

    /// Waits up to `wait` for what the other side sends next; `None` when nothing arrived.
    pub async fn recv(&mut self, wait: Duration) -> Option<Incoming> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(incoming) = self.take_buffered() {
                return Some(self.observe(incoming));
            }
            if self.closed {
                if !self.close_recorded {
                    self.close_recorded = true;
                    let them = self.them();
                    self.record(EventKind::Closed { by: them });
                }
                return Some(Incoming::Closed);
            }
            let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await;
            match read {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.closed = true;
                    let tail = std::mem::take(&mut self.buf);
                    if !tail.is_empty() && !self.discarding {
                        let text = String::from_utf8_lossy(&tail).into_owned();
                        return Some(self.observe(Incoming::Line(text, Terminator::Missing)));
                    }
                    continue;
                }
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Whether a complete line from the other side is already waiting to be read.
    pub fn line_buffered(&self) -> bool {
        !self.discarding && self.buf.contains(&b'\n')
    }

    /// Splits one line off the buffer, enforcing the limit while reading.
    fn take_buffered(&mut self) -> Option<Incoming> {
        loop {
            let nl = self.buf.iter().position(|b| *b == b'\n');
            if self.discarding {
                match nl {
                    Some(i) => {
                        self.buf.advance(i + 1);
                        self.discarding = false;
                        continue;
                    }
                    None => {
                        self.buf.clear();
                        return None;
                    }
                }
            }
            return match nl {
                Some(i) => {
                    let raw = self.buf.split_to(i + 1);
                    let (body, term) = match raw[..i].strip_suffix(b"\r") {
                        Some(b) => (b, Terminator::CrLf),
                        None => (&raw[..i], Terminator::Lf),
                    };
                    if body.len() > self.max_line {
                        Some(Incoming::TooLong)
                    } else {
                        Some(Incoming::Line(
                            String::from_utf8_lossy(body).into_owned(),
                            term,
                        ))
                    }
                }
                None if self.buf.len() > self.max_line + 1 => {
                    self.discarding = true;
                    self.buf.clear();
                    Some(Incoming::TooLong)
                }
                None => None,
            };
        }
    }

    fn observe(&mut self, incoming: Incoming) -> Incoming {
        let from = self.them();
        match &incoming {
            Incoming::Line(text, terminator) => self.record(EventKind::Line {
                from,
                text: text.clone(),
                terminator: *terminator,
            }),
            Incoming::TooLong => self.record(EventKind::Oversized { from }),
            Incoming::Closed => {}
        }
        incoming
    }

    /// Records that nothing arrived for `duration` (the checker's liveness rules use it).
    pub fn quiet(&mut self, duration: Duration) {
        self.record(EventKind::Quiet { duration });
    }

    /// Whether we (a client) sent the stop command since we last entered the mode: a
    /// notification that arrives now crossed the stop, and answering it would break `C-`
    /// rules.
    pub fn stopping(&self) -> bool {
        self.stopping
    }

    /// Whether the checker has found the other party breaking a rule since the last
    /// [`take_violations`](Peer::take_violations): the line just received was not one it
    /// may send now.
    pub fn other_side_flagged(&self) -> bool {
        let them = self.them();
        self.violations.iter().any(|v| v.rule.party() == them)
    }

    /// Violations of the other party's rules found since the last call. Our own party's are
    /// dropped: the harness breaks rules on purpose to see how the other side copes.
    pub fn take_violations(&mut self) -> Vec<Violation> {
        let them = self.them();
        self.violations
            .drain(..)
            .filter(|v| v.rule.party() == them)
            .collect()
    }

    /// Ends the conversation for the checker (as a recording that stopped, not a complete
    /// one: what is in flight when a scenario ends is not a violation).
    pub fn finish(&mut self) -> Vec<Violation> {
        let found = self.checker.finish(false);
        self.violations.extend(found);
        self.take_violations()
    }

    /// The last lines of the conversation, oldest first, with when they happened (so the
    /// logs of several peers can be interleaved).
    pub fn log(&self) -> impl Iterator<Item = &(Instant, String)> {
        self.log.iter()
    }
}

fn terminator_of(bytes: &[u8]) -> Terminator {
    if bytes.ends_with(b"\r\n") {
        Terminator::CrLf
    } else if bytes.ends_with(b"\n") {
        Terminator::Lf
    } else {
        Terminator::Missing
    }
}

pub use crate::units::fmt_dur;

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair(dialect: &Dialect) -> (Peer, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (ours, theirs) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let peer = Peer::new("client A", Party::Client, ours.unwrap(), dialect, false);
        (peer, theirs.unwrap().0)
    }

    #[tokio::test]
    async fn lines_are_split_by_hand_with_the_limit_enforced_while_reading() {
        let d = Dialect {
            max_line: 16,
            ..Dialect::default()
        };
        let (mut peer, mut server) = pair(&d).await;
        let long = vec![b'x'; 4000];
        server.write_all(b"12\r\nabc\n").await.unwrap();
        server.write_all(&long).await.unwrap();
        server.write_all(b"\nafter\r\ntail").await.unwrap();
        server.shutdown().await.unwrap();
        let wait = Duration::from_secs(5);
        let line = |s: &str, t| Some(Incoming::Line(s.to_string(), t));
        assert_eq!(peer.recv(wait).await, line("12", Terminator::CrLf));
        assert_eq!(peer.recv(wait).await, line("abc", Terminator::Lf));
        assert_eq!(peer.recv(wait).await, Some(Incoming::TooLong));
        assert!(
            peer.buf.len() <= 4096,
            "the buffer grew to {}",
            peer.buf.len()
        );
        assert_eq!(peer.recv(wait).await, line("after", Terminator::CrLf));
        assert_eq!(peer.recv(wait).await, line("tail", Terminator::Missing));
        assert_eq!(peer.recv(wait).await, Some(Incoming::Closed));
        assert_eq!(peer.recv(wait).await, Some(Incoming::Closed));
        let log: Vec<&str> = peer.log().map(|(_, l)| l.as_str()).collect();
        assert_eq!(log.last(), Some(&"client A <closed by the server>"));
        assert_eq!(log.iter().filter(|l| l.contains("closed")).count(), 1);
    }

    #[tokio::test]
    async fn silence_is_none_within_the_wait_and_our_lines_are_sent_as_given() {
        let d = Dialect::default();
        let (mut peer, server) = pair(&d).await;
        assert_eq!(peer.recv(Duration::from_millis(20)).await, None);
        peer.send("random?", b"\n").await.unwrap();
        let mut got = [0u8; 8];
        let mut server = server;
        tokio::io::AsyncReadExt::read_exact(&mut server, &mut got)
            .await
            .unwrap();
        assert_eq!(&got, b"random?\n");
    }
}
