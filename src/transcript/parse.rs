//! The transcript parser: a streaming [`Reader`] (front matter first, then one entry at a time,
//! constant memory) and [`parse`] for whole in-memory transcripts, built on it.
//!
//! Every error names `file:line:column`, shows the line with a caret and suggests a fix; no
//! input makes it panic (tested with generated input).

use std::fmt;
use std::io::{BufRead, Read};

use serde::Deserialize;

use super::{Directive, Entry, EntryKind, Expectation, FrontMatter, Message, Segment, Transcript};
use crate::rule::{RuleId, edit_distance};

/// Largest transcript [`parse`] and [`Transcript::from_file`](super::Transcript::from_file) hold
/// in memory; bigger recordings are read with [`Reader`], which has no total limit.
pub const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

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

/// Where the current entry's message lies in the current line (byte range), or what the
/// entry is when it carries no text: kept so each line is classified only once.
#[derive(Debug, Clone)]
enum Current {
    Client(usize, usize, bool),
    Server(usize, usize, bool),
    Directive(Directive),
    Unrecorded,
}

/// Reads a transcript one entry at a time: the front matter when created, then entries on
/// demand, holding only the current line. This is how `notifspec check` handles recordings of
/// millions of lines.
#[derive(Debug)]
pub struct Reader<R> {
    input: R,
    origin: String,
    /// The current line, validated UTF-8 without NUL bytes, terminator removed. Its buffer is
    /// reused for every line.
    line: String,
    line_no: usize,
    front: FrontMatter,
    /// The first body line was read while looking for front matter and is still to be handled.
    pending: bool,
    /// The current entry, once classified.
    current: Option<Current>,
    /// Line of the `[...]` marker, once seen: only comments may follow.
    unrecorded_at: Option<usize>,
    /// The last entry was `! close` or `! expect close`.
    last_ends: bool,
    /// A `! publish` directive has been read.
    saw_publish: bool,
    /// An error was returned; the reader yields nothing more.
    failed: bool,
}

