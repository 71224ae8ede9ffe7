//! The sans-IO replay runner: it walks a transcript, says what to do next ([`Step`]), takes what
//! the peer sent ([`Arrival`]) and judges it twice — against the checker (is it legal?) and
//! against the transcript (is it what was recorded?).
//!
//! It never touches a socket or reads the clock: the shells in `client_role` and `server_role`
//! pump bytes and timers and pass the time since the start as `now`. That keeps every matching
//! decision (unpredictable values, crossing notifications, skipped notifications) testable with
//! plain function calls.

use std::collections::VecDeque;
use std::time::Duration;

use crate::checker::LineReading as _;
use crate::checker::{
    Checker, Event, EventKind, Options as CheckerOptions, Party, Terminator, Violation,
};
use crate::dialect::{Dialect, ItemKind, LineEnding};
use crate::transcript::{Directive, Entry, EntryKind, Message, Transcript};

/// Most peer lines kept waiting to be matched. A peer that sends more than this many lines the
/// transcript cannot place is flooding us; the replay stops with an error instead of buffering.
pub const MAX_INBOX: usize = 256;

/// Most lines kept in the observed conversation and the diff, so a chatty peer costs bounded
/// memory; the rest is summarised by a truncation note.
pub const MAX_OBSERVED: usize = 10_000;

/// Which side notifspec plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// notifspec sends the `C:` lines to a server under test.
    Client,
    /// notifspec sends the `S:` lines to a client under test.
    Server,
}

impl Role {
    /// The party notifspec speaks for.
    pub fn own(self) -> Party {
        match self {
            Role::Client => Party::Client,
            Role::Server => Party::Server,
        }
    }

    /// The party under test.
    pub fn peer(self) -> Party {
        match self {
            Role::Client => Party::Server,
            Role::Server => Party::Client,
        }
    }
}

/// Something the peer did, as the shell saw it on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// A complete line.
    Line {
        /// Its text (invalid UTF-8 replaced).
        text: String,
        /// How it was terminated.
        terminator: Terminator,
    },
    /// A line longer than the dialect's limit.
    Oversized,
    /// The peer closed its side (or the connection dropped).
    Closed,
}

/// What the shell must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write this line (the shell adds the dialect's terminator).
    Send(String),
    /// Make an item appear (control port); then call [`ScriptRunner::published`].
    Publish(Directive),
    /// Wait up to this long for an arrival; call [`ScriptRunner::receive`] or [`ScriptRunner::timer_fired`].
    Wait(Duration),
    /// Let this much time pass, passing on anything that arrives; then call
    /// [`ScriptRunner::timer_fired`].
    Quiet(Duration),
    /// Close our side of the connection, then ask again.
    Close,
    /// Wait up to this long for the peer to close; arrivals go to [`ScriptRunner::receive`].
    AwaitClose(Duration),
    /// The replay is over; call [`ScriptRunner::finish`].
    Done,
}

/// One line of the expected-versus-observed comparison, with the transcript line it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Row {
    /// The transcript line happened as written (or with an unpredictable value, shown observed).
    Same {
        /// Transcript line number.
        line: usize,
        /// The transcript line as it happened.
        text: String,
    },
    /// Something else happened in its place.
    Changed {
        /// Transcript line number.
        line: usize,
        /// As written.
        expected: String,
        /// As it happened.
        observed: String,
    },
    /// The transcript line did not happen.
    Missing {
        /// Transcript line number.
        line: usize,
        /// As written.
        expected: String,
    },
    /// Something happened that the transcript does not have.
    Extra {
        /// As it happened.
        observed: String,
    },
}

/// A legal difference between the recording and what happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Divergence {
    /// Transcript line it is about.
    pub line: Option<usize>,
    /// What differed, in a sentence.
    pub message: String,
}

/// One thing that really happened during the replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Time since the replay started.
    pub at: Duration,
    /// What happened.
    pub what: Happened,
}

/// What happened, in terms of the transcript format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened {
    /// A line sent by this party.
    Line(Party, String),
    /// What a directive stands for (a publish, a close, a quiet period).
    Directive(Directive),
    /// Something the format cannot hold (an oversized line), kept as a comment.
    Note(String),
}

impl Observed {
    /// The transcript line for it: `C: ...`, `S: ...`, a directive or `# note`.
    pub fn line(&self) -> String {
        match &self.what {
            Happened::Line(from, text) => message_line(*from, text),
            Happened::Directive(d) => directive_line(d),
            Happened::Note(n) => format!("# {n}"),
        }
    }
}

/// What a finished runner found; [`super::judge`] turns it into a verdict.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    /// Violations by the party under test.
    pub violations: Vec<Violation>,
    /// Violations of notifspec's own lines: the script no longer fitted the conversation.
    pub own_violations: Vec<Violation>,
    /// Legal differences from the recording.
    pub divergences: Vec<Divergence>,
    /// Why the replay could not finish, if it could not.
    pub error: Option<String>,
    /// Expected versus observed, in transcript order.
    pub rows: Vec<Row>,
    /// The conversation as it happened.
    pub observed: Vec<Observed>,
    /// Whether the observed conversation was cut at [`MAX_OBSERVED`] lines.
    pub truncated: bool,
    /// Whether the replay reached a `! close`/`! expect close` at the end of the transcript.
    pub complete: bool,
    /// Whether the replay played the transcript to its end (or to its `[...]`): only then can
    /// it pass.
    pub reached_end: bool,
    /// The line notifspec did not send because it would have broken a rule of its own party,
    /// as `(transcript line, text)`: the replay stopped before it, and it is not part of the
    /// observed conversation.
    pub not_sent: Option<(usize, String)>,
    /// Why the replay stopped before the end, when the peer legally did not go on as recorded
    /// (it did not send an expected line that no rule requires, or it closed the connection).
    pub stopped: Option<String>,
}

