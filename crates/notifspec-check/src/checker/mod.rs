//! The conformance checker: the oracle every other part of notifspec is judged by.
//!
//! A sans-IO state machine fed the events of ONE conversation (lines from either party,
//! closes, publishes, quiet periods) that returns the rules each event breaks. It never reads
//! a clock or a socket, so the same code judges a transcript, a live proxy and a simulation.
//!
//! The state is split by rule family, one file each. Each family owns a small type whose
//! fields are private to its file (`Framing`, `ModeState`, `Replies`, `Window`,
//! `Availability`, `KnownReports`, `Robust`, `ClientSeen`), changed only through its methods and unit-tested
//! there; the family's `impl Checker` block judges events with them and reports. The
//! `Checker` itself only routes each event to the families and collects the violations:
//! - `classify`: what a line means in the dialect (the checker's own classifier);
//! - `owed`: the words the families share (the mode, what the server owes for a line),
//!   plain data below them so no family's file depends on another's;
//! - `framing`: terminators (`S-FRAMING`, `C-FRAMING`);
//! - `requests`: the in-order reply queue (`S-REPLY-ONE`, `S-RANDOM-INT`,
//!   `S-CLASSIFIED-LINE`, `C-ONE-AT-A-TIME`);
//! - `mode`: entering and leaving notification mode and the client lines allowed there
//!   (`S-MODE-ACK`, `S-STOP-OK`, `S-NO-NOTIF-AFTER-OK`, `C-NO-REQ-IN-NOTIF`,
//!   `C-STOP-ONLY-IN-NOTIF`);
//! - `window`: notifications, answers and the stop_notif race (`S-NOTIF-IN-MODE`,
//!   `S-NOTIF-WINDOW`, `S-NOTIF-KIND`, `C-ACK`, `C-ACK-ONLY-NOTIF`, `C-NO-ACK-AFTER-STOP`);
//! - `availability`: what may and must be announced (`S-PROMISE`, `S-NO-DUP`, `S-LIVENESS`);
//! - `errors`: bad lines (`S-ERR`, `S-ROBUST`);
//! - `offline`: the options a transcript implies (`crate::transcript::check_transcript` feeds it).
//!
//! Memory is O(1) per conversation whatever is fed: counters, flags and a reply queue of at
//! most [`MAX_PENDING`] entries (requests pipelined beyond it are counted, not stored).
//!
//! Independence rule: this crate (`notifspec-check`) depends on nothing of the reference peers,
//! the wire framing or the simulator; Cargo enforces it.

mod availability;
mod classify;
mod errors;
mod framing;
mod lines;
mod mode;
mod offline;
mod owed;
mod requests;
mod window;

#[cfg(test)]
mod testkit;

use std::time::Duration;

use crate::dialect::{Dialect, ErrorPolicy};
pub use crate::event::{Event, EventKind, Terminator};
pub use crate::rule::{Party, RuleId};

pub use availability::ITEMS_KNOWN_RULES;
use availability::{Availability, KnownReports};
use classify::Classifier;
use errors::{ClientSeen, Robust};
use framing::Framing;
pub use lines::{LineReading, is_error_line, notification_kind};
use mode::ModeState;
use owed::Mode;
pub use requests::MAX_PENDING;
use requests::Replies;

use window::Window;

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

/// The quiet period after which an available, unannounced item counts as forgotten
/// (`S-LIVENESS`) when the caller does not choose one. Generous on purpose: a live server
/// on a loaded CI machine must not be failed for being slow.
pub const DEFAULT_LIVENESS_BOUND: Duration = Duration::from_secs(1);

/// What the checker may assume beyond the conversation itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Every publish is fed as a [`EventKind::Published`] event. Only then can the checker
    /// tell what is available, so `S-NO-DUP` and `S-LIVENESS` are judged only when this is
    /// set (a transcript with `! publish` directives, a run with a control port).
    pub items_known: bool,
    /// A [`EventKind::Quiet`] at least this long, with an item available and the window free,
    /// is an `S-LIVENESS` violation.
    pub liveness_bound: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            items_known: false,
            liveness_bound: DEFAULT_LIVENESS_BOUND,
        }
    }
}

/// A remembered event and where it was: the stop OK that ended the mode, the random number
/// published, the notification that promised an ad. Named, because `Option<Option<usize>>`
/// hid which `None` meant "never" and which "at no transcript line" (live traffic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// Nothing to remember.
    Unset,
    /// It happened at this transcript line (`None`: an event without one).
    At(Option<usize>),
}