impl<R: BufRead> Reader<R> {
    /// Starts reading `input` (named `origin` in errors) and reads its front matter.
    pub fn new(input: R, origin: impl Into<String>) -> Result<Self, ParseError> {
        let mut r = Reader {
            input,
            origin: origin.into(),
            line: String::with_capacity(256),
            line_no: 0,
            front: FrontMatter::default(),
            pending: false,
            current: None,
            unrecorded_at: None,
            last_ends: false,
            saw_publish: false,
            failed: false,
        };
        if r.read_line()? {
            if r.line.trim_end() == "---" {
                r.read_front_matter()?;
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
        self.last_ends && self.unrecorded_at.is_none()
    }

    /// Whether a `! publish` directive has been read so far: only then does the transcript
    /// say when items appear, which changes how availability can be judged.
    pub fn saw_publish(&self) -> bool {
        self.saw_publish
    }

    /// The next entry, `Ok(None)` at the end of the file.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, ParseError> {
        let Some((line, kind)) = self.next_kind()? else {
            return Ok(None);
        };
        match kind.to_entry_kind() {
            Ok(kind) => Ok(Some(Entry { line, kind })),
            // `advance` validated the placeholders already; kept as an error, not a panic.
            Err((col, msg)) => {
                self.failed = true;
                Err(self.placeholder_error(col, msg))
            }
        }
    }

    /// The next entry in borrowed form (the streaming checker's fast path). Placeholders are
    /// validated before it is returned.
    pub(crate) fn next_kind(&mut self) -> Result<Option<(usize, LineKind<'_>)>, ParseError> {
        if self.failed {
            return Ok(None);
        }
        match self.advance() {
            Err(e) => {
                self.failed = true;
                Err(e)
            }
            Ok(false) => Ok(None),
            Ok(true) => {
                let text = self.line.as_str();
                let slice = |a: usize, b: usize| text.get(a..b).unwrap_or_default();
                let kind = match self.current.take() {
                    Some(Current::Client(a, b, plain)) => LineKind::Client(slice(a, b), plain),
                    Some(Current::Server(a, b, plain)) => LineKind::Server(slice(a, b), plain),
                    Some(Current::Directive(d)) => LineKind::Directive(d),
                    Some(Current::Unrecorded) | None => LineKind::Unrecorded,
                };
                Ok(Some((self.line_no, kind)))
            }
        }
    }

    /// Moves to the next entry line, validating and classifying it; `false` at end of file.
    fn advance(&mut self) -> Result<bool, ParseError> {
        loop {
            if self.pending {
                self.pending = false;
            } else if !self.read_line()? {
                return Ok(false);
            }
            let text = self.line.as_str();
            let classified = classify(text).map_err(|(col, msg, help)| {
                ParseError::at(&self.origin, self.line_no, col, text, msg).help(help)
            })?;
            let Some(kind) = classified else { continue };
            if let Some(at) = self.unrecorded_at {
                let col = first_col(text);
                return Err(ParseError::at(
                    &self.origin,
                    self.line_no,
                    col,
                    text,
                    format!("nothing may follow `[...]` (line {at}): the recording stops there"),
                )
                .help("remove the lines after `[...]`, or split the conversation into two transcripts"));
            }
            let range = |m: &str| {
                let a = message_byte(text, m);
                (a, a + m.len())
            };
            let current = match kind {
                LineKind::Client(m, plain) | LineKind::Server(m, plain) => {
                    if !plain && let Err(e) = segments(m) {
                        let col = message_col(text, m) + e.0 + 1;
                        return Err(self.placeholder_error(col, e.1));
                    }
                    let (a, b) = range(m);
                    if matches!(kind, LineKind::Client(..)) {
                        Current::Client(a, b, plain)
                    } else {
                        Current::Server(a, b, plain)
                    }
                }
                LineKind::Directive(d) => Current::Directive(d),
                LineKind::Unrecorded => Current::Unrecorded,
            };
            self.last_ends = matches!(
                current,
                Current::Directive(Directive::Close | Directive::ExpectClose)
            );
            match current {
                Current::Unrecorded => self.unrecorded_at = Some(self.line_no),
                Current::Directive(
                    Directive::PublishRandom(_) | Directive::PublishClassified(_),
                ) => self.saw_publish = true,
                _ => {}
            }
            self.current = Some(current);
            return Ok(true);
        }
    }

    fn placeholder_error(&self, col: usize, msg: String) -> ParseError {
        ParseError::at(&self.origin, self.line_no, col, &self.line, msg)
            .help("the placeholders are `{int}` and `{text}`; write `{{` for a literal `{`")
    }

    /// Reads the next physical line into `line` (terminator removed, UTF-8 and NUL-free
    /// checked); `false` at end of file. The line's buffer is reused, so reading costs no
    /// allocation once the longest line has been seen.
    fn read_line(&mut self) -> Result<bool, ParseError> {
        let mut buf = std::mem::take(&mut self.line).into_bytes();
        buf.clear();
        let limit = (MAX_LINE_LEN + 2) as u64;
        let n = (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut buf)
            .map_err(|e| {
                let mut err = ParseError::io(&self.origin, &e);
                err.line = self.line_no + 1;
                err.column = 1;
                err
            })?;
        if n == 0 {
            return Ok(false);
        }
        self.line_no += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        // A UTF-8 byte order mark (some editors add one) is not part of the first line.
        if self.line_no == 1 && buf.starts_with(b"\xEF\xBB\xBF") {
            buf.drain(..3);
        }
        if buf.len() > MAX_LINE_LEN {
            return Err(ParseError {
                origin: self.origin.clone(),
                line: self.line_no,
                column: 1,
                message: format!("line longer than {MAX_LINE_LEN} bytes"),
                source_line: None,
                help: Some("is this a transcript? each message must be one line".into()),
            });
        }
        let text = match String::from_utf8(buf) {
            Ok(s) => s,
            Err(e) => {
                let bytes = e.as_bytes();
                let valid = e.utf8_error().valid_up_to();
                let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
                let col = prefix.chars().count() + 1;
                return Err(ParseError::at(
                    &self.origin,
                    self.line_no,
                    col,
                    prefix,
                    "invalid UTF-8: a transcript is UTF-8 text".into(),
                )
                .help("is this a binary file? convert the recording to UTF-8"));
            }
        };
        if text.as_bytes().contains(&0) {
            let i = text.find('\0').unwrap_or_default();
            let col = text[..i].chars().count() + 1;
            return Err(ParseError::at(
                &self.origin,
                self.line_no,
                col,
                &text,
                "NUL byte: a transcript is text".into(),
            )
            .help("is this a binary file? remove the NUL bytes"));
        }
        // The terminator is gone, so a CR left is a lone one. It cannot be written back (the
        // writer turns it into a space, and a CR at the end or edge of a message would be
        // taken for formatting), so a transcript holding one could not round-trip: refused.
        if let Some(i) = text.find('\r') {
            let col = text[..i].chars().count() + 1;
            return Err(ParseError::at(
                &self.origin,
                self.line_no,
                col,
                &text,
                "carriage return inside a line: transcript lines end with LF or CRLF".into(),
            )
            .help("remove the stray CR (a recorder writes it as a space); if the file uses CR line endings, convert them to LF"));
        }
        self.line = text;
        Ok(true)
    }

    fn read_front_matter(&mut self) -> Result<(), ParseError> {
        let start = self.line_no;
        let mut yaml = String::new();
        loop {
            if !self.read_line()? {
                return Err(ParseError::at(
                    &self.origin,
                    start,
                    1,
                    "---",
                    "the front matter opened here is never closed".into(),
                )
                .help("end the front matter with a line `---`"));
            }
            let text = self.line.as_str();
            if text.trim_end() == "---" {
                break;
            }
            yaml.push_str(text);
            yaml.push('\n');
            if yaml.len() > MAX_FRONT_MATTER {
                return Err(ParseError::at(
                    &self.origin,
                    self.line_no,
                    1,
                    text,
                    format!("front matter longer than {MAX_FRONT_MATTER} bytes"),
                )
                .help("is the closing `---` missing?"));
            }
        }
        self.front = front_matter(&yaml, start + 1, &self.origin)?;
        Ok(())
    }
}

impl<R: BufRead> Iterator for Reader<R> {
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
        return Ok(Some(LineKind::Client(m, !m.as_bytes().contains(&b'{'))));
    }
    if let Some(rest) = t.strip_prefix("S:") {
        let m = trim(rest);
        return Ok(Some(LineKind::Server(m, !m.as_bytes().contains(&b'{'))));
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
