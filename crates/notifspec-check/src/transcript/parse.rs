//! The transcript parser: a streaming [`Reader`] (front matter first, then one entry at a time,
//! constant memory) and [`parse`] for whole in-memory transcripts, built on it.
//!
//! Every error names `file:line:column`, shows the line with a caret and suggests a fix; no
//! input makes it panic (tested with generated input).

use std::fmt;
use std::io::Read;

use serde::Deserialize;

use super::{Directive, Entry, EntryKind, Expectation, FrontMatter, Message, Segment, Transcript};
use crate::rule::{RuleId, edit_distance};

/// Largest transcript [`parse`] and [`Transcript::from_file`](super::Transcript::from_file) hold
/// in memory; bigger recordings are read with [`Reader`], which has no total limit.
pub const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// How a transcript is read whole: its limit, and its name in errors.
pub const TRANSCRIPT_FILE: crate::fsio::FileKind = crate::fsio::FileKind {
    what: "transcript",
    limit: MAX_FILE_SIZE,
};

/// Longest transcript line (terminator excluded). Protocol lines are at most a dialect's
/// `max_line` (1024 by default); this bound only keeps a garbage file from costing memory.
pub const MAX_LINE_LEN: usize = 1024 * 1024;

/// Largest front matter: a title, a dialect and a few rule IDs fit in far less.
const MAX_FRONT_MATTER: usize = 64 * 1024;

/// The directive names, for "did you mean" suggestions.
const DIRECTIVES: &[&str] = &["publish", "close", "expect close", "quiet"];

/// Why a transcript could not be read, with where and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The file (or the name given to [`parse`]).
    pub origin: String,
    /// 1-based line; 0 when the error is about the file as a whole.
    pub line: usize,
    /// 1-based column in characters; 0 when the error is about the file as a whole.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// The offending line, as shown under the location.
    pub source_line: Option<String>,
    /// A suggested fix.
    pub help: Option<String>,
}

impl std::error::Error for ParseError {}

impl ParseError {
    fn at(origin: &str, line: usize, column: usize, text: &str, message: String) -> Self {
        ParseError {
            origin: origin.to_string(),
            line,
            column: column.max(1),
            message,
            source_line: Some(text.to_string()),
            help: None,
        }
    }

    fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub(crate) fn io(origin: &str, e: &std::io::Error) -> Self {
        ParseError {
            origin: origin.to_string(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
            source_line: None,
            help: None,
        }
    }

    pub(crate) fn too_large(origin: &str, size: u64) -> Self {
        ParseError {
            origin: origin.to_string(),
            line: 0,
            column: 0,
            message: format!(
                "{size} bytes is too large to parse in memory (at most {MAX_FILE_SIZE})"
            ),
            source_line: None,
            help: Some("`notifspec check` streams files of any size".into()),
        }
    }

    /// A transcript file that could not be read (see [`crate::fsio`]).
    pub(crate) fn file(origin: &str, e: &crate::fsio::FileError) -> Self {
        let mut err = ParseError {
            origin: origin.to_string(),
            line: 0,
            column: 0,
            message: format!("cannot read: {}", e.reason()),
            source_line: None,
            help: None,
        };
        if let crate::fsio::FileError::TooLarge { size, .. } = e {
            err = ParseError::too_large(origin, size.unwrap_or(MAX_FILE_SIZE + 1));
            if size.is_none() {
                err.message =
                    format!("more than {MAX_FILE_SIZE} bytes read: too large to parse in memory");
            }
        }
        err
    }

    /// The one-line form `file:line:column: message`, for JSON output and logs.
    pub fn summary(&self) -> String {
        if self.line == 0 {
            format!("{}: {}", self.origin, self.message)
        } else {
            format!(
                "{}:{}:{}: {}",
                self.origin, self.line, self.column, self.message
            )
        }
    }
}

impl fmt::Display for ParseError {
    /// `file:line:column: message`, then the line with a caret under the column, then the help.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())?;
        if let Some(src) = &self.source_line {
            // Show at most a window of the line around the column, control chars made visible.
            const WINDOW: usize = 100;
            let skip = self.column.saturating_sub(WINDOW / 2 + 1);
            let shown: String = src
                .chars()
                .skip(skip)
                .take(WINDOW)
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let lead = if skip > 0 { "..." } else { "" };
            let caret_pad = lead.len() + self.column.saturating_sub(1 + skip);
            write!(f, "\n    {lead}{shown}\n    {}^", " ".repeat(caret_pad))?;
        }
        if let Some(help) = &self.help {
            write!(f, "\nhelp: {help}")?;
        }
        Ok(())
    }
}