/// Knobs of one replay.
#[derive(Debug, Clone)]
pub struct ScriptConfig {
    /// Which side notifspec plays.
    pub role: Role,
    /// Unpredictable values must match the recording exactly.
    pub strict: bool,
    /// Longest wait for any expected line or close.
    pub timeout: Duration,
    /// Whether `! publish` (and the automatic publish before an expected notification) can be
    /// carried out: a control port is known.
    pub control: bool,
    /// How long to let an expected notification arrive on its own before publishing an item
    /// to provoke it (an item may already be available, e.g. the ad unread since connect).
    pub grace: Duration,
    /// Every publish goes through this replay (an embedded server, or a transcript that
    /// publishes explicitly), so the checker can judge `S-NO-DUP` and `S-LIVENESS`.
    pub items_known: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Nothing,
    /// For the expected line at `pos`, until `deadline`.
    Line {
        deadline: Duration,
    },
    /// Letting an expected notification arrive on its own, until `deadline`.
    Grace {
        deadline: Duration,
    },
    /// A `! quiet` until `deadline`.
    Quiet {
        deadline: Duration,
        length: Duration,
    },
    /// For the peer's close, until `deadline`.
    Close {
        deadline: Duration,
    },
}

/// The replay runner for one transcript and one connection.
#[derive(Debug)]
pub struct ScriptRunner {
    cfg: ScriptConfig,
    dialect: Dialect,
    entries: Vec<Entry>,
    transcript_complete: bool,
    pos: usize,
    checker: Checker,
    inbox: VecDeque<Arrival>,
    waiting: Waiting,
    /// The request notifspec sent whose reply is still expected (client role).
    pending_request: Option<ItemKind>,
    /// notifspec sent the stop command and its OK has not been matched yet (client role):
    /// a notification may cross the stop on the wire, or not, depending on timing alone.
    stop_sent: bool,
    /// An explicit `! publish` of this kind happened since the last expected notification.
    explicit_publish: [bool; 2],
    /// The transcript position for which the grace wait already ran out.
    grace_spent: Option<usize>,
    /// The transcript position for which an automatic publish was already made.
    auto_published: Option<usize>,
    done: bool,
    we_closed: bool,
    peer_closed: bool,
    auto_ads: u64,
    findings: Findings,
}

impl ScriptRunner {
    /// An runner that plays `transcript` in `dialect`.
    pub fn new(transcript: &Transcript, dialect: Dialect, cfg: ScriptConfig) -> ScriptRunner {
        let mut entries = transcript.entries.clone();
        let registering = cfg.role == Role::Client
            && cfg.control
            && super::register::insert_round_trip(&mut entries, &dialect);
        let mut findings = Findings::default();
        if registering {
            findings.observed.push(Observed {
                at: Duration::ZERO,
                what: Happened::Note(
                    "replay: one `random?` round trip first, so the server has registered the connection before the first publish".into(),
                ),
            });
        }
        ScriptRunner {
            checker: Checker::with_options(
                dialect.clone(),
                CheckerOptions {
                    items_known: cfg.items_known,
                    ..CheckerOptions::default()
                },
            ),
            dialect,
            entries,
            transcript_complete: transcript.is_complete(),
            pos: 0,
            inbox: VecDeque::new(),
            waiting: Waiting::Nothing,
            pending_request: None,
            stop_sent: false,
            explicit_publish: [false; 2],
            grace_spent: None,
            auto_published: None,
            done: false,
            we_closed: false,
            peer_closed: false,
            auto_ads: 0,
            findings,
            cfg,
        }
    }

    /// The next thing to do, at `now` (time since the replay started). The shell passes every
    /// arrival that is already readable to [`ScriptRunner::receive`] before asking, so the checker
    /// sees lines in the order they crossed the wire.
    pub fn step(&mut self, now: Duration) -> Step {
        loop {
            if self.done {
                return Step::Done;
            }
            self.match_inbox();
            if self.done {
                return Step::Done;
            }
            match self.waiting {
                Waiting::Line { deadline } | Waiting::Grace { deadline } => {
                    return Step::Wait(deadline.saturating_sub(now));
                }
                Waiting::Quiet { deadline, .. } => {
                    return Step::Quiet(deadline.saturating_sub(now));
                }
                Waiting::Close { deadline } => {
                    return Step::AwaitClose(deadline.saturating_sub(now));
                }
                Waiting::Nothing => {}
            }
            let Some(entry) = self.entries.get(self.pos).cloned() else {
                self.findings.reached_end = true;
                self.end(self.transcript_complete);
                return Step::Done;
            };
            match (&entry.kind, self.cfg.role) {
                (EntryKind::Server(m), Role::Client) | (EntryKind::Client(m), Role::Server) => {
                    if let Some(step) = self.before_expected(m, now) {
                        return step;
                    }
                    self.waiting = Waiting::Line {
                        deadline: now + self.cfg.timeout,
                    };
                }
                (EntryKind::Client(m), Role::Client) | (EntryKind::Server(m), Role::Server) => {
                    let text = m.literal().map_or_else(|| m.sample(), str::to_string);
                    if !self.sent(&text, entry.line, now) {
                        // Not sent: the replay stops before this line.
                        return Step::Done;
                    }
                    self.pos += 1;
                    if self.done {
                        return Step::Done;
                    }
                    return Step::Send(text);
                }
                (EntryKind::Directive(d), role) => {
                    if let Some(step) = self.directive(d, role, entry.line, now) {
                        return step;
                    }
                }
                (EntryKind::Unrecorded, _) => {
                    self.same(entry.line, "[...]".into());
                    self.findings.reached_end = true;
                    self.end(false);
                    return Step::Done;
                }
            }
        }
    }

