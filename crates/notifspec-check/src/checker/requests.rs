//! Requests and their replies: `S-REPLY-ONE`, `S-RANDOM-INT`, `S-CLASSIFIED-LINE`,
//! `C-ONE-AT-A-TIME`.
//!
//! Replies are matched to requests in order. Every client line that calls for a server line
//! (a request, the enter or stop command, a bad line under `errors.policy: error`) pushes an
//! [`Expect`] onto a bounded queue; each server line that is not a notification pops the head
//! and is judged against it. A server line with nothing to answer is an extra reply.

use std::collections::VecDeque;
use std::time::Duration;

use super::Checker;
use super::Mark;
use super::classify::{ClientClass, ServerClass, Shown, at, is_decimal, quote};
use super::owed::{Expect, Mode, Pending};
use crate::rule::RuleId;

/// Replies remembered individually. A client that pipelines more requests than this is
/// already reported (`C-ONE-AT-A-TIME`); the replies beyond it are counted and consumed
/// without being judged, so memory stays bounded whatever a client sends.
pub const MAX_PENDING: usize = 8;

/// The reply queue.
#[derive(Debug)]
pub(super) struct Replies {
    queue: VecDeque<Pending>,
    /// Pending replies past [`MAX_PENDING`], after everything in `queue`.
    overflow: u64,
}

impl Default for Replies {
    fn default() -> Self {
        Replies {
            queue: VecDeque::with_capacity(MAX_PENDING),
            overflow: 0,
        }
    }
}

/// The outcome of taking the reply a server line answers.
pub(super) enum Popped {
    /// The line answers this.
    Judge(Pending),
    /// The line answers a request beyond [`MAX_PENDING`]: not judged.
    Unjudged,
    /// Nothing was waiting.
    Nothing,
}

impl Replies {
    pub(super) fn push(&mut self, p: Pending) {
        if self.queue.len() == MAX_PENDING
            && let Some(i) = self
                .queue
                .iter()
                .position(|p| p.expect == Expect::Error { optional: true })
        {
            // An optional reply the server may never send must not crowd out real ones.
            self.queue.remove(i);
        }
        if self.overflow == 0 && self.queue.len() < MAX_PENDING {
            self.queue.push_back(p);
        } else {
            self.overflow = self.overflow.saturating_add(1);
        }
    }

    /// The first reply the server must send (optional error replies are skipped).
    pub(super) fn blocking(&self) -> Option<&Pending> {
        self.queue
            .iter()
            .find(|p| !matches!(p.expect, Expect::Error { optional: true }))
    }

    /// Takes the entry a server line answers: optional error replies at the head are dropped
    /// unless the line is an error line.
    pub(super) fn pop_for(&mut self, is_error: bool) -> Popped {
        while !is_error
            && self
                .queue
                .front()
                .is_some_and(|p| p.expect == Expect::Error { optional: true })
        {
            self.queue.pop_front();
        }
        if let Some(p) = self.queue.pop_front() {
            Popped::Judge(p)
        } else if self.overflow > 0 {
            self.overflow -= 1;
            Popped::Unjudged
        } else {
            Popped::Nothing
        }
    }

    /// The first pipelined entry, if every entry before it leaves the mode as it is (the
    /// server reads a line after answering those before it, so a mode change ahead must be
    /// answered first).
    pub(super) fn next_pipelined(&self) -> Option<(usize, Pending)> {
        for (i, p) in self.queue.iter().enumerate() {
            if p.pipelined {
                return Some((i, *p));
            }
            if matches!(p.expect, Expect::Ack | Expect::StopOk) {
                return None;
            }
        }
        None
    }

    /// Whether the server must still send a reply (optional error replies do not count).
    pub(super) fn owes(&self) -> bool {
        self.blocking().is_some() || self.overflow > 0
    }

    /// Drops the first optional error reply; false if there is none.
    pub(super) fn drop_optional(&mut self) -> bool {
        let optional = self
            .queue
            .iter()
            .position(|p| p.expect == Expect::Error { optional: true });
        optional.map(|i| self.queue.remove(i)).is_some()
    }

    /// Whether a pipelined line waits to be decided.
    pub(super) fn has_pipelined(&self) -> bool {
        self.queue.iter().any(|p| p.pipelined)
    }

    /// Replaces entry `i` (`None`: the line calls for nothing after all).
    pub(super) fn settle(&mut self, i: usize, p: Option<Pending>) {
        match p {
            Some(p) => self.queue[i] = p,
            None => {
                self.queue.remove(i);
            }
        }
    }