/// A transcript body line, borrowed from the reader's buffer (no allocation for plain lines).
#[derive(Debug)]
pub(crate) enum LineKind<'a> {
    /// `C:` with the trimmed message; `plain` means it has no `{` (literal, nothing to unescape).
    Client(&'a str, bool),
    /// `S:` likewise.
    Server(&'a str, bool),
    Directive(Directive),
    Unrecorded,
}

impl LineKind<'_> {
    fn to_entry_kind(&self) -> Result<EntryKind, (usize, String)> {
        Ok(match self {
            LineKind::Client(m, _) => EntryKind::Client(Message::parse(m)?),
            LineKind::Server(m, _) => EntryKind::Server(Message::parse(m)?),
            LineKind::Directive(d) => EntryKind::Directive(d.clone()),
            LineKind::Unrecorded => EntryKind::Unrecorded,
        })
    }
}

/// A [`LineKind`] with its message as a byte range of the line, so it can be returned from a
/// loop that reads into the line's buffer.
enum Detached {
    Client(usize, usize, bool),
    Server(usize, usize, bool),
    Directive(Directive),
    Unrecorded,
}

impl Detached {
    fn new(kind: LineKind<'_>, line: &str) -> Detached {
        let range = |m: &str| {
            let a = message_byte(line, m);
            (a, a + m.len())
        };
        match kind {
            LineKind::Client(m, plain) => {
                let (a, b) = range(m);
                Detached::Client(a, b, plain)
            }
            LineKind::Server(m, plain) => {
                let (a, b) = range(m);
                Detached::Server(a, b, plain)
            }
            LineKind::Directive(d) => Detached::Directive(d),
            LineKind::Unrecorded => Detached::Unrecorded,
        }
    }

    fn attach(self, line: &str) -> LineKind<'_> {
        let slice = |a: usize, b: usize| line.get(a..b).unwrap_or_default();
        match self {
            Detached::Client(a, b, plain) => LineKind::Client(slice(a, b), plain),
            Detached::Server(a, b, plain) => LineKind::Server(slice(a, b), plain),
            Detached::Directive(d) => LineKind::Directive(d),
            Detached::Unrecorded => LineKind::Unrecorded,
        }
    }
}

/// Bytes asked of the input at a time. Large reads keep the per-line cost of reading close to
/// that of scanning for the newline.
const BLOCK: usize = 256 * 1024;

/// The first read: a small transcript (most of them, and every in-memory parse) costs no
/// more than this.
const FIRST_BLOCK: usize = 8 * 1024;

/// The errors inside the reader are boxed: a `ParseError` is large, and the hot loop should
/// move a pointer, not the error's strings, through every `Result`.
type Fallible<T> = Result<T, Box<ParseError>>;

/// What the body read so far says, updated entry by entry.
#[derive(Debug, Default)]
struct Body {
    /// Number of the last physical line read (1-based).
    line_no: usize,
    /// Line of the `[...]` marker, once seen: only comments may follow.
    unrecorded_at: Option<usize>,
    /// The last entry was `! close` or `! expect close`.
    last_ends: bool,
    /// A `! publish` directive has been read.
    saw_publish: bool,
    /// Entries read (lines other than blanks and comments).
    entries: u64,
}

impl Body {
    /// Classifies and validates the body line `text` (line `line_no`): `None` for blank lines
    /// and comments.
    fn entry<'a>(&mut self, origin: &str, text: &'a str) -> Fallible<Option<LineKind<'a>>> {
        let kind = match classify(text) {
            Ok(Some(kind)) => kind,
            Ok(None) => return Ok(None),
            Err((col, msg, help)) => {
                return Err(Box::new(
                    ParseError::at(origin, self.line_no, col, text, msg).help(help),
                ));
            }
        };
        if let Some(at) = self.unrecorded_at {
            let col = first_col(text);
            return Err(Box::new(ParseError::at(
                origin,
                self.line_no,
                col,
                text,
                format!("nothing may follow `[...]` (line {at}): the recording stops there"),
            )
            .help("remove the lines after `[...]`, or split the conversation into two transcripts")));
        }
        match &kind {
            LineKind::Client(m, false) | LineKind::Server(m, false) => {
                if let Err((offset, msg)) = segments(m) {
                    let col = message_col(text, m) + offset + 1;
                    return Err(Box::new(placeholder_error(
                        origin,
                        self.line_no,
                        col,
                        text,
                        msg,
                    )));
                }
            }
            LineKind::Directive(Directive::PublishRandom(_) | Directive::PublishClassified(_)) => {
                self.saw_publish = true
            }
            LineKind::Unrecorded => self.unrecorded_at = Some(self.line_no),
            _ => {}
        }
        self.last_ends = matches!(
            kind,
            LineKind::Directive(Directive::Close | Directive::ExpectClose)
        );
        self.entries += 1;
        Ok(Some(kind))
    }

    /// The error for a line longer than [`MAX_LINE_LEN`] (at `line_no`).
    fn too_long(&self, origin: &str, line_no: usize) -> Box<ParseError> {
        Box::new(ParseError {
            origin: origin.to_string(),
            line: line_no,
            column: 1,
            message: format!("line longer than {MAX_LINE_LEN} bytes"),
            source_line: None,
            help: Some("is this a transcript? each message must be one line".into()),
        })
    }
}

