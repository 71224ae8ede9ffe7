//! The bodies of notifspec's fuzz targets, as plain functions of a byte slice.
//!
//! They live here, not in `fuzz_targets/`, so that two drivers share them: `cargo fuzz`
//! (coverage-guided, libFuzzer; `fuzz_targets/*.rs` are one-line wrappers) and the root
//! crate's `cargo test`, which includes this file as a module (`tests/it/robustness.rs`,
//! `fuzz_smoke_*`) and runs every body over seeded random inputs. CI runs only `cargo test`, so
//! that is what keeps the targets compiling and their properties true between fuzzing runs.
//!
//! Each body panics exactly when it finds a bug: a panic inside notifspec, or a broken
//! property (stated at each function).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::BytesMut;
use notifspec::checker::{Checker, Event, EventKind, MAX_PENDING, Options, Terminator};
use notifspec::dialect::{Dialect, ItemKind};
use notifspec::proto::{Items, ServerSession};
use notifspec::rule::Party;
use notifspec::transcript;
use notifspec::wire::{Ending, Frame, LineCodec};
use tokio_util::codec::Decoder;

/// Reads structured choices off the fuzzer's bytes; past the end every read is zero, so any
/// input, however short, is a valid program.
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    /// Wraps the fuzzer's input.
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }

    /// Whether the input is used up.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// One byte (0 past the end).
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        let v = u16::from_le_bytes([self.byte(), self.byte()]) as usize;
        v % n
    }

    /// Up to `max` raw bytes.
    pub fn take(&mut self, max: usize) -> &'a [u8] {
        let n = self.below(max + 1).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
}

/// What a correct line codec yields for `input` (the reference model): split at `\n`, drop
/// one `\r` before it, a line longer than `max` is `TooLong`; an unterminated non-empty tail
/// is a line ending at EOF, or `TooLong` when over the limit.
fn expected_frames(input: &[u8], max: usize) -> Vec<Frame> {
    let mut out = vec![];
    let mut parts = input.split(|b| *b == b'\n').peekable();
    while let Some(part) = parts.next() {
        let last = parts.peek().is_none();
        let (line, ending) = if last {
            (part, Ending::Eof)
        } else if let Some(l) = part.strip_suffix(b"\r") {
            (l, Ending::CrLf)
        } else {
            (part, Ending::Lf)
        };
        if last && line.is_empty() {
            break;
        }
        if line.len() > max {
            out.push(Frame::TooLong { limit: max });
        } else {
            out.push(Frame::Line(notifspec::wire::RawLine {
                bytes: bytes::Bytes::copy_from_slice(line),
                ending,
            }));
        }
    }
    out
}

/// `framing`: [`LineCodec`] fed `data` in arbitrary chunks never panics, never holds more
/// than `limit + 2` bytes between calls, and yields exactly the reference model's frames —
/// so the lines concatenated with their terminators reproduce the input, oversized lines
/// aside.
pub fn framing(data: &[u8]) {
    let mut u = Bytes::new(data);
    let max = 1 + u.below(40);
    let mut codec = LineCodec::new(max, notifspec::dialect::LineEnding::Crlf);
    let mut stream = Vec::new();
    let mut frames = Vec::new();
    let mut buf = BytesMut::new();
    while !u.is_empty() {
        let chunk = u.take(3 * max);
        stream.extend_from_slice(chunk);
        buf.extend_from_slice(chunk);
        while let Some(f) = codec.decode(&mut buf).expect("decode never fails") {
            frames.push(f);
        }
        assert!(
            buf.len() <= max + 2,
            "buffer holds {} bytes, limit {max}",
            buf.len()
        );
    }
    while let Some(f) = codec.decode_eof(&mut buf).expect("decode_eof never fails") {
        frames.push(f);
    }
    assert!(buf.is_empty(), "bytes left after EOF: {buf:?}");
    for f in &frames {
        if let Frame::Line(l) = f {
            assert!(
                l.bytes.len() <= max,
                "a {}-byte line passed limit {max}",
                l.bytes.len()
            );
        }
    }
    assert_eq!(frames, expected_frames(&stream, max), "input {stream:?}");
}

