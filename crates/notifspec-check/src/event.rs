//! The event model: what happened in one conversation, whoever observed it.
//!
//! Every source of conversations — a transcript file, the live proxy, the conformance runner,
//! the simulator — turns what it saw into these events, and the [`crate::checker`] judges only
//! events. Keeping the model apart from the checker lets the transcript model and the checker
//! both point down at it instead of at each other.

use std::time::Duration;

use crate::dialect::ItemKind;
use crate::rule::Party;

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