    /// How many client `OK`s still wait for the server's (optional) error reply.
    pub(super) fn oks(&self) -> usize {
        self.queue
            .iter()
            .filter(|p| p.class == ClientClass::Ok && !p.pipelined)
            .count()
    }

    /// Drops the first `OK` waiting for an error reply: the server took it as an answer.
    pub(super) fn forget_ok(&mut self) {
        if let Some(i) = self
            .queue
            .iter()
            .position(|p| p.class == ClientClass::Ok && !p.pipelined)
        {
            self.queue.remove(i);
        }
    }

    pub(super) fn clear(&mut self) {
        self.queue.clear();
        self.overflow = 0;
    }

    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }
}

impl Checker {
    /// The client line of `p`, for messages: "`random?` (line 3)".
    pub(super) fn describe(&self, p: &Pending) -> String {
        let c = &self.dialect.commands;
        let what = match p.class {
            ClientClass::Random => quote(&c.random),
            ClientClass::Classified => quote(&c.classified),
            ClientClass::Enter => quote(&c.enter),
            ClientClass::Stop => quote(&c.stop),
            ClientClass::Ok => quote(&self.dialect.answers.ok),
            ClientClass::Other => "the unknown command".to_string(),
        };
        let context = match (p.expect, p.mode) {
            (Expect::Error { .. }, Mode::Notifying) => " sent in notification mode",
            (Expect::Error { .. }, Mode::Stopping) => " sent after stop_notif",
            (Expect::Error { .. }, Mode::Normal) if p.class != ClientClass::Other => {
                " sent outside notification mode"
            }
            _ => "",
        };
        format!("{what}{context}{}", at(p.line))
    }

    /// What a client line calls for when it is sent outside notification mode.
    pub(super) fn expect_in_normal(class: ClientClass) -> Expect {
        match class {
            ClientClass::Random => Expect::Random,
            ClientClass::Classified => Expect::Classified,
            ClientClass::Enter => Expect::Ack,
            ClientClass::Ok => Expect::Error { optional: true },
            ClientClass::Stop | ClientClass::Other => Expect::Error { optional: false },
        }
    }

    /// Records that the client line `class` calls for `expect`. Under `errors.policy:
    /// ignore` a bad line calls for nothing.
    pub(super) fn expect(
        &mut self,
        expect: Expect,
        class: ClientClass,
        line: Option<usize>,
        lf: bool,
    ) {
        if matches!(expect, Expect::Error { .. }) && !self.errors_reply() {
            return;
        }
        self.replies.push(Pending {
            expect,
            class,
            mode: self.mode.now(),
            line,
            lf,
            pipelined: false,
        });
    }

    /// Records a client line sent while a reply was owed (already `C-ONE-AT-A-TIME`). What
    /// it calls for is decided when the server gets to it (`resolve_pipelined`), so it is
    /// queued even when, in today's state, it would call for nothing.
    pub(super) fn expect_pipelined(&mut self, class: ClientClass, line: Option<usize>, lf: bool) {
        self.replies.push(Pending {
            expect: Self::expect_in_normal(class),
            class,
            mode: self.mode.now(),
            line,
            lf,
            pipelined: true,
        });
    }

    /// `C-ONE-AT-A-TIME`: reports a client line sent while a reply is owed; true if it was.
    pub(super) fn one_at_a_time(&mut self, shown: Shown<'_>, line: Option<usize>) -> bool {
        let Some(p) = self.replies.blocking().copied() else {
            return false;
        };
        let msg = format!(
            "{shown} was sent while {} was still waiting for its reply",
            self.describe(&p)
        );
        self.report(RuleId::COneAtATime, line, msg);
        true
    }

    /// Whether a notification-looking line is meant as a reply: an ad that happens to start
    /// like a notification, or a misspelled mode acknowledgement.
    pub(super) fn notif_like_is_reply(&self) -> bool {
        self.mode.now() == Mode::Normal
            && self
                .replies
                .blocking()
                .is_some_and(|p| matches!(p.expect, Expect::Classified | Expect::Ack))
    }

    /// A server line that is not a notification: the reply to the head of the queue.
    pub(super) fn reply(
        &mut self,
        class: ServerClass,
        text: &str,
        oversized: bool,
        shown: Shown<'_>,
        line: Option<usize>,
        after_stop_ok: Mark,
    ) {
        let is_error = class == ServerClass::Error;
        let oks = self.replies.oks();
        let popped = self.replies.pop_for(is_error);
        if self.errors_reply() {
            // Each OK whose error reply arrived (or was skipped) has been read by the server.
            let read = oks - self.replies.oks();
            self.window.oks_read(read);
        } else {
            // No error reply tells when the server read an OK: by its next reply, it has.
            self.window.all_oks_read();
        }
        match popped {
            Popped::Judge(p) => {
                self.judge(p, is_error, text, oversized, shown, line);
                self.resolve_pipelined();
            }
            Popped::Unjudged => {}
            Popped::Nothing => self.unsolicited(is_error, text, shown, line, after_stop_ok),
        }
    }