/// `transcript`: parsing arbitrary bytes (whole, and streamed with [`transcript::Reader`])
/// never panics and both agree; a parsed transcript written back parses to the same entries;
/// checking it never panics.
pub fn transcript(data: &[u8]) {
    let streamed: Result<Vec<_>, _> =
        transcript::Reader::new(data, "fuzz").and_then(|r| r.collect());
    let Ok(text) = std::str::from_utf8(data) else {
        assert!(streamed.is_err(), "invalid UTF-8 accepted");
        return;
    };
    let parsed = transcript::parse(text, "fuzz");
    match (&parsed, &streamed) {
        (Ok(t), Ok(entries)) => assert_eq!(&t.entries, entries),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("parse and Reader disagree: {parsed:?} vs {streamed:?}"),
    }
    let Ok(t) = parsed else { return };
    let written = transcript::write(&t);
    let again = transcript::parse(&written, "rewritten")
        .unwrap_or_else(|e| panic!("written transcript does not parse: {e}\n{written}"));
    let kinds =
        |t: &transcript::Transcript| t.entries.iter().map(|e| e.kind.clone()).collect::<Vec<_>>();
    assert_eq!(
        kinds(&again),
        kinds(&t),
        "round trip changed the entries:\n{written}"
    );
    assert_eq!(
        again.front, t.front,
        "round trip changed the front matter:\n{written}"
    );
    let mut u = Bytes::new(data);
    let _ = notifspec::transcript::check_transcript(&t, &pick_dialect(&mut u));
}

/// `dialect`: loading arbitrary YAML never panics; a dialect that loads survives a round trip
/// through [`Dialect::to_yaml`].
pub fn dialect(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = Dialect::from_yaml_str(text, "fuzz") {
        let again = Dialect::from_yaml_str(&d.to_yaml(), "again").expect("round trip loads");
        assert_eq!(again, d);
    }
}

/// The dialects the event-driven targets speak: both built-ins and the two option variants
/// (parsed once: YAML parsing would otherwise dominate each run).
fn pick_dialect(u: &mut Bytes) -> Dialect {
    static DIALECTS: OnceLock<[Dialect; 4]> = OnceLock::new();
    let all = DIALECTS.get_or_init(|| {
        let base = Dialect::default();
        let variant = |from: &str, to: &str| {
            let yaml = base.to_yaml().replace(from, to);
            Dialect::from_yaml_str(&yaml, "fuzz variant").expect("variant is valid")
        };
        [
            variant("policy: required", "policy: none"),
            variant("policy: error", "policy: ignore"),
            Dialect::builtin("seed-text").expect("built in"),
            base,
        ]
    });
    all[u.below(all.len())].clone()
}

/// Client lines worth trying: every command of both dialects, near misses, garbage.
const CLIENT_WORDS: &[&str] = &[
    "random?",
    "classified?",
    "_notif_",
    "notif",
    "stop_notif",
    "OK",
    "ok",
    "random? ",
    " OK",
    "",
    "   ",
    "notif: OK",
    "random?\r",
    "x\0y",
    "stop_notif stop_notif",
];

/// Server lines worth trying.
const SERVER_WORDS: &[&str] = &[
    "will send notifs",
    "notif: OK",
    "notif: random",
    "notif: classified",
    "notif: news",
    "OK",
    "ERR",
    "ERR unknown command",
    "ERRx",
    "12345",
    "-1",
    "",
    "Nice appart in the 11e.",
    "notif:",
    "1e5",
];

fn line_text(u: &mut Bytes, words: &[&str]) -> String {
    if u.below(8) == 0 {
        String::from_utf8_lossy(u.take(24)).into_owned()
    } else {
        words[u.below(words.len())].to_string()
    }
}