impl Mark {
    /// Whether there is something to remember.
    fn is_set(self) -> bool {
        self != Mark::Unset
    }

    /// Returns the mark and forgets it.
    #[inline]
    fn take(&mut self) -> Mark {
        std::mem::replace(self, Mark::Unset)
    }
}

/// The checker for one conversation.
#[derive(Debug)]
pub struct Checker {
    dialect: Dialect,
    options: Options,
    classifier: Classifier,
    /// The mode and how it was last left.
    mode: ModeState,
    /// Requests waiting for their reply, in order.
    replies: Replies,
    /// Notifications, answers and the stop race.
    window: Window,
    /// What may be announced.
    avail: Availability,
    /// The reaction to an oversized client line.
    robust: Robust,
    /// Which framing rules were reported already.
    framing: Framing,
    /// What the client said so far, for unsolicited error lines.
    client: ClientSeen,
    /// Violations of the event being fed.
    out: Vec<Violation>,
    /// The cap on reports of [`ITEMS_KNOWN_RULES`].
    known_reports: KnownReports,
}

impl Checker {
    /// A checker for a conversation in `dialect`, knowing nothing about publishes.
    pub fn new(dialect: Dialect) -> Self {
        Checker::with_options(dialect, Options::default())
    }

    /// A checker with explicit [`Options`] (a run that knows every publish).
    pub fn with_options(dialect: Dialect, options: Options) -> Self {
        Checker {
            classifier: Classifier::new(&dialect),
            avail: Availability::new(options.items_known),
            dialect,
            options,
            mode: ModeState::default(),
            replies: Replies::default(),
            window: Window::default(),
            robust: Robust::default(),
            framing: Framing::default(),
            client: ClientSeen::default(),
            out: Vec::new(),
            known_reports: KnownReports::default(),
        }
    }

    /// The dialect being checked.
    pub fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    /// How many replies the checker is waiting for and remembers individually. Never more
    /// than [`MAX_PENDING`]: the checker's memory does not grow with the conversation.
    pub fn pending_len(&self) -> usize {
        self.replies.len()
    }

    /// Feeds one event; returns the violations it reveals.
    pub fn feed(&mut self, event: &Event) -> Vec<Violation> {
        let mut out = Vec::new();
        self.feed_into(event, &mut out);
        out
    }

    /// Feeds one event and appends the violations it reveals to `out`: for callers that feed
    /// millions of events and reuse one vector instead of receiving one per event.
    pub fn feed_into(&mut self, event: &Event, out: &mut Vec<Violation>) {
        let line = event.source_line;
        match &event.kind {
            EventKind::Line {
                from,
                text,
                terminator,
            } => self.line(*from, text, *terminator, line),
            EventKind::Oversized {
                from: Party::Client,
            } => self.client_oversized(line),
            EventKind::Oversized {
                from: Party::Server,
            } => self.server_line("", true, line),
            EventKind::Closed { by } => self.closed(*by, line),
            EventKind::Published { kind } => self.avail.publish(*kind, line),
            EventKind::Quiet { duration } => self.quiet(*duration, line),
        }
        out.append(&mut self.out);
    }

    /// Feeds one complete line, borrowed: the same as [`feed_into`](Checker::feed_into) with
    /// an [`EventKind::Line`], without building an [`Event`] (which owns its text). This is the
    /// hot path of checking a long recording.
    #[inline]
    pub fn feed_line(
        &mut self,
        from: Party,
        text: &str,
        terminator: Terminator,
        source_line: Option<usize>,
        out: &mut Vec<Violation>,
    ) {
        self.line(from, text, terminator, source_line);
        out.append(&mut self.out);
    }

    /// Feeds the recorded line whose message starts at `rest` (what follows `C: `, `client`,
    /// or `S: `) when it is one of the dialect's fixed lines followed by `\n`, and returns the
    /// message's length; `None` (nothing fed) for any other line. The table-driven hot path
    /// of `notifspec check`: finding the line's end and its class is one table read and a
    /// word comparison, and the line is judged exactly as [`feed_line`](Checker::feed_line)
    /// judges it with [`Terminator::Unknown`].
    #[inline]
    pub(crate) fn feed_known(
        &mut self,
        client: bool,
        rest: &str,
        source_line: Option<usize>,
        out: &mut Vec<Violation>,
    ) -> Option<usize> {
        let (len, known) = self.classifier.leading(client, rest.as_bytes())?;
        // `rest[len]` is the line's `\n`, so this is a char boundary.
        let text = rest.get(..len)?;
        match known {
            classify::Known::Client(class) => {
                if !self.behind_oversized() {
                    self.client_line_as(class, text, Terminator::Unknown, source_line);
                }
            }
            classify::Known::Server(class) => self.server_line_as(class, text, false, source_line),
        }
        if !self.out.is_empty() {
            out.append(&mut self.out);
        }
        Some(len)
    }