fn placeholder_error(origin: &str, line: usize, col: usize, text: &str, msg: String) -> ParseError {
    ParseError::at(origin, line, col, text, msg)
        .help("the placeholders are `{int}` and `{text}`; write `{{` for a literal `{`")
}

/// Reads a transcript one entry at a time: the front matter when created, then entries on
/// demand, in constant memory (a read-ahead block and, for the entry-by-entry API, the
/// current line). This is how `notifspec check` handles recordings of millions of lines.
///
/// Input is read in large blocks; lines are found with `memchr`, and a block's complete lines
/// are checked for UTF-8 and NUL bytes at once, so the streaming path
/// ([`Reader::feed`](Reader::feed)) costs no allocation and no copy per line.
#[derive(Debug)]
pub struct Reader<R> {
    input: R,
    origin: String,
    /// Read-ahead: bytes `start..end` are read but not consumed. `FIRST_BLOCK`, then `BLOCK`
    /// bytes once the input is larger, grown beyond only to hold a single line of up to
    /// [`MAX_LINE_LEN`] bytes.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// `buf[start..scanned]` has no newline: input arriving in small pieces while a long line
    /// is read is searched once, not again with every piece.
    scanned: usize,
    /// The input has no more bytes.
    eof: bool,
    /// The current line for the entry-by-entry API, validated UTF-8 without NUL bytes,
    /// terminator removed. Its buffer is reused for every line.
    line: String,
    front: FrontMatter,
    /// The first body line was read (into `line`) while looking for front matter and is
    /// still to be handled.
    pending: bool,
    body: Body,
    /// An error was returned; the reader yields nothing more.
    failed: bool,
}

impl<R: Read> Reader<R> {
    /// Starts reading `input` (named `origin` in errors) and reads its front matter. The
    /// reader buffers by itself: wrapping `input` in a `BufReader` only adds a copy.
    pub fn new(input: R, origin: impl Into<String>) -> Result<Self, ParseError> {
        let mut r = Reader {
            input,
            origin: origin.into(),
            buf: vec![0; FIRST_BLOCK],
            start: 0,
            end: 0,
            scanned: 0,
            eof: false,
            line: String::with_capacity(256),
            front: FrontMatter::default(),
            pending: false,
            body: Body::default(),
            failed: false,
        };
        if r.read_line().map_err(|e| *e)? {
            if r.line.trim_end() == "---" {
                r.read_front_matter().map_err(|e| *e)?;
            } else {
                r.pending = true;
            }
        }
        Ok(r)
    }

    /// The front matter (defaults when the file has none).
    pub fn front(&self) -> &FrontMatter {
        &self.front
    }

    /// Whether the entries read so far end the conversation: the last one is `! close` or
    /// `! expect close` and no `[...]` came before the end.
    pub fn is_complete(&self) -> bool {
        self.body.last_ends && self.body.unrecorded_at.is_none()
    }

    /// Whether a `! publish` directive has been read so far: only then does the transcript
    /// say when items appear, which changes how availability can be judged.
    pub fn saw_publish(&self) -> bool {
        self.body.saw_publish
    }

    /// How many entries (`C:`, `S:`, `!` and `[...]` lines) were read so far: a file with none
    /// (empty, or only comments) records no conversation, which `check` refuses rather than
    /// passes.
    pub fn entries(&self) -> u64 {
        self.body.entries
    }