    /// In the client role, before waiting for an expected notification: let it arrive on its
    /// own for a moment, then publish an item of its kind when a control port is known and the
    /// transcript did not publish one itself.
    fn before_expected(&mut self, m: &Message, now: Duration) -> Option<Step> {
        if self.cfg.role != Role::Client || !self.cfg.control {
            return None;
        }
        let kind = self.dialect.notification_kind(m.literal()?)?;
        if self.explicit_publish[kind as usize] || self.auto_published == Some(self.pos) {
            return None;
        }
        if self.grace_spent != Some(self.pos) && !self.cfg.grace.is_zero() {
            self.waiting = Waiting::Grace {
                deadline: now + self.cfg.grace,
            };
            return Some(Step::Wait(self.cfg.grace));
        }
        self.auto_published = Some(self.pos);
        let d = match kind {
            ItemKind::Random => Directive::PublishRandom(None),
            ItemKind::Classified => {
                self.auto_ads += 1;
                Directive::PublishClassified(format!("ad {} published by replay", self.auto_ads))
            }
        };
        self.published_event(kind, None, now);
        self.observe(now, Happened::Directive(d.clone()));
        Some(Step::Publish(d))
    }

    fn directive(&mut self, d: &Directive, role: Role, line: usize, now: Duration) -> Option<Step> {
        self.pos += 1;
        let text = directive_line(d);
        match (d, role) {
            (Directive::PublishRandom(_) | Directive::PublishClassified(_), _) => {
                let kind = match d {
                    Directive::PublishRandom(_) => ItemKind::Random,
                    _ => ItemKind::Classified,
                };
                self.explicit_publish[kind as usize] = true;
                self.same(line, text.clone());
                if role == Role::Client && !self.cfg.control {
                    self.diverge(
                        Some(line),
                        format!(
                            "`{text}` skipped: no control port or --publish-cmd to publish with"
                        ),
                    );
                    return None;
                }
                self.published_event(kind, Some(line), now);
                self.observe(now, Happened::Directive(d.clone()));
                (role == Role::Client).then(|| Step::Publish(d.clone()))
            }
            (Directive::Close, Role::Client) | (Directive::ExpectClose, Role::Server) => {
                self.same(line, text);
                self.observe(now, Happened::Directive(d.clone()));
                self.we_closed = true;
                self.feed(
                    now,
                    Some(line),
                    EventKind::Closed {
                        by: self.cfg.role.own(),
                    },
                );
                Some(Step::Close)
            }
            (Directive::ExpectClose, Role::Client) | (Directive::Close, Role::Server) => {
                self.pos -= 1;
                self.waiting = Waiting::Close {
                    deadline: now + self.cfg.timeout,
                };
                None
            }
            (Directive::Quiet(length), _) => {
                self.pos -= 1;
                self.waiting = Waiting::Quiet {
                    deadline: now + *length,
                    length: *length,
                };
                None
            }
        }
    }

    /// The publisher (control port, publish command, hook) confirmed or refused a publish.
    pub fn published(&mut self, result: Result<(), String>) {
        if let Err(e) = result {
            self.fail_with_error(format!("publishing failed: {e}"));
        }
    }

    /// The shell could not carry out a step (a write failed, a peer stopped reading): the
    /// replay ends with an error, unless the peer had closed the connection, which is its
    /// behaviour (judged like any close), not trouble driving it.
    pub fn failed(&mut self, message: String) {
        if self.peer_closed {
            let peer = self.cfg.role.peer();
            self.stop(format!(
                "{message}: the {peer} had closed the connection; the replay stopped there"
            ));
        } else {
            self.fail_with_error(message);
        }
    }

    /// The wait asked for by the last step ran out.
    pub fn timer_fired(&mut self, now: Duration) {
        match self.waiting {
            Waiting::Nothing => {}
            Waiting::Grace { .. } => {
                self.grace_spent = Some(self.pos);
                self.waiting = Waiting::Nothing;
            }
            Waiting::Line { .. } => {
                self.waiting = Waiting::Nothing;
                let what = self.expected_text(self.pos);
                let line = self.entries.get(self.pos).map_or(0, |e| e.line);
                self.push_row(Row::Missing {
                    line,
                    expected: what.clone(),
                });
                // The checker knows what was owed: a missing reply is a violation of the rule
                // requiring it (`S-STOP-OK`, `S-MODE-ACK`, `S-REPLY-ONE`, `S-FRAMING`, ...).
                // A line no rule requires (a notification of an item the server need not
                // have) is a legal difference from the recording.
                let before = self.findings.violations.len();
                let entry_line = self.entries.get(self.pos).map(|e| e.line);
                self.feed(
                    now,
                    entry_line,
                    EventKind::Quiet {
                        duration: self.cfg.timeout,
                    },
                );
                let waited = humantime::format_duration(self.cfg.timeout);
                if self.findings.violations.len() == before {
                    self.diverge(
                        Some(line),
                        format!(
                            "line {line}: the {} did not send `{what}` within {waited}, and no \
                             rule requires it",
                            self.cfg.role.peer()
                        ),
                    );
                }
                self.stop(format!(
                    "waited {waited} for line {line} `{what}`; the replay stopped there"
                ));
            }
            Waiting::Quiet { length, .. } => {
                self.waiting = Waiting::Nothing;
                let line = self.entries.get(self.pos).map(|e| e.line);
                self.feed(now, line, EventKind::Quiet { duration: length });
                if let Some(l) = line {
                    self.same(l, directive_line(&Directive::Quiet(length)));
                }
                self.observe(now, Happened::Directive(Directive::Quiet(length)));
                self.pos += 1;
            }
            Waiting::Close { .. } => {
                // Keeping a connection open is legal: the recording differs, no rule is broken.
                self.waiting = Waiting::Nothing;
                let line = self.entries.get(self.pos).map_or(0, |e| e.line);
                self.push_row(Row::Missing {
                    line,
                    expected: self.expected_text(self.pos),
                });
                self.diverge(
                    Some(line),
                    format!(
                        "line {line}: the {} did not close the connection within {}",
                        self.cfg.role.peer(),
                        humantime::format_duration(self.cfg.timeout)
                    ),
                );
                self.end(false);
            }
        }
    }