    fn judge(
        &mut self,
        p: Pending,
        is_error: bool,
        text: &str,
        oversized: bool,
        shown: Shown<'_>,
        line: Option<usize>,
    ) {
        if is_error && !matches!(p.expect, Expect::Error { .. }) {
            self.error_for_valid(&p, shown, line);
            return;
        }
        let d = &self.dialect;
        match p.expect {
            Expect::Random => {
                if !oversized && is_decimal(text) {
                    self.avail.random_fetched();
                } else {
                    let msg = format!(
                        "reply {shown} to {} is not a decimal integer",
                        self.describe(&p)
                    );
                    self.report(RuleId::SRandomInt, line, msg);
                }
            }
            Expect::Classified => {
                // Notification lines never get here: they are judged as notifications.
                let protocol = text == d.replies.mode_ack || text == d.replies.stop_ok;
                if oversized || protocol {
                    let what = if oversized {
                        "longer than the line limit"
                    } else {
                        "a protocol message, not an ad"
                    };
                    let msg = format!("reply {shown} to {} is {what}", self.describe(&p));
                    self.report(RuleId::SClassifiedLine, line, msg);
                } else {
                    self.classified_reply(&p, text.is_empty(), line);
                }
            }
            Expect::Ack => {
                if oversized || text != d.replies.mode_ack {
                    let msg = format!(
                        "{} was acknowledged with {shown} instead of the dialect's {}",
                        self.describe(&p),
                        quote(&d.replies.mode_ack)
                    );
                    self.report(RuleId::SModeAck, line, msg);
                }
                self.enter_mode();
            }
            Expect::StopOk => {
                if oversized || text != d.replies.stop_ok {
                    let msg = format!(
                        "{} was answered with {shown} instead of {}",
                        self.describe(&p),
                        quote(&d.replies.stop_ok)
                    );
                    self.report(RuleId::SStopOk, line, msg);
                }
                self.leave_mode(line);
            }
            Expect::Error { .. } => {
                if !is_error {
                    let msg = format!(
                        "{} was answered with {shown} instead of an error line `{} <reason>`",
                        self.describe(&p),
                        d.errors.prefix
                    );
                    self.report(RuleId::SErr, line, msg);
                }
            }
        }
    }

    /// A server line nothing asked for.
    fn unsolicited(
        &mut self,
        is_error: bool,
        text: &str,
        shown: Shown<'_>,
        line: Option<usize>,
        after_stop_ok: Mark,
    ) {
        let d = &self.dialect;
        if let Mark::At(ok_line) = after_stop_ok
            && text == d.replies.stop_ok
        {
            let msg = format!(
                "second {shown}: stop_notif was already answered by the OK{}",
                at(ok_line)
            );
            self.report(RuleId::SStopOk, line, msg);
        } else if is_error && !self.client.spoke() {
            // A refusal of the connection itself (`ERR too many connections`): not a reply.
        } else if self.mode.take_late_ack(|| text == d.replies.mode_ack) {
        } else if is_error && !self.errors_reply() && self.client.last_bad() {
            let msg = format!(
                "error line {shown} sent, but dialect `{}` ignores bad commands (no reply at all)",
                d.name
            );
            self.report(RuleId::SErr, line, msg);
        } else {
            let msg = format!("{shown} was sent though no request was waiting for a reply");
            self.report(RuleId::SReplyOne, line, msg);
        }
    }

    /// Reports the first reply still owed, at a quiet period (`event_line`) or at the end of
    /// a complete conversation (`None`: the request's own line), then forgets the queue.
    pub(super) fn missing_reply(&mut self, quiet: Option<Duration>, event_line: Option<usize>) {
        if let Some(p) = self.replies.blocking().copied() {
            let within = match quiet {
                Some(d) => format!("within {}", humantime::format_duration(d)),
                None => "by the end of the conversation".to_string(),
            };
            let what = self.describe(&p);
            let (rule, msg) = match p.expect {
                Expect::Random | Expect::Classified | Expect::Ack if p.lf => (
                    RuleId::SFraming,
                    format!(
                        "no reply to {what} {within}; it ended with a bare LF, which a server must accept as a line terminator"
                    ),
                ),
                Expect::Random | Expect::Classified => {
                    (RuleId::SReplyOne, format!("no reply to {what} {within}"))
                }
                // The rule that requires the acknowledgement is the finding.
                Expect::Ack => (
                    RuleId::SModeAck,
                    format!(
                        "{what} was not acknowledged with {} {within}",
                        quote(&self.dialect.replies.mode_ack)
                    ),
                ),
                Expect::StopOk => (
                    RuleId::SStopOk,
                    format!(
                        "{what} was not answered with {} {within}",
                        quote(&self.dialect.replies.stop_ok)
                    ),
                ),
                Expect::Error { .. } => {
                    (RuleId::SErr, format!("{what} got no error line {within}"))
                }
            };
            self.report(rule, event_line.or(p.line), msg);
            // Resynchronise: the server is taken to have left the mode.
            self.mode.stop_unanswered();
        }
        self.replies.clear();
    }
}