fn terminator(u: &mut Bytes) -> Terminator {
    [
        Terminator::CrLf,
        Terminator::Lf,
        Terminator::Missing,
        Terminator::Unknown,
    ][u.below(4)]
}

/// `checker`: any sequence of events (lines from either party, oversized lines, closes,
/// publishes, quiet periods) in any dialect never makes the checker panic, and its memory
/// stays bounded ([`Checker::pending_len`] ≤ [`MAX_PENDING`]).
pub fn checker(data: &[u8]) {
    let mut u = Bytes::new(data);
    let dialect = pick_dialect(&mut u);
    let options = Options {
        items_known: u.byte() & 1 == 1,
        liveness_bound: Duration::from_millis(u.below(2000) as u64),
    };
    let mut checker = Checker::with_options(dialect, options);
    let mut n = 0;
    while !u.is_empty() {
        n += 1;
        let party = if u.byte() & 1 == 0 {
            Party::Client
        } else {
            Party::Server
        };
        let kind = match u.below(16) {
            0 => EventKind::Oversized { from: party },
            1 => EventKind::Closed { by: party },
            2 => EventKind::Published {
                kind: ItemKind::ALL[u.below(2)],
            },
            3 => EventKind::Quiet {
                duration: Duration::from_millis(u.below(3000) as u64),
            },
            _ => EventKind::Line {
                text: line_text(
                    &mut u,
                    if party == Party::Client {
                        CLIENT_WORDS
                    } else {
                        SERVER_WORDS
                    },
                ),
                from: party,
                terminator: terminator(&mut u),
            },
        };
        let event = Event {
            at: None,
            source_line: Some(n),
            kind,
        };
        for v in checker.feed(&event) {
            assert!(!v.message.is_empty(), "{v:?} has no message");
        }
        assert!(checker.pending_len() <= MAX_PENDING);
    }
    let _ = checker.finish(u.byte() & 1 == 1);
}