    /// Something arrived from the peer at `now`. It is judged by the checker at once and
    /// matched against the transcript at the next [`ScriptRunner::step`].
    pub fn receive(&mut self, arrival: Arrival, now: Duration) {
        if self.done {
            return;
        }
        let peer = self.cfg.role.peer();
        let line = self.entries.get(self.pos).map(|e| e.line);
        match &arrival {
            Arrival::Line { text, terminator } => {
                self.observe(now, Happened::Line(peer, text.clone()));
                self.feed(
                    now,
                    line,
                    EventKind::Line {
                        from: peer,
                        text: text.clone(),
                        terminator: *terminator,
                    },
                );
            }
            Arrival::Oversized => {
                self.observe(
                    now,
                    Happened::Note(format!("the {peer} sent an oversized line (not recorded)")),
                );
                self.feed(now, line, EventKind::Oversized { from: peer });
            }
            Arrival::Closed => {
                self.peer_closed = true;
                let d = match self.cfg.role {
                    Role::Client => Directive::ExpectClose,
                    Role::Server => Directive::Close,
                };
                self.observe(now, Happened::Directive(d));
                self.feed(now, line, EventKind::Closed { by: peer });
            }
        }
        if self.inbox.len() >= MAX_INBOX {
            self.fail_with_error(format!(
                "the {peer} sent more than {MAX_INBOX} lines the transcript does not expect"
            ));
            return;
        }
        self.inbox.push_back(arrival);
    }

    /// Matches waiting arrivals against what the transcript expects at the current position.
    fn match_inbox(&mut self) {
        while let Some(arrival) = self.inbox.pop_front() {
            if self.done {
                return;
            }
            match self.waiting {
                Waiting::Quiet { .. } => {
                    self.unexpected(&arrival, "during `! quiet`");
                    continue;
                }
                Waiting::Close { .. } => {
                    if arrival == Arrival::Closed {
                        let line = self.entries[self.pos].line;
                        let d = match self.cfg.role {
                            Role::Client => Directive::ExpectClose,
                            Role::Server => Directive::Close,
                        };
                        self.same(line, directive_line(&d));
                        self.pos += 1;
                        self.waiting = Waiting::Nothing;
                    } else {
                        self.unexpected(&arrival, "while waiting for the close");
                    }
                    continue;
                }
                _ => {}
            }
            if !self.at_expected() {
                // Nothing is expected from the peer right now: keep it for the next
                // expectation, unless the script is over.
                if self.pos >= self.entries.len() {
                    self.after_end(&arrival);
                    continue;
                }
                self.inbox.push_front(arrival);
                return;
            }
            self.match_one(arrival);
            if matches!(self.waiting, Waiting::Line { .. } | Waiting::Grace { .. })
                && !self.at_expected()
            {
                self.waiting = Waiting::Nothing;
            }
        }
    }

    /// An arrival after the last transcript line: a divergence only when the transcript
    /// claims to be complete.
    fn after_end(&mut self, arrival: &Arrival) {
        if self.transcript_complete && !matches!(arrival, Arrival::Closed) {
            self.unexpected(arrival, "after the end of the transcript");
        }
    }

    fn at_expected(&self) -> bool {
        self.expected_message(self.pos).is_some()
    }

    fn expected_message(&self, pos: usize) -> Option<&Message> {
        match (&self.entries.get(pos)?.kind, self.cfg.role) {
            (EntryKind::Server(m), Role::Client) | (EntryKind::Client(m), Role::Server) => Some(m),
            _ => None,
        }
    }

    fn expected_text(&self, pos: usize) -> String {
        match self.entries.get(pos).map(|e| &e.kind) {
            Some(EntryKind::Client(m)) => format!("C: {}", m.raw).trim_end().to_string(),
            Some(EntryKind::Server(m)) => format!("S: {}", m.raw).trim_end().to_string(),
            Some(EntryKind::Directive(d)) => directive_line(d),
            Some(EntryKind::Unrecorded) => "[...]".into(),
            None => "the end".into(),
        }
    }