#[cfg(test)]
mod tests {
    use crate::checker::testkit::{rules, rules_with};
    use crate::rule::RuleId::*;

    #[test]
    fn replies_in_order_pass() {
        assert_eq!(
            rules("C: random?\nS: 12\nC: classified?\nS: Nice appart\nC: classified?\nS:"),
            vec![]
        );
    }

    #[test]
    fn missing_and_extra_replies() {
        assert_eq!(rules("C: random?\n! quiet 1s"), vec![(SReplyOne, 2)]);
        assert_eq!(rules("C: random?\n! close"), vec![(SReplyOne, 1)]);
        // A missing acknowledgement is a finding of the rule requiring it.
        assert_eq!(rules("C: _notif_\n! quiet 1s"), vec![(SModeAck, 2)]);
        assert_eq!(rules("C~ _notif_\n! quiet 1s"), vec![(SFraming, 2)]);
        assert_eq!(rules("C: random?\n[...]"), vec![]);
        assert_eq!(rules("C: random?\nS: 1\nS: 2"), vec![(SReplyOne, 3)]);
        assert_eq!(rules("S: hello"), vec![(SReplyOne, 1)]);
        // A connection refused before the client spoke is not an extra reply.
        assert_eq!(rules("S: ERR too many connections\n! expect close"), vec![]);
        assert_eq!(rules("C: random?\nS: 1\nS: ERR oops"), vec![(SReplyOne, 3)]);
    }

    #[test]
    fn malformed_replies() {
        assert_eq!(rules("C: random?\nS: 12a"), vec![(SRandomInt, 2)]);
        assert_eq!(rules("C: random?\nS:"), vec![(SRandomInt, 2)]);
        assert_eq!(rules("C: random?\nS! x"), vec![(SRandomInt, 2)]);
        assert_eq!(
            rules("C: classified?\nS: will send notifs"),
            vec![(SClassifiedLine, 2)]
        );
        assert_eq!(rules("C: classified?\nS! x"), vec![(SClassifiedLine, 2)]);
        // An ad may start like a notification without being one.
        assert_eq!(rules("C: classified?\nS: notif: ad text"), vec![]);
    }

    #[test]
    fn pipelined_requests_are_one_violation_and_replies_still_match() {
        assert_eq!(
            rules("C: random?\nC: classified?\nS: 1\nS: an ad"),
            vec![(COneAtATime, 2)]
        );
        let v = crate::checker::testkit::check("C: random?\nC: classified?", false);
        assert!(
            v[0].message.contains("`random?` (line 1)"),
            "{}",
            v[0].message
        );
    }

    #[test]
    fn pipelining_beyond_the_queue_stays_bounded() {
        let mut script = String::new();
        for _ in 0..50 {
            script.push_str("C: random?\n");
        }
        for _ in 0..50 {
            script.push_str("S: 7\n");
        }
        let got = rules(&script);
        assert_eq!(got.len(), 49);
        assert!(got.iter().all(|(r, _)| *r == COneAtATime));
        assert_eq!(
            rules_with(&script, "S: 8"),
            got_plus(&got, (SReplyOne, 101))
        );
    }

    #[test]
    fn unanswered_stray_oks_do_not_crowd_out_requests() {
        let mut script = "C: OK\n".repeat(20);
        script.push_str("C: random?\nC: random?\nS: 1\nS: 2");
        let got = rules(&script);
        assert_eq!(got.len(), 21, "{got:?}");
        assert_eq!(got[20], (COneAtATime, 22));
    }

    fn got_plus(
        got: &[(crate::rule::RuleId, usize)],
        extra: (crate::rule::RuleId, usize),
    ) -> Vec<(crate::rule::RuleId, usize)> {
        let mut v = got.to_vec();
        v.push(extra);
        v
    }
}