    /// The next entry, `Ok(None)` at the end of the file.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, ParseError> {
        let Some((line, kind)) = self.next_kind()? else {
            return Ok(None);
        };
        match kind.to_entry_kind() {
            Ok(kind) => Ok(Some(Entry { line, kind })),
            // The placeholders were validated already; kept as an error, not a panic.
            Err((col, msg)) => {
                self.failed = true;
                Err(placeholder_error(
                    &self.origin,
                    self.body.line_no,
                    col,
                    &self.line,
                    msg,
                ))
            }
        }
    }

    /// The next entry in borrowed form. Placeholders are validated before it is returned.
    pub(crate) fn next_kind(&mut self) -> Result<Option<(usize, LineKind<'_>)>, ParseError> {
        if self.failed {
            return Ok(None);
        }
        match self.next_detached() {
            Ok(Some(d)) => Ok(Some((self.body.line_no, d.attach(&self.line)))),
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = true;
                Err(*e)
            }
        }
    }

    /// Reads lines up to the next entry, which is in `line`.
    fn next_detached(&mut self) -> Fallible<Option<Detached>> {
        loop {
            if !std::mem::take(&mut self.pending) && !self.read_line()? {
                return Ok(None);
            }
            if let Some(kind) = self.body.entry(&self.origin, &self.line)? {
                return Ok(Some(Detached::new(kind, &self.line)));
            }
        }
    }

    /// Hands every remaining entry, in borrowed form, to `visit` with its line number: the
    /// streaming fast path. Whole blocks of lines are validated at once and entries point
    /// into the read-ahead buffer. Stops at the first error.
    #[cfg(test)]
    pub(crate) fn for_each_kind(
        &mut self,
        visit: impl FnMut(usize, LineKind<'_>),
    ) -> Result<(), ParseError> {
        self.visit(&mut Entries(visit))
    }

    /// [`for_each_kind`](Reader::for_each_kind) for a [`Visit`], which may take the usual
    /// `C:`/`S:` lines whole before they are even split.
    pub(crate) fn visit(&mut self, visit: &mut impl Visit) -> Result<(), ParseError> {
        if self.failed {
            return Ok(());
        }
        let r = self.visit_all(visit);
        if r.is_err() {
            self.failed = true;
        }
        r.map_err(|e| *e)
    }

    fn visit_all(&mut self, visit: &mut impl Visit) -> Fallible<()> {
        if std::mem::take(&mut self.pending)
            && let Some(kind) = self.body.entry(&self.origin, &self.line)?
        {
            visit.entry(self.body.line_no, kind);
        }
        loop {
            let from = self.scanned.max(self.start);
            let Some(last) = memchr::memrchr(b'\n', &self.buf[from..self.end]) else {
                self.scanned = self.end;
                if self.eof {
                    // A last line without a newline, or nothing: the line-by-line path.
                    if !self.read_line()? {
                        return Ok(());
                    }
                    if let Some(kind) = self.body.entry(&self.origin, &self.line)? {
                        visit.entry(self.body.line_no, kind);
                    }
                } else {
                    self.fill()?;
                }
                continue;
            };
            let block = clean_lines(&self.buf[self.start..=from + last]);
            if block.is_empty() {
                // The first line is not valid text: the line-by-line path says where.
                if self.read_line()?
                    && let Some(kind) = self.body.entry(&self.origin, &self.line)?
                {
                    visit.entry(self.body.line_no, kind);
                }
                continue;
            }
            visit_block(&mut self.body, &self.origin, block, visit)?;
            self.start += block.len();
            self.scanned = self.start;
        }
    }

    /// Moves what is left of the buffer to its front and reads more input, growing the
    /// buffer only when it holds a single incomplete line.
    fn fill(&mut self) -> Fallible<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scanned = self.scanned.saturating_sub(self.start);
            self.start = 0;
        }
        if self.buf.len() < BLOCK && self.end * 2 > self.buf.len() {
            // More than a small transcript: read in full blocks from now on.
            self.buf.resize(BLOCK, 0);
        } else if self.end == self.buf.len() {
            if self.end > MAX_LINE_LEN + 1 {
                return Err(self.body.too_long(&self.origin, self.body.line_no + 1));
            }
            let grown = (self.buf.len() * 2).min(MAX_LINE_LEN + 2);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let mut err = ParseError::io(&self.origin, &e);
                    err.line = self.body.line_no + 1;
                    err.column = 1;
                    return Err(Box::new(err));
                }
            }
            return Ok(());
        }
    }

    /// The byte range of the next physical line in `buf` (terminator removed), reading as
    /// needed; `None` at end of file.
    fn next_line_range(&mut self) -> Fallible<Option<(usize, usize)>> {
        loop {
            let from = self.scanned.max(self.start);
            if let Some(i) = memchr::memchr(b'\n', &self.buf[from..self.end]) {
                let (a, mut b) = (self.start, from + i);
                self.start = b + 1;
                self.scanned = self.start;
                if b > a && self.buf[b - 1] == b'\r' {
                    b -= 1;
                }
                return Ok(Some((a, b)));
            }
            self.scanned = self.end;
            if self.eof {
                if self.start == self.end {
                    return Ok(None);
                }
                let range = (self.start, self.end);
                self.start = self.end;
                return Ok(Some(range));
            }
            self.fill()?;
        }
    }

    /// Reads the next physical line into `line` (terminator removed, UTF-8 and NUL-free
    /// checked); `false` at end of file. The line's buffer is reused, so reading costs no
    /// allocation once the longest line has been seen.
    fn read_line(&mut self) -> Fallible<bool> {
        let Some((a, b)) = self.next_line_range()? else {
            return Ok(false);
        };
        self.body.line_no += 1;
        let line_no = self.body.line_no;
        let mut bytes = &self.buf[a..b];
        // A UTF-8 byte order mark (some editors add one) is not part of the first line.
        if line_no == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        if bytes.len() > MAX_LINE_LEN {
            return Err(self.body.too_long(&self.origin, line_no));
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                let valid = e.valid_up_to();
                let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
                let col = prefix.chars().count() + 1;
                return Err(Box::new(
                    ParseError::at(
                        &self.origin,
                        line_no,
                        col,
                        prefix,
                        "invalid UTF-8: a transcript is UTF-8 text".into(),
                    )
                    .help("is this a binary file? convert the recording to UTF-8"),
                ));
            }
        };
        refuse_byte(
            &self.origin,
            line_no,
            text,
            0,
            "NUL byte: a transcript is text",
            "is this a binary file? remove the NUL bytes",
        )?;
        // The terminator is gone, so a CR left is a lone one. It cannot be written back (the
        // writer turns it into a space, and a CR at the end or edge of a message would be
        // taken for formatting), so a transcript holding one could not round-trip: refused.
        refuse_byte(
            &self.origin,
            line_no,
            text,
            b'\r',
            "carriage return inside a line: transcript lines end with LF or CRLF",
            "remove the stray CR (a recorder writes it as a space); if the file uses CR line endings, convert them to LF",
        )?;
        self.line.clear();
        self.line.push_str(text);
        Ok(true)
    }

    fn read_front_matter(&mut self) -> Fallible<()> {
        let start = self.body.line_no;
        let mut yaml = String::new();
        loop {
            if !self.read_line()? {
                return Err(Box::new(
                    ParseError::at(
                        &self.origin,
                        start,
                        1,
                        "---",
                        "the front matter opened here is never closed".into(),
                    )
                    .help("end the front matter with a line `---`"),
                ));
            }
            let text = self.line.as_str();
            if text.trim_end() == "---" {
                break;
            }
            yaml.push_str(text);
            yaml.push('\n');
            if yaml.len() > MAX_FRONT_MATTER {
                return Err(Box::new(
                    ParseError::at(
                        &self.origin,
                        self.body.line_no,
                        1,
                        text,
                        format!("front matter longer than {MAX_FRONT_MATTER} bytes"),
                    )
                    .help("is the closing `---` missing?"),
                ));
            }
        }
        self.front = front_matter(&yaml, start + 1, &self.origin)?;
        Ok(())
    }
}

