//! Transcripts: conversations in the seed's `C:`/`S:` format, with front matter, comments,
//! placeholders and replay directives.
//!
//! SKELETON (to be completed by the transcript work): the model types below are the contract
//! the checker, replay and the simulator code against.

use std::path::PathBuf;
use std::time::Duration;

use crate::rule::RuleId;

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