    #[inline]
    fn line(&mut self, from: Party, text: &str, terminator: Terminator, line: Option<usize>) {
        match from {
            Party::Client => {
                self.client_terminator(terminator, line);
                if !self.behind_oversized() {
                    self.client_line(text, terminator, line);
                }
            }
            Party::Server => {
                self.server_terminator(terminator, line);
                self.server_line(text, false, line);
            }
        }
    }

    /// Ends the conversation. `complete` says the conversation was recorded to its end, so
    /// what is left hanging (an unanswered request, notification or stop) is a violation;
    /// otherwise the end is only where the recording stopped and nothing pending is judged.
    pub fn finish(&mut self, complete: bool) -> Vec<Violation> {
        if complete {
            self.missing_reply(None, None);
            self.unanswered_at_end();
        }
        self.replies.clear();
        std::mem::take(&mut self.out)
    }

    /// Records a violation of the event being fed.
    fn report(&mut self, rule: RuleId, line: Option<usize>, message: String) {
        self.out.push(Violation {
            rule,
            line,
            message,
        });
    }

    /// Whether bad lines get an error reply in this dialect.
    fn errors_reply(&self) -> bool {
        self.dialect.errors.policy == ErrorPolicy::Error
    }

    /// A client line, judged against the state.
    fn client_line(&mut self, text: &str, terminator: Terminator, line: Option<usize>) {
        let class = self.classifier.client(text);
        self.client_line_as(class, text, terminator, line);
    }

    /// A client line already classified.
    #[inline]
    fn client_line_as(
        &mut self,
        class: classify::ClientClass,
        text: &str,
        terminator: Terminator,
        line: Option<usize>,
    ) {
        self.mode.client_spoke();
        let lf = terminator == Terminator::Lf;
        let bad = match self.mode.now() {
            Mode::Normal => self.client_in_normal(class, text, lf, line),
            Mode::Notifying => self.client_in_mode(class, text, line),
            Mode::Stopping => self.client_while_stopping(class, text, lf, line),
        };
        self.client.line(bad);
        if self.mode.now() == Mode::Normal {
            // A notification that crossed the stop matters only for the next client line.
            self.window.forget_crossing();
        }
    }

    /// A server line (or an oversized one, which carries no text), judged against the state.
    fn server_line(&mut self, text: &str, oversized: bool, line: Option<usize>) {
        let class = if oversized {
            classify::ServerClass::Other
        } else {
            self.classifier.server(text)
        };
        self.server_line_as(class, text, oversized, line);
    }

    /// A server line already classified.
    #[inline]
    fn server_line_as(
        &mut self,
        class: classify::ServerClass,
        text: &str,
        oversized: bool,
        line: Option<usize>,
    ) {
        let shown = classify::Shown((!oversized).then_some(text));
        let is_notif = matches!(class, classify::ServerClass::Notif(_));
        if !is_notif && self.robust_server_line(class, shown, line) {
            return;
        }
        let second_ok = self.mode.take_just_sent();
        match class {
            classify::ServerClass::Notif(kind) => self.notification(Some(kind), shown, line),
            classify::ServerClass::NotifLike if !self.notif_like_is_reply() => {
                self.notification(None, shown, line)
            }
            _ => self.reply(class, text, oversized, shown, line, second_ok),
        }
    }

    /// A quiet period: whatever should have arrived by now did not.
    fn quiet(&mut self, duration: Duration, line: Option<usize>) {
        self.robust_quiet(duration, line);
        self.missing_reply(Some(duration), line);
        if duration >= self.options.liveness_bound {
            self.liveness(duration, line);
        }
    }

    fn closed(&mut self, by: Party, line: Option<usize>) {
        if by == Party::Server {
            self.robust_closed(line);
        }
    }
}

#[cfg(test)]
mod tests;