/// The longest prefix of `block` (whole lines, each ending with `\n`) that is valid UTF-8
/// without NUL bytes, as text; empty when the first line is not.
fn clean_lines(block: &[u8]) -> &str {
    let text = match std::str::from_utf8(block) {
        Ok(s) => s,
        Err(e) => {
            let valid = &block[..e.valid_up_to()];
            let cut = memchr::memrchr(b'\n', valid).map_or(0, |i| i + 1);
            std::str::from_utf8(&block[..cut]).unwrap_or_default()
        }
    };
    match memchr::memchr(0, text.as_bytes()) {
        None => text,
        Some(i) => {
            let cut = memchr::memrchr(b'\n', &text.as_bytes()[..i]).map_or(0, |j| j + 1);
            text.get(..cut).unwrap_or_default()
        }
    }
}

/// What the streaming reader hands entries to.
pub(crate) trait Visit {
    /// Offered every `C: `/`S: ` line before it is split (`client` says which; `rest` is the
    /// rest of the block after the prefix, and `line` the line's number): returns the
    /// message's length when the visitor recognized it as a whole line by itself (the byte
    /// after it must be the line's `\n`) and took it as the entry
    /// `LineKind::Client(message, true)` (or `Server`). The message is only ever a plain,
    /// trimmed spelling, so this is the entry [`Reader::for_each_kind`] would give.
    #[inline]
    fn whole_line(&mut self, client: bool, rest: &str, line: usize) -> Option<usize> {
        let _ = (client, rest, line);
        None
    }

    /// Takes the next entry, `line` being its line number.
    fn entry(&mut self, line: usize, kind: LineKind<'_>);
}

/// A closure as a [`Visit`] that recognizes nothing by itself.
#[cfg(test)]
struct Entries<F>(F);

#[cfg(test)]
impl<F: FnMut(usize, LineKind<'_>)> Visit for Entries<F> {
    fn entry(&mut self, line: usize, kind: LineKind<'_>) {
        (self.0)(line, kind)
    }
}

/// Hands the entries of `block` (whole lines, valid UTF-8 without NUL bytes) to `visit`.
#[inline]
fn visit_block(body: &mut Body, origin: &str, block: &str, visit: &mut impl Visit) -> Fallible<()> {
    let bytes = block.as_bytes();
    // Where the next `{` is: a line before it is plain text, so the block is searched
    // for `{` a few times instead of every line once.
    let mut brace = memchr::memchr(b'{', bytes).unwrap_or(bytes.len());
    let mut from = 0;
    while from < bytes.len() {
        // The usual line, `C: ` or `S: ` and a message the visitor knows, taken whole.
        if body.unrecorded_at.is_none()
            && let Some(&[party @ (b'C' | b'S'), b':', b' ']) = bytes.get(from..from + 3)
            && let Some(rest) = block.get(from + 3..)
            && let Some(len) = visit.whole_line(party == b'C', rest, body.line_no + 1)
        {
            body.line_no += 1;
            body.last_ends = false;
            body.entries += 1;
            from += 3 + len + 1;
            continue;
        }
        let Some(nl) = next_newline(bytes, from) else {
            break;
        };
        let mut text = &block[from..nl];
        body.line_no += 1;
        if let Some(t) = text.strip_suffix('\r') {
            text = t;
        }
        if text.len() > MAX_LINE_LEN {
            return Err(body.too_long(origin, body.line_no));
        }
        if brace < from {
            brace = memchr::memchr(b'{', &bytes[from..]).map_or(bytes.len(), |i| from + i);
        }
        match quick_message(text) {
            // Nothing after `[...]` may be a message: the full path says so.
            Some(kind) if brace >= nl && body.unrecorded_at.is_none() => {
                body.last_ends = false;
                body.entries += 1;
                visit.entry(body.line_no, kind);
            }
            _ => {
                if let Some(kind) = body.entry(origin, text)? {
                    visit.entry(body.line_no, kind);
                }
            }
        }
        from = nl + 1;
    }
    Ok(())
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Entry, ParseError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry().transpose()
    }
}