    fn match_one(&mut self, arrival: Arrival) {
        let line = self.entries[self.pos].line;
        let text = match &arrival {
            Arrival::Line { text, .. } => text.clone(),
            Arrival::Oversized => {
                self.unexpected(&arrival, "");
                return;
            }
            Arrival::Closed => {
                self.closed_while_expecting(line);
                return;
            }
        };
        if self.matches_at(self.pos, &text) {
            self.consume(line, &text);
            return;
        }
        if self.skip_notifications_not_sent(&text) {
            return;
        }
        if self.reordered(&text) {
            self.consume(line, &text);
            return;
        }
        if self.unrecorded_notification(&arrival, &text) {
            return;
        }
        self.changed(line, &text);
    }

    /// The peer closed the connection while `line` was expected.
    fn closed_while_expecting(&mut self, line: usize) {
        // What the close left owed is judged when the runner finishes (a closed connection
        // is a finished conversation); the close itself breaks no rule.
        let peer = self.cfg.role.peer();
        let expected = self.expected_text(self.pos);
        self.push_row(Row::Missing {
            line,
            expected: expected.clone(),
        });
        let message =
            format!("the {peer} closed the connection while line {line} `{expected}` was expected");
        self.diverge(Some(line), format!("line {line}: {message}"));
        self.stop(format!("{message}; the replay stopped there"));
    }

    /// Notifications the recording had may legally not happen (a crossing notification, an
    /// item that was not available): skips them if a later expected line matches `text`, and
    /// consumes that line.
    fn skip_notifications_not_sent(&mut self, text: &str) -> bool {
        let peer = self.cfg.role.peer();
        let mut k = self.pos;
        while let Some(m) = self.expected_message(k) {
            if !self.is_notification(m) {
                break;
            }
            k += 1;
            if self.expected_message(k).is_some() && self.matches_at(k, text) {
                for skipped in self.pos..k {
                    let l = self.entries[skipped].line;
                    let expected = self.expected_text(skipped);
                    self.push_row(Row::Missing {
                        line: l,
                        expected: expected.clone(),
                    });
                    if self.crossing_is_timing() {
                        continue;
                    }
                    self.diverge(
                        Some(l),
                        format!("line {l}: the {peer} did not send `{expected}`"),
                    );
                }
                self.pos = k;
                let l = self.entries[k].line;
                self.consume(l, text);
                return true;
            }
        }
        false
    }

    /// An asynchronous notification the recording did not have, while something else was
    /// expected: legal unless the checker says otherwise; the replay keeps waiting for the
    /// expected line.
    fn unrecorded_notification(&mut self, arrival: &Arrival, text: &str) -> bool {
        let peer = self.cfg.role.peer();
        let expected_is_notif = self
            .expected_message(self.pos)
            .is_some_and(|m| self.is_notification(m));
        let arrival_is_notif =
            peer == Party::Server && self.dialect.notification_kind(text).is_some();
        if !arrival_is_notif || expected_is_notif {
            return false;
        }
        if self.crossing_is_timing() {
            self.push_row(Row::Extra {
                observed: message_line(peer, text),
            });
        } else {
            self.unexpected(arrival, "");
        }
        true
    }

    /// Another line than the expected one: a divergence; the replay moves on past it.
    fn changed(&mut self, line: usize, text: &str) {
        let expected = self.expected_text(self.pos);
        let observed = message_line(self.cfg.role.peer(), text);
        self.push_row(Row::Changed {
            line,
            expected: expected.clone(),
            observed: observed.clone(),
        });
        self.diverge(
            Some(line),
            format!("line {line}: expected `{expected}`, observed `{observed}`"),
        );
        self.advance_past_expected(text);
    }
    /// Whether a notification crossing (or not crossing) our stop command is down to timing
    /// alone, which a recording cannot predict (unless `--strict`).
    fn crossing_is_timing(&self) -> bool {
        self.stop_sent && !self.cfg.strict && self.cfg.role == Role::Client
    }

    /// The order in which a server announces items that are available together is not
    /// something a recording can predict: when another notification arrives than the one
    /// expected, and the transcript expects that one later in the same notification session,
    /// the two expectations swap places (unless `--strict`).
    fn reordered(&mut self, text: &str) -> bool {
        if self.cfg.strict || self.cfg.role != Role::Client {
            return false;
        }
        let expecting_notif = self
            .expected_message(self.pos)
            .is_some_and(|m| self.is_notification(m));
        if !expecting_notif || self.dialect.notification_kind(text).is_none() {
            return false;
        }
        let stop = &self.dialect.commands.stop;
        let later = (self.pos + 1..self.entries.len())
            .take_while(|&k| {
                !matches!(&self.entries[k].kind, EntryKind::Client(m) if m.literal() == Some(stop))
            })
            .find(|&k| self.expected_message(k).is_some_and(|m| m.matches(text)));
        let Some(k) = later else {
            return false;
        };
        let here = self.entries[self.pos].kind.clone();
        self.entries[self.pos].kind = std::mem::replace(&mut self.entries[k].kind, here);
        true
    }

    fn consume(&mut self, line: usize, text: &str) {
        let peer = self.cfg.role.peer();
        self.push_row(Row::Same {
            line,
            text: message_line(peer, text),
        });
        self.advance_past_expected(text);
    }

    fn advance_past_expected(&mut self, text: &str) {
        if self.cfg.role == Role::Client && self.dialect.notification_kind(text).is_none() {
            self.pending_request = None;
            self.stop_sent = false;
        }
        if let Some(kind) = self.dialect.notification_kind(text)
            && self.cfg.role == Role::Client
        {
            self.explicit_publish[kind as usize] = false;
        }
        self.pos += 1;
        self.waiting = Waiting::Nothing;
    }

