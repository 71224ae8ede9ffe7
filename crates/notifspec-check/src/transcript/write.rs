//! Writing transcripts: [`TranscriptWriter`] streams a conversation as it is recorded (the
//! proxy and replay use it), [`write`] renders a whole [`Transcript`]. Whatever is written
//! parses back to the same entries.

use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use super::{Directive, Entry, EntryKind, Expectation, FrontMatter, Message, Transcript};

/// Streams a transcript to `out`, one line per call, so a recording costs no memory however
/// long the conversation runs.
#[derive(Debug)]
pub struct TranscriptWriter<W: Write> {
    out: W,
}

#[derive(Serialize)]
struct RawFront<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dialect: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expect: Option<Vec<&'static str>>,
}

impl<W: Write> TranscriptWriter<W> {
    /// Starts a transcript; the front matter is written only when it says something.
    pub fn new(mut out: W, front: &FrontMatter) -> io::Result<Self> {
        let raw = RawFront {
            title: front.title.as_deref(),
            dialect: front.dialect.as_deref(),
            expect: match &front.expect {
                Expectation::Pass => None,
                Expectation::Violates(rules) => Some(rules.iter().map(|r| r.as_str()).collect()),
            },
        };
        if raw.title.is_some() || raw.dialect.is_some() || raw.expect.is_some() {
            let yaml = serde_yaml::to_string(&raw).map_err(io::Error::other)?;
            write!(out, "---\n{yaml}---\n")?;
        }
        Ok(TranscriptWriter { out })
    }

    /// A line the client sent, recorded literally (`{` escaped).
    pub fn client(&mut self, line: &str) -> io::Result<()> {
        self.message("C:", &Message::literal_text(line))
    }

    /// A line the server sent, recorded literally (`{` escaped).
    pub fn server(&mut self, line: &str) -> io::Result<()> {
        self.message("S:", &Message::literal_text(line))
    }

    /// A comment, e.g. a timestamp `+0.012s`; line breaks in it are flattened so it stays
    /// one comment.
    pub fn comment(&mut self, text: &str) -> io::Result<()> {
        let flat = text.replace(['\r', '\n'], " ");
        writeln!(self.out, "# {}", flat.trim_end())
    }

    /// A timestamp comment `# +1.234s` (time since the conversation started).
    pub fn timestamp(&mut self, since_start: Duration) -> io::Result<()> {
        writeln!(self.out, "# +{:.3}s", since_start.as_secs_f64())
    }

    /// A directive line.
    pub fn directive(&mut self, d: &Directive) -> io::Result<()> {
        match d {
            Directive::PublishRandom(None) => writeln!(self.out, "! publish random"),
            Directive::PublishRandom(Some(n)) => writeln!(self.out, "! publish random {n}"),
            Directive::PublishClassified(text) => {
                writeln!(self.out, "! publish classified {}", flatten(text))
            }
            Directive::Close => writeln!(self.out, "! close"),
            Directive::ExpectClose => writeln!(self.out, "! expect close"),
            Directive::Quiet(d) => writeln!(self.out, "! quiet {}", humantime::format_duration(*d)),
        }
    }

    /// Any entry (the line number is not written; it follows from the layout).
    pub fn entry(&mut self, e: &Entry) -> io::Result<()> {
        match &e.kind {
            EntryKind::Client(m) => self.message("C:", m),
            EntryKind::Server(m) => self.message("S:", m),
            EntryKind::Directive(d) => self.directive(d),
            EntryKind::Unrecorded => writeln!(self.out, "[...]"),
        }
    }

    fn message(&mut self, prefix: &str, m: &Message) -> io::Result<()> {
        if m.raw.is_empty() {
            writeln!(self.out, "{prefix}")
        } else {
            writeln!(self.out, "{prefix} {}", flatten(&m.raw))
        }
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A message never contains a line break on the wire; if a caller passes one anyway it must
/// not split the transcript line.
fn flatten(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\r', '\n']) {
        s.replace(['\r', '\n'], " ").into()
    } else {
        s.into()
    }
}

/// Renders a whole transcript; `parse(&write(t), ..)` gives back `t`'s front matter and entry
/// kinds (line numbers follow the written layout).
pub fn write(t: &Transcript) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail, and serde_yaml cannot fail on plain strings.
    if let Ok(mut w) = TranscriptWriter::new(&mut out, &t.front) {
        for e in &t.entries {
            let _ = w.entry(e);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