/// Parses a whole transcript held in memory (`origin` names it in errors). CRLF and LF line
/// endings parse the same.
pub fn parse(text: &str, origin: &str) -> Result<Transcript, ParseError> {
    parse_bytes(text.as_bytes(), origin)
}

pub(crate) fn parse_bytes(bytes: &[u8], origin: &str) -> Result<Transcript, ParseError> {
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(ParseError::too_large(origin, bytes.len() as u64));
    }
    let mut reader = Reader::new(bytes, origin)?;
    let mut entries = Vec::new();
    while let Some(e) = reader.next_entry()? {
        entries.push(e);
    }
    Ok(Transcript {
        path: None,
        front: reader.front,
        entries,
    })
}

/// 1-based column of the first non-whitespace char.
fn first_col(text: &str) -> usize {
    text.chars().take_while(|c| c.is_whitespace()).count() + 1
}

/// Byte offset of `inner` (a subslice of `text`) within `text`.
fn message_byte(text: &str, inner: &str) -> usize {
    (inner.as_ptr() as usize).saturating_sub(text.as_ptr() as usize)
}

/// `str::trim`, with a fast path for the usual ASCII-only edges.
fn trim(s: &str) -> &str {
    let t = s.trim_ascii();
    let b = t.as_bytes();
    // U+000B is whitespace to `str::trim` but not to `trim_ascii`.
    let odd = |c: &u8| !c.is_ascii() || *c == 0x0b;
    if b.first().is_some_and(odd) || b.last().is_some_and(odd) {
        t.trim()
    } else {
        t
    }
}

/// 0-based char offset of `inner` (a subslice of `text`) within `text`.
fn message_col(text: &str, inner: &str) -> usize {
    let byte = (inner.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    text.get(..byte).map_or(0, |p| p.chars().count())
}

type ClassifyError = (usize, String, String);

/// What a body line is: `None` for blank lines and comments.
fn classify(text: &str) -> Result<Option<LineKind<'_>>, ClassifyError> {
    let t = trim(text);
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    if t == "[...]" {
        return Ok(Some(LineKind::Unrecorded));
    }
    if let Some(rest) = t.strip_prefix("C:") {
        let m = trim(rest);
        return Ok(Some(LineKind::Client(m, is_plain(m))));
    }
    if let Some(rest) = t.strip_prefix("S:") {
        let m = trim(rest);
        return Ok(Some(LineKind::Server(m, is_plain(m))));
    }
    let col = first_col(text);
    if let Some(rest) = t.strip_prefix('!') {
        return directive(rest.trim())
            .map(|d| Some(LineKind::Directive(d)))
            .map_err(|(msg, help)| (col, msg, help));
    }
    let lower = t.get(..2).map(str::to_ascii_uppercase);
    let help = match lower.as_deref() {
        Some("C:") | Some("S:") => format!(
            "prefixes are case-sensitive: write `{}`",
            lower.unwrap_or_default()
        ),
        _ if t.starts_with("[") => "write `[...]` exactly to mark an unrecorded continuation".into(),
        _ => "a line starts with `C:` (client) or `S:` (server), `#` for a comment or `!` for a directive".into(),
    };
    let shown: String = t.chars().take(40).collect();
    Err((col, format!("unrecognized line `{shown}`"), help))
}