    fn is_notification(&self, m: &Message) -> bool {
        self.cfg.role == Role::Client
            && m.literal()
                .is_some_and(|l| self.dialect.notification_kind(l).is_some())
    }

    /// Whether `text` matches the transcript line at `pos`: exactly (placeholders as written),
    /// or — for the reply to `random?` / `classified?`, which a recording cannot predict — any
    /// value of the same shape unless `--strict`.
    fn matches_at(&self, pos: usize, text: &str) -> bool {
        let Some(m) = self.expected_message(pos) else {
            return false;
        };
        if m.matches(text) {
            return true;
        }
        if self.cfg.strict || self.cfg.role != Role::Client || self.is_notification(m) {
            return false;
        }
        // An error line's reason is free text: any error line stands for any other.
        if m.literal().is_some_and(|l| self.dialect.is_error_line(l)) {
            return self.dialect.is_error_line(text);
        }
        let (Some(kind), Some(expected)) = (self.pending_request, m.literal()) else {
            return false;
        };
        if self.dialect.notification_kind(text).is_some() {
            return false;
        }
        match kind {
            ItemKind::Random => is_int(expected) && is_int(text),
            ItemKind::Classified => {
                !self.dialect.is_error_line(expected) && !self.dialect.is_error_line(text)
            }
        }
    }

    fn unexpected(&mut self, arrival: &Arrival, context: &str) {
        let peer = self.cfg.role.peer();
        let observed = match arrival {
            Arrival::Line { text, .. } => message_line(peer, text),
            Arrival::Oversized => format!("({peer} sent an oversized line)"),
            Arrival::Closed => directive_line(match self.cfg.role {
                Role::Client => &Directive::ExpectClose,
                Role::Server => &Directive::Close,
            }),
        };
        self.push_row(Row::Extra {
            observed: observed.clone(),
        });
        let line = self.entries.get(self.pos).map(|e| e.line);
        let context = if context.is_empty() {
            String::new()
        } else {
            format!(" {context}")
        };
        let at = line.map_or_else(|| "at the end".to_string(), |l| format!("before line {l}"));
        self.diverge(line, format!("{at}: unexpected `{observed}`{context}"));
        if *arrival == Arrival::Closed {
            self.end(false);
        }
    }

    /// Our own line, judged by the checker before it goes out: when it would break a rule
    /// of our own party (the transcript is a negative example of that party, or the
    /// conversation no longer fits the recording), it is not sent and the replay ends
    /// (`false`). Otherwise it is recorded as sent (`true`).
    fn sent(&mut self, text: &str, line: usize, now: Duration) -> bool {
        let own = self.cfg.role.own();
        let terminator = match self.dialect.line_ending {
            LineEnding::Crlf => Terminator::CrLf,
            LineEnding::Lf => Terminator::Lf,
        };
        let own_before = self.findings.own_violations.len();
        self.feed(
            now,
            Some(line),
            EventKind::Line {
                from: own,
                text: text.to_string(),
                terminator,
            },
        );
        if self.findings.own_violations.len() > own_before {
            self.findings.not_sent = Some((line, message_line(own, text)));
            self.end(false);
            return false;
        }
        if own == Party::Client {
            if text == self.dialect.commands.stop {
                self.stop_sent = true;
            }
            if text == self.dialect.commands.random {
                self.pending_request = Some(ItemKind::Random);
            } else if text == self.dialect.commands.classified {
                self.pending_request = Some(ItemKind::Classified);
            }
        }
        self.same(line, message_line(own, text));
        self.observe(now, Happened::Line(own, text.to_string()));
        true
    }

    fn published_event(&mut self, kind: ItemKind, line: Option<usize>, now: Duration) {
        self.feed(now, line, EventKind::Published { kind });
    }

    fn feed(&mut self, now: Duration, source_line: Option<usize>, kind: EventKind) {
        let event = Event {
            at: Some(now),
            source_line,
            kind,
        };
        let found = self.checker.feed(&event);
        self.record_violations(found);
    }

    fn record_violations(&mut self, found: Vec<Violation>) {
        let own = self.cfg.role.own();
        for v in found {
            if v.rule.party() == own {
                // Our own line broke a rule: the script no longer fits this conversation
                // (or the transcript is a negative example). Stop before blaming the peer
                // for its reaction.
                self.findings.own_violations.push(v);
                self.end(false);
            } else if self.findings.violations.len() < MAX_OBSERVED {
                self.findings.violations.push(v);
            }
        }
    }

    fn same(&mut self, line: usize, text: String) {
        self.push_row(Row::Same { line, text });
    }

    fn push_row(&mut self, row: Row) {
        if self.findings.rows.len() < MAX_OBSERVED {
            self.findings.rows.push(row);
        }
    }

    fn observe(&mut self, at: Duration, what: Happened) {
        if self.findings.observed.len() < MAX_OBSERVED {
            self.findings.observed.push(Observed { at, what });
        } else {
            self.findings.truncated = true;
        }
    }

    fn diverge(&mut self, line: Option<usize>, message: String) {
        if self.findings.divergences.len() < MAX_OBSERVED {
            self.findings.divergences.push(Divergence { line, message });
        }
    }

    /// The peer legally did not go on as recorded: the replay ends here, short of the end.
    fn stop(&mut self, message: String) {
        if self.findings.stopped.is_none() {
            self.findings.stopped = Some(message);
        }
        self.end(false);
    }

    fn fail_with_error(&mut self, message: String) {
        if self.findings.error.is_none() {
            self.findings.error = Some(message);
        }
        self.end(false);
    }

