//! The conformance checker: the oracle every other part of notifspec is judged by.
//!
//! SKELETON (to be replaced by the checker work): the public API below is the contract the
//! rest of the crate codes against.
//!
//! Independence rule: this module imports only `crate::dialect`, `crate::rule` and
//! `crate::transcript` — never the reference peers, the wire framing or the simulator.

use std::time::Duration;

use crate::dialect::{Dialect, ItemKind};
pub use crate::rule::{Party, RuleId};

/// How a line observed on the wire was terminated. `Unknown` for transcripts, which do not
/// record terminators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminator {
    /// `\n`.
    Lf,
    /// `\r\n`.
    CrLf,
    /// The stream ended before a terminator.
    Missing,
    /// Not recorded.
    Unknown,
}

/// What happened in a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A complete line from one party (text without terminator; invalid UTF-8 replaced).
    Line {
        /// Who sent it.
        from: Party,
        /// Its content.
        text: String,
        /// How it ended.
        terminator: Terminator,
    },
    /// A line longer than the dialect's limit (its content is not kept).
    Oversized {
        /// Who sent it.
        from: Party,
    },
    /// One party closed its side (or the connection dropped).
    Closed {
        /// Who closed.
        by: Party,
    },
    /// An item of this kind was published (control port, `! publish`, in-process API).
    Published {
        /// What was published.
        kind: ItemKind,
    },
    /// Nothing arrived from either party for this long (`! quiet`, or a live timer).
    Quiet {
        /// How long.
        duration: Duration,
    },
}

/// One event, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Time since the conversation started, when known.
    pub at: Option<Duration>,
    /// Transcript line number (1-based), when the event comes from a file.
    pub source_line: Option<usize>,
    /// What happened.
    pub kind: EventKind,
}

/// A broken rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// Which rule.
    pub rule: RuleId,
    /// Transcript line of the offending event, when there is one.
    pub line: Option<usize>,
    /// A sentence a user understands, naming the offending line.
    pub message: String,
}

/// The checker for one conversation.
#[derive(Debug)]
pub struct Checker {
    #[allow(dead_code)]
    dialect: Dialect,
}

impl Checker {
    /// A checker for a conversation in `dialect`.
    pub fn new(dialect: Dialect) -> Self {
        Checker { dialect }
    }

    /// Feeds one event; returns the violations it reveals.
    pub fn feed(&mut self, _event: &Event) -> Vec<Violation> {
        Vec::new()
    }

    /// Ends the conversation. `complete` says the conversation was recorded to its end, so
    /// what is left hanging (an unanswered request or notification) is a violation.
    pub fn finish(&mut self, _complete: bool) -> Vec<Violation> {
        Vec::new()
    }
}