/// Parses the text after `!`.
fn directive(d: &str) -> Result<Directive, (String, String)> {
    let (word, rest) = d.split_once(char::is_whitespace).unwrap_or((d, ""));
    let rest = rest.trim();
    let no_arg = |name: &str, dir: Directive| {
        if rest.is_empty() {
            Ok(dir)
        } else {
            Err((
                format!("`! {name}` takes no argument, found `{rest}`"),
                format!("write `! {name}` alone"),
            ))
        }
    };
    match word {
        "publish" => {
            let (kind, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let arg = arg.trim();
            match kind {
                "random" if arg.is_empty() => Ok(Directive::PublishRandom(None)),
                "random" if arg.bytes().all(|b| b.is_ascii_digit()) => {
                    Ok(Directive::PublishRandom(Some(arg.to_string())))
                }
                "random" => Err((
                    format!("`! publish random` takes an optional decimal integer, found `{arg}`"),
                    "write `! publish random` or `! publish random 42`".into(),
                )),
                "classified" if !arg.is_empty() => {
                    Ok(Directive::PublishClassified(arg.to_string()))
                }
                "classified" => Err((
                    "`! publish classified` needs the ad's text".into(),
                    "write `! publish classified Nice appart in the 11e.`".into(),
                )),
                other => Err((
                    format!(
                        "cannot publish `{other}`: the item kinds are `random` and `classified`"
                    ),
                    "write `! publish random [N]` or `! publish classified <text>`".into(),
                )),
            }
        }
        "close" => no_arg("close", Directive::Close),
        "expect" if rest == "close" => Ok(Directive::ExpectClose),
        "quiet" => humantime::parse_duration(rest)
            .map(Directive::Quiet)
            .map_err(|e| {
                (
                    format!("`! quiet` needs a duration, found `{rest}` ({e})"),
                    "write e.g. `! quiet 2s` or `! quiet 500ms`".into(),
                )
            }),
        _ => {
            let given = if word == "expect" { d } else { word };
            let nearest = DIRECTIVES
                .iter()
                .map(|k| (edit_distance(k, given), *k))
                .min()
                .filter(|(dist, _)| *dist <= 3)
                .map(|(_, k)| k);
            let shown: String = given.chars().take(40).collect();
            let help = match nearest {
                Some(k) => format!("did you mean `! {k}`?"),
                None => "the directives are `! publish random [N]`, `! publish classified <text>`, `! close`, `! expect close` and `! quiet <duration>`".into(),
            };
            Err((format!("unknown directive `! {shown}`"), help))
        }
    }
}

/// Splits a message into literals and placeholders. The error is the 0-based char offset
/// (within `raw`) of the bad `{` and the reason.
pub(crate) fn segments(raw: &str) -> Result<Vec<Segment>, (usize, String)> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = raw;
    let mut offset = 0; // chars consumed so far
    while let Some(i) = rest.find('{') {
        lit.push_str(&rest[..i]);
        offset += rest[..i].chars().count();
        let tail = &rest[i..];
        let (seg, len) = if tail.starts_with("{{") {
            (None, 2)
        } else if tail.starts_with("{int}") {
            (Some(Segment::Int), 5)
        } else if tail.starts_with("{text}") {
            (Some(Segment::Text), 6)
        } else {
            let name: String = tail.chars().take_while(|c| *c != '}').take(20).collect();
            return Err((offset, format!("unknown placeholder `{name}}}`")));
        };
        match seg {
            None => lit.push('{'),
            Some(s) => {
                if !lit.is_empty() {
                    out.push(Segment::Literal(std::mem::take(&mut lit)));
                }
                out.push(s);
            }
        }
        offset += len;
        rest = &tail[len..];
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        out.push(Segment::Literal(lit));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFront {
    title: Option<String>,
    dialect: Option<String>,
    expect: Option<RawExpect>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawExpect {
    One(String),
    Many(Vec<String>),
}

const FRONT_KEYS: &[&str] = &["title", "dialect", "expect"];

/// Parses the YAML between the `---` lines; `first_line` is the file line of its first line.
fn front_matter(yaml: &str, first_line: usize, origin: &str) -> Result<FrontMatter, ParseError> {
    if yaml.trim().is_empty() {
        return Ok(FrontMatter::default());
    }
    let line_text = |n: usize| yaml.lines().nth(n).unwrap_or_default().to_string();
    if let Some((l, c)) = crate::yaml::too_deep(yaml, crate::yaml::MAX_DEPTH) {
        return Err(ParseError::at(
            origin,
            first_line + l - 1,
            c,
            &line_text(l - 1),
            format!("front matter: {}", crate::yaml::too_deep_message()),
        ));
    }
    let raw: RawFront = serde_yaml::from_str(yaml).map_err(|e| {
        let (l, c) = e
            .location()
            .map(|l| (l.line().max(1), l.column().max(1)))
            .unwrap_or((1, 1));
        let mut msg = e.to_string();
        if let Some(i) = msg.find(" at line ") {
            msg.truncate(i);
        }
        let help = match msg.split('`').nth(1) {
            Some(key) if msg.starts_with("unknown field") => {
                let near = FRONT_KEYS
                    .iter()
                    .map(|k| (edit_distance(k, key), *k))
                    .min()
                    .filter(|(d, _)| *d <= 2);
                match near {
                    Some((_, k)) => format!("did you mean `{k}`?"),
                    None => "the front matter keys are `title`, `dialect` and `expect`".into(),
                }
            }
            _ => "the front matter is YAML: `title: ...`, `dialect: ...`, `expect: pass` or `expect: [RULE-ID, ...]`".into(),
        };
        ParseError::at(
            origin,
            first_line + l - 1,
            c,
            &line_text(l - 1),
            format!("front matter: {msg}"),
        )
        .help(help)
    })?;
    let ids = match raw.expect {
        None => Vec::new(),
        Some(RawExpect::One(s)) if s.trim() == "pass" => Vec::new(),
        Some(RawExpect::One(s)) => vec![s],
        Some(RawExpect::Many(v)) => v,
    };
    let mut rules = Vec::new();
    for id in ids {
        let rule: RuleId = id.parse().map_err(|e: crate::rule::UnknownRule| {
            let (l, c) = yaml
                .lines()
                .enumerate()
                .find_map(|(n, t)| t.find(id.as_str()).map(|i| (n, t[..i].chars().count() + 1)))
                .unwrap_or((0, 1));
            let help = match e.suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => {
                    "the rule IDs are listed in docs/protocol.md (e.g. `S-NOTIF-WINDOW`)".into()
                }
            };
            ParseError::at(
                origin,
                first_line + l,
                c,
                &line_text(l),
                format!("front matter: unknown rule ID `{id}` in `expect`"),
            )
            .help(help)
        })?;
        if !rules.contains(&rule) {
            rules.push(rule);
        }
    }
    rules.sort();
    Ok(FrontMatter {
        title: raw.title,
        dialect: raw.dialect,
        expect: if rules.is_empty() {
            Expectation::Pass
        } else {
            Expectation::Violates(rules)
        },
    })
}

/// The index of the first `\n` in `bytes` at or after `from`. Transcript lines are short,
/// so the first 16 bytes are searched a word at a time before the vectorized search, whose
/// set-up costs more than such a line.
#[inline]
fn next_newline(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    const NEWLINES: u64 = u64::from_le_bytes([b'\n'; 8]);
    let mut i = from;
    for _ in 0..2 {
        let Some(word) = bytes
            .get(i..i + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
        else {
            break;
        };
        let x = u64::from_le_bytes(word) ^ NEWLINES;
        // The lowest byte of `x` that is zero sets its high bit here (higher ones may be
        // spurious, the lowest never is).
        let zero = x.wrapping_sub(ONES) & !x & HIGHS;
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    memchr::memchr(b'\n', bytes.get(i..)?).map(|j| i + j)
}

/// The common line, `C: text` or `S: text` at the start of the line, recognized without the
/// general classifier (which returns large error values). The caller has checked that the
/// line has no `{`; then this is the same result as [`classify`] for these lines, `None` for
/// every other line.
#[inline]
fn quick_message(text: &str) -> Option<LineKind<'_>> {
    let client = match text.as_bytes() {
        [b'C', b':', ..] => true,
        [b'S', b':', ..] => false,
        _ => return None,
    };
    let m = match text.as_bytes() {
        // The usual `C: text`: one space, then text that needs no trimming.
        [_, _, b' ', first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => {
            text.get(3..)?
        }
        _ => trim(text.get(2..)?),
    };
    Some(if client {
        LineKind::Client(m, true)
    } else {
        LineKind::Server(m, true)
    })
}

/// Whether a message has no `{`: a literal, with no placeholder to parse and nothing to
/// unescape. A plain loop: messages are short, and a vectorized search costs more to set up.
fn is_plain(m: &str) -> bool {
    !m.bytes().any(|b| b == b'{')
}

/// Refuses a line holding `byte`, pointing at its first occurrence.
fn refuse_byte(
    origin: &str,
    line_no: usize,
    text: &str,
    byte: u8,
    message: &str,
    help: &'static str,
) -> Fallible<()> {
    match memchr::memchr(byte, text.as_bytes()) {
        None => Ok(()),
        Some(i) => {
            let col = text.get(..i).unwrap_or_default().chars().count() + 1;
            Err(Box::new(
                ParseError::at(origin, line_no, col, text, message.into()).help(help),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_newline_finds_the_first_newline() {
        let mut bytes = vec![b'x'; 64];
        for pos in 0..64 {
            for from in 0..=pos {
                bytes[pos] = b'\n';
                assert_eq!(next_newline(&bytes, from), Some(pos), "{pos} {from}");
                // Bytes that differ from `\n` by one bit or by a borrow are not newlines.
                bytes[pos] = if pos % 2 == 0 { 0x0b } else { 0x8a };
                assert_eq!(next_newline(&bytes, from), None, "{pos} {from}");
            }
        }
        assert_eq!(next_newline(b"a\nb\n", 2), Some(3));
        assert_eq!(next_newline(b"ab", 5), None);
        assert_eq!(next_newline(b"\x0a\x0a", 0), Some(0));
    }

    /// The shortcut for plain `C:`/`S:` lines gives what the general classifier gives.
    #[test]
    fn quick_message_agrees_with_classify() {
        let lines = [
            "C: random?",
            "S: 456902234",
            "C:OK",
            "S:",
            "S: ",
            "C:  spaced  ",
            "C: \u{b}x",
            "C: x\u{b}",
            "C: \u{1}x\u{1}",
            "S: é",
            "S: Nice appart in the 11e. \u{a0}",
            "C:\tOK\r",
            "C: a b",
            "C: ab",
            "c: no",
            " C: indented",
            "# C: comment",
            "",
        ];
        for line in lines {
            let quick = quick_message(line).map(|k| format!("{k:?}"));
            let full = classify(line).ok().flatten().map(|k| format!("{k:?}"));
            match quick {
                Some(q) => assert_eq!(Some(q), full, "{line:?}"),
                None => assert!(
                    !matches!(line.as_bytes(), [b'C' | b'S', b':', ..]),
                    "{line:?}"
                ),
            }
        }
    }
}