    fn end(&mut self, complete: bool) {
        if self.done {
            return;
        }
        self.done = true;
        self.findings.complete = complete;
        self.waiting = Waiting::Nothing;
    }

    /// Gives up before the conversation could start (no connection, no client): the findings
    /// carry `reason` as their error.
    pub fn abandon(mut self, reason: String) -> Findings {
        self.fail_with_error(reason);
        self.findings
    }

    /// Ends the conversation and returns what was found. Obligations left hanging count only
    /// when the replay reached the end of a complete transcript.
    pub fn finish(mut self) -> Findings {
        self.done = true;
        // Lines still waiting were never matched: they are divergences only if the script
        // expected more (it ended early) — otherwise they came after the recording stopped.
        while let Some(arrival) = self.inbox.pop_front() {
            if self.findings.complete {
                self.after_end(&arrival);
            }
        }
        // A closed connection is a finished conversation: what it left hanging is judged.
        let over = self.findings.complete || self.peer_closed || self.we_closed;
        let found = self.checker.finish(over);
        let own = self.cfg.role.own();
        for v in found {
            if v.rule.party() == own {
                self.findings.own_violations.push(v);
            } else {
                self.findings.violations.push(v);
            }
        }
        self.findings
    }
}

/// A message line in transcript syntax (`{` escaped so it parses back literally).
pub fn message_line(from: Party, text: &str) -> String {
    let prefix = match from {
        Party::Client => "C:",
        Party::Server => "S:",
    };
    let m = Message::literal_text(text);
    if m.raw.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix} {}", m.raw)
    }
}

/// A directive in transcript syntax.
pub fn directive_line(d: &Directive) -> String {
    match d {
        Directive::PublishRandom(None) => "! publish random".into(),
        Directive::PublishRandom(Some(n)) => format!("! publish random {n}"),
        Directive::PublishClassified(t) => format!("! publish classified {t}"),
        Directive::Close => "! close".into(),
        Directive::ExpectClose => "! expect close".into(),
        Directive::Quiet(d) => format!("! quiet {}", humantime::format_duration(*d)),
    }
}

