//! Transcripts: conversations in the seed's `C:`/`S:` format, with front matter, comments,
//! placeholders and replay directives.
//!
//! The model types below are the contract the checker, replay and the simulator code against.
//! [`parse`] reads a whole (small) transcript; [`Reader`] streams one entry at a time so a
//! multi-gigabyte recording is checked in constant memory; [`write`](fn@write) and [`TranscriptWriter`]
//! produce files that parse back to the same transcript.
//!
//! Format summary (normative text in `docs/protocol.md`):
//! - optional YAML front matter between two `---` lines at the top (`title`, `dialect`, `expect`);
//! - `C: message` / `S: message` (whitespace around the message is formatting; `S:` alone is an
//!   empty line); `{int}` and `{text}` are placeholders, `{{` is a literal `{`;
//! - `# comment`, blank lines; `[...]` = the conversation goes on unrecorded;
//! - `! publish random [N]`, `! publish classified <text>`, `! close`, `! expect close`,
//!   `! quiet <duration>`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::rule::RuleId;

mod check;
mod events;
mod generate;
mod parse;
mod write;

pub use check::check_transcript;
pub use generate::generate_conforming;
#[cfg(test)]
use parse::parse_bytes;
pub use parse::{MAX_FILE_SIZE, MAX_LINE_LEN, ParseError, Reader, TRANSCRIPT_FILE, parse};
pub use write::{TranscriptWriter, write};

/// What a transcript is meant to show.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Expectation {
    /// A conforming conversation (the default).
    #[default]
    Pass,
    /// A negative example: exactly these rules are violated.
    Violates(Vec<RuleId>),
}

/// The optional YAML front matter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FrontMatter {
    /// A one-line description.
    pub title: Option<String>,
    /// Dialect name or path (relative to the transcript file).
    pub dialect: Option<String>,
    /// Pass, or the rules a negative example violates.
    pub expect: Expectation,
}

/// A piece of a message pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Text that must match exactly.
    Literal(String),
    /// `{int}`: any decimal integer.
    Int,
    /// `{text}`: anything up to the end of the line (possibly empty).
    Text,
}

/// A `C:` or `S:` message: its text as written and its parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The message as written (whitespace around it trimmed, `{{` not yet unescaped).
    pub raw: String,
    /// The pattern: a single literal unless placeholders are used.
    pub segments: Vec<Segment>,
}

/// A replay directive (`! ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    /// `! publish random` or `! publish random <N>`.
    PublishRandom(Option<String>),
    /// `! publish classified <text>`.
    PublishClassified(String),
    /// `! close`: the client closes the connection here.
    Close,
    /// `! expect close`: the server closes the connection here.
    ExpectClose,
    /// `! quiet <duration>`: nothing may arrive for that long.
    Quiet(Duration),
}

/// What one transcript line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// `C: ...`.
    Client(Message),
    /// `S: ...`.
    Server(Message),
    /// `! ...`.
    Directive(Directive),
    /// `[...]`: the conversation goes on unrecorded; check up to here.
    Unrecorded,
}

/// One meaningful line of a transcript (comments and blank lines are not entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number in the file.
    pub line: usize,
    /// What it says.
    pub kind: EntryKind,
}

/// A parsed transcript.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transcript {
    /// The file it came from, if any.
    pub path: Option<PathBuf>,
    /// Front matter (defaults when absent).
    pub front: FrontMatter,
    /// The conversation.
    pub entries: Vec<Entry>,
}

impl Message {
    /// Parses a message as written after `C:`/`S:` (already trimmed). The error is the
    /// 0-based char offset of the bad placeholder and what is wrong with it.
    pub fn parse(raw: &str) -> Result<Message, (usize, String)> {
        Ok(Message {
            raw: raw.to_string(),
            segments: parse::segments(raw)?,
        })
    }

    /// A message that matches exactly `text` (what a recorder saw): `{` is escaped as `{{`.
    /// Surrounding whitespace is formatting in the file format, so it is trimmed here too.
    pub fn literal_text(text: &str) -> Message {
        let text = text.trim();
        let segments = if text.is_empty() {
            Vec::new()
        } else {
            vec![Segment::Literal(text.to_string())]
        };
        Message {
            raw: text.replace('{', "{{"),
            segments,
        }
    }

    /// The exact line this message stands for, or `None` when it has placeholders.
    pub fn literal(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [] => Some(""),
            [Segment::Literal(s)] => Some(s),
            _ => None,
        }
    }

    /// Whether a line seen on the wire matches this message: literals exactly, `{int}` one or
    /// more ASCII digits, `{text}` anything (possibly empty).
    pub fn matches(&self, line: &str) -> bool {
        match_segments(&self.segments, line)
    }

    /// A concrete line that matches this message, used when a pattern must be judged as if it
    /// were traffic (the offline checker): `{int}` becomes `1`, `{text}` becomes `some text`.
    pub fn sample(&self) -> String {
        let mut out = String::new();
        self.sample_into(&mut out);
        out
    }

    /// [`Message::sample`] appended to `out`, so a caller judging many lines can reuse one
    /// buffer.
    pub fn sample_into(&self, out: &mut String) {
        for seg in &self.segments {
            match seg {
                Segment::Literal(s) => out.push_str(s),
                Segment::Int => out.push('1'),
                Segment::Text => out.push_str("some text"),
            }
        }
    }
}

/// Backtracking match; the segment lists are a handful long, and `{text}` only needs to try
/// the char boundaries of the remaining line.
fn match_segments(segments: &[Segment], line: &str) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return line.is_empty();
    };
    match first {
        Segment::Literal(s) => line
            .strip_prefix(s.as_str())
            .is_some_and(|tail| match_segments(rest, tail)),
        Segment::Int => {
            let digits = line.bytes().take_while(u8::is_ascii_digit).count();
            (1..=digits).rev().any(|n| match_segments(rest, &line[n..]))
        }
        Segment::Text => {
            if rest.is_empty() {
                return true;
            }
            line.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(line.len()))
                .any(|i| match_segments(rest, &line[i..]))
        }
    }
}

impl fmt::Display for Message {
    /// The message as it is written in a transcript (placeholders and `{{` kept).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Transcript {
    /// Reads and parses a transcript file (at most [`MAX_FILE_SIZE`] bytes; use [`Reader`]
    /// for larger recordings).
    pub fn from_file(path: &Path) -> Result<Transcript, ParseError> {
        let origin = path.display().to_string();
        let bytes = crate::fsio::read_bounded(path, TRANSCRIPT_FILE)
            .map_err(|e| ParseError::file(&origin, &e))?;
        let mut t = parse::parse_bytes(&bytes, &origin)?;
        t.path = Some(path.to_path_buf());
        Ok(t)
    }

    /// Whether the recording covers the whole conversation: it ends with `! close` or
    /// `! expect close`, so anything left hanging at the end is a violation.
    pub fn is_complete(&self) -> bool {
        self.entries
            .last()
            .is_some_and(|e| e.kind.ends_conversation())
    }
}

impl EntryKind {
    /// `! close` or `! expect close`: a transcript ending with one is complete.
    pub fn ends_conversation(&self) -> bool {
        matches!(
            self,
            EntryKind::Directive(Directive::Close | Directive::ExpectClose)
        )
    }
}

#[cfg(test)]
mod tests;