/// `differential`: the reference [`ServerSession`] is driven by arbitrary client bytes
/// (framed by [`LineCodec`], like the real server does; the client either waits for the
/// reaction to each line or pipelines several), publishes and quiet periods, and the
/// whole conversation, as the server sees it, is fed to the checker, which must find no
/// server-side (`S-`) violation. Two independent readings of the spec must agree.
pub fn differential(data: &[u8]) {
    let mut u = Bytes::new(data);
    let mut dialect = pick_dialect(&mut u);
    // Small limits, where the server's own lines (error reasons) are longest relatively.
    dialect.max_line = 17 + u.below(16);
    dialect.validate().expect("every spelling fits 17 bytes");
    let dialect = Arc::new(dialect);
    // The default capacity: the checker cannot know that a client more than that many ads behind
    // skips the evicted ones (a documented bound of the server), so no input may get there.
    let mut items = Items::new(
        7,
        "first ad",
        notifspec::proto::availability::DEFAULT_AD_CAPACITY,
    );
    let mut session = ServerSession::new(dialect.clone(), &items);
    let pipelined = u.byte() & 1 == 1;
    let mut checker = Checker::with_options(
        (*dialect).clone(),
        Options {
            items_known: true,
            liveness_bound: Duration::from_secs(1),
        },
    );
    let mut codec = LineCodec::new(dialect.max_line, dialect.line_ending);
    let mut buf = BytesMut::new();
    let mut conversation = Vec::new();
    let mut next_value = 100;
    let mut closed = false;
    while !u.is_empty() && !closed {
        let mut inputs = Vec::new();
        match u.below(10) {
            0 => {
                let kind = ItemKind::ALL[u.below(2)];
                match kind {
                    ItemKind::Random => {
                        next_value += 1;
                        items.publish_random(next_value);
                    }
                    ItemKind::Classified => {
                        items.publish_classified(&format!("ad {next_value}"));
                        next_value += 1;
                    }
                }
                inputs.push(EventKind::Published { kind });
                session.handle_items_changed(&items);
            }
            1 => inputs.push(EventKind::Quiet {
                duration: Duration::from_secs(2),
            }),
            2 => buf.extend_from_slice(u.take(40)),
            _ => {
                let word = CLIENT_WORDS[u.below(CLIENT_WORDS.len())];
                buf.extend_from_slice(word.as_bytes());
                buf.extend_from_slice(if u.byte() & 1 == 0 { b"\r\n" } else { b"\n" });
            }
        }
        for ev in inputs {
            feed(&mut checker, &mut conversation, ev);
            closed |= drain(
                &mut session,
                dialect.max_line,
                &mut checker,
                &mut conversation,
            );
        }
        // A pipelining client writes several lines before the server reads any: the checker
        // sees them all, then the server's reactions, line by line.
        let send_now = !pipelined || u.is_empty() || u.below(3) == 0;
        while send_now && !closed {
            let mut batch = Vec::new();
            while let Some(frame) = codec.decode(&mut buf).expect("decode never fails") {
                feed(&mut checker, &mut conversation, client_event(&frame));
                batch.push(frame);
                // Beyond the checker's reply queue, pipelined replies are consumed unjudged
                // and the state they change is lost (documented, protocol.md section 13).
                if !pipelined || checker.pending_len() >= MAX_PENDING {
                    break;
                }
            }
            if batch.is_empty() {
                break;
            }
            for frame in batch {
                if closed {
                    break;
                }
                match frame {
                    Frame::TooLong { .. } => session.handle_too_long(),
                    Frame::Line(line) => session.handle_line(&line.bytes, &items),
                }
                closed |= drain(
                    &mut session,
                    dialect.max_line,
                    &mut checker,
                    &mut conversation,
                );
            }
        }
    }
    if closed {
        feed(
            &mut checker,
            &mut conversation,
            EventKind::Closed { by: Party::Server },
        );
    }
    for v in checker.finish(closed) {
        assert!(
            v.rule.party() != Party::Server,
            "{v:?}\nconversation:\n{}",
            show(&conversation)
        );
    }
}

/// What the checker sees of a client line the server framed.
fn client_event(frame: &Frame) -> EventKind {
    match frame {
        Frame::TooLong { .. } => EventKind::Oversized {
            from: Party::Client,
        },
        Frame::Line(line) => EventKind::Line {
            from: Party::Client,
            text: line.lossy(),
            terminator: if line.ending == Ending::CrLf {
                Terminator::CrLf
            } else {
                Terminator::Lf
            },
        },
    }
}

/// Feeds one event and fails on any server-side violation, showing the conversation so far.
fn feed(checker: &mut Checker, conversation: &mut Vec<EventKind>, kind: EventKind) {
    conversation.push(kind.clone());
    let event = Event {
        at: None,
        source_line: Some(conversation.len()),
        kind,
    };
    for v in checker.feed(&event) {
        assert!(
            v.rule.party() != Party::Server,
            "{v:?}\nconversation:\n{}",
            show(conversation)
        );
    }
}

/// Sends what the session has to say; `true` once it closes the connection. A line over the
/// dialect's limit is what a client reading with that limit sees: an oversized line.
fn drain(
    session: &mut ServerSession,
    max_line: usize,
    checker: &mut Checker,
    conversation: &mut Vec<EventKind>,
) -> bool {
    while let Some(line) = session.poll_transmit() {
        let ev = if line.len() > max_line {
            EventKind::Oversized {
                from: Party::Server,
            }
        } else {
            EventKind::Line {
                from: Party::Server,
                text: line,
                terminator: Terminator::CrLf,
            }
        };
        feed(checker, conversation, ev);
    }
    session.is_closing()
}

fn show(conversation: &[EventKind]) -> String {
    conversation
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{:>4} {e:?}\n", i + 1))
        .collect()
}