fn is_int(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::RuleId;
    use crate::transcript::parse;

    fn config(role: Role, strict: bool) -> ScriptConfig {
        ScriptConfig {
            role,
            strict,
            timeout: Duration::from_secs(2),
            control: true,
            grace: Duration::ZERO,
            items_known: false,
        }
    }

    /// Drives an runner without any IO: whenever it waits, the next scripted arrival comes
    /// (100 ms later), or the timer fires when the script is exhausted. Returns what was sent
    /// and published, and the findings.
    fn run(text: &str, cfg: ScriptConfig, peer: &[&str]) -> (Vec<String>, Vec<Step>, Findings) {
        let t = parse(text, "t").unwrap();
        let mut e = ScriptRunner::new(&t, Dialect::default(), cfg);
        let mut now = Duration::ZERO;
        let mut arrivals = peer.iter().map(|l| match *l {
            "<close>" => Arrival::Closed,
            l => Arrival::Line {
                text: l.to_string(),
                terminator: Terminator::CrLf,
            },
        });
        let (mut sent, mut other) = (vec![], vec![]);
        for _ in 0..100_000 {
            match e.step(now) {
                Step::Done => return (sent, other, e.finish()),
                Step::Send(l) => sent.push(l),
                Step::Close => other.push(Step::Close),
                p @ Step::Publish(_) => {
                    other.push(p);
                    e.published(Ok(()));
                }
                Step::Wait(d) | Step::AwaitClose(d) | Step::Quiet(d) => match arrivals.next() {
                    Some(a) => {
                        now += Duration::from_millis(100);
                        e.receive(a, now);
                    }
                    None => {
                        now += d;
                        e.timer_fired(now);
                    }
                },
            }
        }
        panic!("the runner did not finish");
    }

    #[test]
    fn unpredictable_values_match_any_value_unless_strict() {
        let text = "C: random?\nS: 456902234\nC: classified?\nS: Nice appart\nC: hello\nS: ERR unknown command\n";
        let peer = ["17", "Another ad", "ERR no such command `hello`"];
        let (sent, _, f) = run(text, config(Role::Client, false), &peer);
        assert_eq!(sent, ["random?", "classified?", "hello"]);
        assert!(f.divergences.is_empty() && f.error.is_none(), "{f:?}");
        let (_, _, f) = run(text, config(Role::Client, true), &peer);
        assert_eq!(f.divergences.len(), 3, "{:?}", f.divergences);
    }

    #[test]
    fn an_expected_notification_is_provoked_by_a_publish_of_its_kind() {
        let text = "C: _notif_\nS: will send notifs\nS: notif: random\nC: OK\n";
        let (sent, other, f) = run(
            text,
            config(Role::Client, false),
            &["will send notifs", "notif: random"],
        );
        assert_eq!(sent, ["_notif_", "OK"]);
        assert_eq!(other, [Step::Publish(Directive::PublishRandom(None))]);
        assert!(f.divergences.is_empty(), "{f:?}");
        let lines: Vec<String> = f.observed.iter().map(Observed::line).collect();
        assert_eq!(
            lines[2], "! publish random",
            "the publish is part of what happened"
        );
    }

    #[test]
    fn a_crossing_notification_is_timing_either_way() {
        let text = "C: _notif_\nS: will send notifs\nC: stop_notif\nS: notif: random\nS: OK\n";
        let without = run(
            text,
            config(Role::Client, false),
            &["will send notifs", "OK"],
        )
        .2;
        assert!(without.divergences.is_empty(), "{:?}", without.divergences);
        let text = "C: _notif_\nS: will send notifs\nC: stop_notif\nS: OK\n";
        let with = run(
            text,
            config(Role::Client, false),
            &["will send notifs", "notif: random", "OK"],
        )
        .2;
        assert!(with.divergences.is_empty(), "{:?}", with.divergences);
        let strict = run(
            text,
            config(Role::Client, true),
            &["will send notifs", "notif: random", "OK"],
        )
        .2;
        assert_eq!(strict.divergences.len(), 1, "{:?}", strict.divergences);
    }

    #[test]
    fn an_unexpected_notification_outside_a_stop_is_a_divergence() {
        let text = "C: random?\nS: 1\n";
        let f = run(text, config(Role::Client, false), &["notif: random", "1"]).2;
        assert_eq!(f.divergences.len(), 1, "{:?}", f.divergences);
        assert!(
            f.divergences[0]
                .message
                .contains("unexpected `S: notif: random`")
        );
        assert_eq!(f.violations[0].rule, RuleId::SNotifInMode);
    }

    #[test]
    fn a_silent_peer_fails_the_rule_requiring_the_line_it_did_not_send() {
        let f = run("C: random?\nS: 1\n", config(Role::Client, false), &[]).2;
        assert!(
            f.error.is_none(),
            "a silent server is a finding, not an error: {f:?}"
        );
        assert_eq!(f.violations[0].rule, RuleId::SReplyOne, "{f:?}");
        let stopped = f.stopped.unwrap();
        assert!(stopped.contains("waited 2s for line 2 `S: 1`"), "{stopped}");
        assert!(!f.reached_end);
        let text = "C: _notif_\nS: will send notifs\nC: stop_notif\nS: OK\n";
        let f = run(text, config(Role::Client, false), &["will send notifs"]).2;
        assert_eq!(f.violations[0].rule, RuleId::SStopOk, "{f:?}");
        assert_eq!(f.violations[0].line, Some(4), "{f:?}");
        let f = run(text, config(Role::Client, false), &[]).2;
        assert_eq!(f.violations[0].rule, RuleId::SModeAck, "{f:?}");
    }

    #[test]
    fn a_notification_no_rule_requires_is_a_divergence_when_it_does_not_come() {
        let text = "C: _notif_\nS: will send notifs\nS: notif: random\nC: OK\n";
        let mut cfg = config(Role::Client, false);
        cfg.control = false;
        let f = run(text, cfg, &["will send notifs"]).2;
        assert!(f.violations.is_empty() && f.error.is_none(), "{f:?}");
        assert!(
            f.divergences[0]
                .message
                .contains("did not send `S: notif: random`"),
            "{:?}",
            f.divergences
        );
        assert!(!f.reached_end);
    }

    #[test]
    fn a_line_that_would_break_our_own_rules_is_not_sent_nor_observed() {
        // C-ONE-AT-A-TIME: the second request goes out before the first reply.
        let text = "C: random?\nC: classified?\nS: 1\nS:\n";
        let (sent, _, f) = run(text, config(Role::Client, false), &["1"]);
        assert_eq!(sent, ["random?"]);
        assert_eq!(f.not_sent, Some((2, "C: classified?".to_string())));
        assert_eq!(f.own_violations[0].rule, RuleId::COneAtATime);
        let lines: Vec<String> = f.observed.iter().map(Observed::line).collect();
        assert!(!lines.contains(&"C: classified?".to_string()), "{lines:?}");
        assert!(!f.reached_end);
    }

    #[test]
    fn anything_during_quiet_is_reported_and_the_quiet_reaches_the_checker() {
        let text = "C: _notif_\nS: will send notifs\n! quiet 1s\nC: stop_notif\nS: OK\n";
        let f = run(
            text,
            config(Role::Client, false),
            &["will send notifs", "notif: random", "OK"],
        )
        .2;
        assert!(
            f.divergences
                .iter()
                .any(|d| d.message.contains("during `! quiet`")),
            "{:?}",
            f.divergences
        );
        let lines: Vec<String> = f.observed.iter().map(Observed::line).collect();
        assert!(lines.contains(&"! quiet 1s".to_string()), "{lines:?}");
    }

    #[test]
    fn the_server_role_sends_samples_for_placeholders_and_closes_when_told() {
        let text = "C: random?\nS: {int}\nC: classified?\nS: ad {text}\n! expect close\n";
        let (sent, other, f) = run(
            text,
            config(Role::Server, false),
            &["random?", "classified?"],
        );
        assert!(sent[0].bytes().all(|b| b.is_ascii_digit()), "{sent:?}");
        assert!(sent[1].starts_with("ad "), "{sent:?}");
        assert_eq!(other, [Step::Close]);
        assert!(
            f.complete && f.divergences.is_empty() && f.violations.is_empty(),
            "{f:?}"
        );
    }

    #[test]
    fn a_peer_flooding_unplaceable_lines_is_stopped() {
        let text = "C: _notif_\nS: will send notifs\nC: stop_notif\nS: OK\n";
        let mut peer = vec!["will send notifs"];
        peer.extend(std::iter::repeat_n("notif: random", 2 * MAX_OBSERVED));
        let f = run(text, config(Role::Client, true), &peer).2;
        assert!(f.truncated && f.observed.len() == MAX_OBSERVED);
        assert!(f.rows.len() <= MAX_OBSERVED && f.divergences.len() <= MAX_OBSERVED);
        assert!(!f.violations.is_empty() && f.violations.len() <= MAX_OBSERVED);
    }
}
