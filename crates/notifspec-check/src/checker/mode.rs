//! Entering and leaving notification mode, and the client lines each state allows:
//! `S-MODE-ACK`, `S-STOP-OK`, `S-NO-NOTIF-AFTER-OK` (with `window`), `C-NO-REQ-IN-NOTIF`,
//! `C-STOP-ONLY-IN-NOTIF`.
//!
//! A client line is judged against the state the client can see; the server's reaction to
//! it is queued as an [`Expect`] and judged when the server's next line arrives.

use super::classify::{ClientClass, Shown, at, quote};
use super::owed::{Expect, Mode, Pending};
use super::{Checker, Mark};
use crate::rule::RuleId;

/// The mode family's state: the mode and what the last way out of it implies.
#[derive(Debug)]
pub(super) struct ModeState {
    now: Mode,
    /// The mode was last left by the stop OK here (a stray notification is then
    /// `S-NO-NOTIF-AFTER-OK` rather than `S-NOTIF-IN-MODE`).
    left_by: Mark,
    /// The last server line was the stop OK here (a second one is `S-STOP-OK`).
    just_sent: Mark,
    /// A notification came before the mode ack; the late ack is then accepted silently.
    late_ack_ok: bool,
}

impl Default for ModeState {
    fn default() -> Self {
        ModeState {
            now: Mode::Normal,
            left_by: Mark::Unset,
            just_sent: Mark::Unset,
            late_ack_ok: false,
        }
    }
}

impl ModeState {
    /// The mode now.
    #[inline]
    pub(super) fn now(&self) -> Mode {
        self.now
    }

    /// The mode was entered (its acknowledgement, or something taken for it).
    fn enter(&mut self) {
        self.now = Mode::Notifying;
    }

    /// A notification came before the acknowledgement: the mode is taken as entered, and the
    /// acknowledgement that follows is accepted once.
    pub(super) fn enter_before_ack(&mut self) {
        self.enter();
        self.late_ack_ok = true;
    }

    /// Consumes the pending late acknowledgement if `is_ack` says the line is one (asked
    /// only while one is pending); true if it was one.
    #[inline]
    pub(super) fn take_late_ack(&mut self, is_ack: impl FnOnce() -> bool) -> bool {
        let taken = self.late_ack_ok && is_ack();
        if taken {
            self.late_ack_ok = false;
        }
        taken
    }

    /// The client sent stop_notif in the mode.
    fn stop(&mut self) {
        self.now = Mode::Stopping;
    }

    /// The stop OK at `line` ended the mode.
    fn leave_by_ok(&mut self, line: Option<usize>) {
        self.now = Mode::Normal;
        self.left_by = Mark::At(line);
        self.late_ack_ok = false;
        self.just_sent = Mark::At(line);
    }

    /// The server refused the stop: the mode goes on.
    fn stop_refused(&mut self) {
        self.now = Mode::Notifying;
    }

    /// The stop's OK never came: the server is taken to have left the mode.
    pub(super) fn stop_unanswered(&mut self) {
        if self.now == Mode::Stopping {
            self.now = Mode::Normal;
        }
    }

    /// The stop OK that last ended the mode, if any.
    pub(super) fn left_by(&self) -> Mark {
        self.left_by
    }

    /// A client line arrived: the last server line is no longer "just sent".
    #[inline]
    pub(super) fn client_spoke(&mut self) {
        self.just_sent = Mark::Unset;
    }

    /// A server line arrived: returns the stop OK that was the line before it, if it was one.
    #[inline]
    pub(super) fn take_just_sent(&mut self) -> Mark {
        self.just_sent.take()
    }
}

impl Checker {
    /// A client line outside notification mode (also while the enter command awaits its
    /// acknowledgement). Returns whether the line is a bad command.
    pub(super) fn client_in_normal(
        &mut self,
        class: ClientClass,
        text: &str,
        lf: bool,
        line: Option<usize>,
    ) -> bool {
        let shown = Shown(Some(text));
        let answers_stray = class == ClientClass::Ok && self.window.answers_stray();
        if self.one_at_a_time(shown, line) {
            self.expect_pipelined(class, line, lf);
        } else {
            match class {
                ClientClass::Stop => {
                    let msg = format!("{shown} was sent outside notification mode");
                    self.report(RuleId::CStopOnlyInNotif, line, msg);
                }
                ClientClass::Ok if answers_stray => {}
                ClientClass::Ok => self.stray_answer(shown, line),
                _ => {}
            }
            self.expect(Self::expect_in_normal(class), class, line, lf);
        }
        matches!(
            class,
            ClientClass::Stop | ClientClass::Ok | ClientClass::Other
        )
    }

    /// A client line in notification mode: an answer, the stop, or a forbidden request.
    pub(super) fn client_in_mode(
        &mut self,
        class: ClientClass,
        text: &str,
        line: Option<usize>,
    ) -> bool {
        let shown = Shown(Some(text));
        match class {
            ClientClass::Ok => {
                if self.dialect.answers_required() && self.window.answer() {
                    return false;
                }
                self.stray_answer(shown, line);
                self.expect(Expect::Error { optional: true }, class, line, false);
                self.note_unread_ok();
                true
            }
            ClientClass::Stop => {
                self.window.stop(line);
                self.expect(Expect::StopOk, class, line, false);
                self.mode.stop();
                false
            }
            _ => {
                let allowed = if self.dialect.answers_required() {
                    format!(
                        "only {} and {} are allowed",
                        quote(&self.dialect.answers.ok),
                        quote(&self.dialect.commands.stop)
                    )
                } else {
                    format!("only {} is allowed", quote(&self.dialect.commands.stop))
                };
                let msg = format!("{shown} was sent in notification mode, where {allowed}");
                self.report(RuleId::CNoReqInNotif, line, msg);
                self.expect(Expect::Error { optional: false }, class, line, false);
                true
            }
        }
    }

    /// A client line after stop_notif, before the server's OK.
    pub(super) fn client_while_stopping(
        &mut self,
        class: ClientClass,
        text: &str,
        lf: bool,
        line: Option<usize>,
    ) -> bool {
        let shown = Shown(Some(text));
        match class {
            ClientClass::Ok => {
                self.stray_answer(shown, line);
                self.expect_after_stop(class, line);
                true
            }
            ClientClass::Stop => {
                let msg = format!(
                    "{shown} was sent again before the first one{} was answered; stop_notif is sent once per session",
                    at(self.window.stop_line())
                );
                self.report(RuleId::CStopOnlyInNotif, line, msg);
                self.expect_after_stop(class, line);
                true
            }
            _ => {
                // The stop is still owed its OK, so this is always pipelined.
                if self.one_at_a_time(shown, line) {
                    self.expect_pipelined(class, line, lf);
                } else {
                    self.expect(Self::expect_in_normal(class), class, line, lf);
                }
                class == ClientClass::Other
            }
        }
    }

    /// An `OK` or a second stop sent after stop_notif: the server reads it after the stop,
    /// outside the mode (an error line or nothing, as it may be a race), unless a pipelined
    /// line ahead of it may change the mode again: then it is pipelined too.
    fn expect_after_stop(&mut self, class: ClientClass, line: Option<usize>) {
        if self.replies.has_pipelined() {
            self.expect_pipelined(class, line, false);
        } else {
            self.expect(Expect::Error { optional: true }, class, line, false);
        }
    }

    /// Decides what the pipelined lines the server reads next call for. A server handles
    /// lines in order: having answered everything before a pipelined line, it reads it in
    /// the state those answers left (after `_notif_` is acknowledged, a pipelined
    /// `stop_notif` is a valid stop and a pipelined `random?` a request in the mode). So the
    /// line is applied to that state now, as if sent then; notifications the server sends
    /// before reading it cross it like any notification sent before a line is read. Lines
    /// behind one that changes the mode (enter, stop) wait for its reply.
    pub(super) fn resolve_pipelined(&mut self) {
        while let Some((i, mut p)) = self.replies.next_pipelined() {
            let read_in = self.mode.now();
            let mut stray_ok = false;
            let expect = match read_in {
                Mode::Notifying => match p.class {
                    ClientClass::Stop => {
                        self.window.stop(p.line);
                        self.mode.stop();
                        Some(Expect::StopOk)
                    }
                    ClientClass::Ok if self.dialect.answers_required() && self.window.answer() => {
                        None
                    }
                    ClientClass::Ok => {
                        stray_ok = true;
                        Some(Expect::Error { optional: true })
                    }
                    _ => Some(Expect::Error { optional: false }),
                },
                Mode::Normal | Mode::Stopping => Some(Self::expect_in_normal(p.class)),
            }
            .filter(|e| self.errors_reply() || !matches!(e, Expect::Error { .. }));
            p.pipelined = false;
            p.mode = read_in;
            let settled = expect.map(|expect| Pending { expect, ..p });
            self.replies.settle(i, settled);
            if stray_ok {
                self.note_unread_ok();
            }
        }
    }

    /// The mode acknowledgement arrived (or something taken for it): a session starts.
    pub(super) fn enter_mode(&mut self) {
        self.mode.enter();
        self.window.session_start();
        self.avail.session_start();
    }

    /// The stop OK arrived (or something taken for it): the session is over.
    pub(super) fn leave_mode(&mut self, line: Option<usize>) {
        self.mode.leave_by_ok(line);
    }

    /// The server refused a valid in-state command with an error line (`S-ERR`); the state
    /// stays what it was before the command.
    pub(super) fn error_for_valid(&mut self, p: &Pending, shown: Shown<'_>, line: Option<usize>) {
        let msg = format!(
            "{} is a valid command here, but was answered with error line {shown}",
            self.describe(p)
        );
        self.report(RuleId::SErr, line, msg);
        if p.expect == Expect::StopOk {
            self.mode.stop_refused();
        }
    }
}

#[cfg(test)]
mod mode_tests {
    use super::{Mark, Mode, ModeState};

    #[test]
    fn a_session_goes_normal_notifying_stopping_normal() {
        let mut m = ModeState::default();
        assert_eq!(m.now(), Mode::Normal);
        m.enter();
        assert_eq!(m.now(), Mode::Notifying);
        m.stop();
        assert_eq!(m.now(), Mode::Stopping);
        m.stop_refused();
        assert_eq!(m.now(), Mode::Notifying);
        m.stop();
        assert_eq!(m.left_by(), Mark::Unset);
        m.leave_by_ok(Some(7));
        assert_eq!(m.now(), Mode::Normal);
        assert_eq!(m.left_by(), Mark::At(Some(7)));
    }

    #[test]
    fn the_stop_ok_is_just_sent_until_the_next_line() {
        let mut m = ModeState::default();
        assert_eq!(m.take_just_sent(), Mark::Unset);
        m.leave_by_ok(None);
        assert_eq!(m.take_just_sent(), Mark::At(None));
        assert_eq!(m.take_just_sent(), Mark::Unset);
        m.leave_by_ok(Some(2));
        m.client_spoke();
        assert_eq!(m.take_just_sent(), Mark::Unset);
        // The way out of the mode is remembered past that.
        assert_eq!(m.left_by(), Mark::At(Some(2)));
    }

    #[test]
    fn a_late_ack_is_accepted_once_and_only_after_an_early_notification() {
        let mut m = ModeState::default();
        assert!(!m.take_late_ack(|| panic!("asked with no late ack pending")));
        m.enter_before_ack();
        assert_eq!(m.now(), Mode::Notifying);
        assert!(!m.take_late_ack(|| false));
        assert!(m.take_late_ack(|| true));
        assert!(!m.take_late_ack(|| true));
        // Leaving the mode forgets a late ack never seen.
        m.enter_before_ack();
        m.leave_by_ok(None);
        assert!(!m.take_late_ack(|| true));
    }

    #[test]
    fn an_unanswered_stop_leaves_the_mode_only_while_stopping() {
        let mut m = ModeState::default();
        m.enter();
        m.stop_unanswered();
        assert_eq!(m.now(), Mode::Notifying);
        m.stop();
        m.stop_unanswered();
        assert_eq!(m.now(), Mode::Normal);
    }
}

#[cfg(test)]
mod tests {
    use crate::checker::testkit::{check_in, rules, rules_in, rules_in_yaml};
    use crate::rule::RuleId::*;

    const SESSION: &str = "C: _notif_\nS: will send notifs\nS: notif: classified\nC: OK\nS: notif: random\nC: stop_notif\nS: OK\nC: random?\nS: 1";

    #[test]
    fn a_full_session_passes_in_both_dialects() {
        assert_eq!(rules(SESSION), vec![]);
        let text = SESSION
            .replace("_notif_", "notif")
            .replace("will send notifs", "notif: OK");
        assert_eq!(rules_in("seed-text", &text), vec![]);
        // Each dialect's spelling is wrong in the other.
        assert_eq!(
            rules_in("seed-text", SESSION),
            vec![
                (SErr, 2),
                (SNotifInMode, 3),
                (SNotifInMode, 5),
                (CStopOnlyInNotif, 6),
                (SErr, 7)
            ]
        );
    }

    #[test]
    fn mode_ack_spelling_and_order() {
        assert_eq!(
            rules("C: _notif_\nS: notif: OK\nS: notif: random\nC: OK"),
            vec![(SModeAck, 2)]
        );
        // A notification before the ack: one violation, the late ack is accepted.
        assert_eq!(
            rules("C: _notif_\nS: notif: random\nS: will send notifs\nC: OK"),
            vec![(SModeAck, 2)]
        );
        let v = check_in("seed-session", "C: _notif_\nS: OK", false);
        assert!(
            v[0].message.contains("`will send notifs`"),
            "{}",
            v[0].message
        );
    }

    #[test]
    fn stop_ok_exactly_once() {
        let base = "C: _notif_\nS: will send notifs\nC: stop_notif\n";
        assert_eq!(rules(&format!("{base}S: OK")), vec![]);
        assert_eq!(rules(&format!("{base}S: bye")), vec![(SStopOk, 4)]);
        assert_eq!(rules(&format!("{base}S: OK\nS: OK")), vec![(SStopOk, 5)]);
        assert_eq!(rules(&format!("{base}! close")), vec![(SStopOk, 3)]);
        assert_eq!(rules(&format!("{base}[...]")), vec![]);
    }

    #[test]
    fn client_requests_and_stops_out_of_place() {
        let mode = "C: _notif_\nS: will send notifs\n";
        assert_eq!(
            rules(&format!(
                "{mode}C: random?\nS: ERR not in notification mode"
            )),
            vec![(CNoReqInNotif, 3)]
        );
        assert_eq!(
            rules("C: stop_notif\nS: ERR not in notification mode"),
            vec![(CStopOnlyInNotif, 1)]
        );
        assert_eq!(
            rules(&format!(
                "{mode}C: stop_notif\nC: stop_notif\nS: OK\nS: ERR no"
            )),
            vec![(CStopOnlyInNotif, 4)]
        );
        // A request right after stop_notif, before its OK: the stop is still unanswered.
        assert_eq!(
            rules(&format!("{mode}C: stop_notif\nC: random?\nS: OK\nS: 5")),
            vec![(COneAtATime, 4)]
        );
    }

    /// Pipelined client lines: the client is reported once (`C-ONE-AT-A-TIME`), and the
    /// server is judged against a correct server that reads the lines in order. Each case
    /// pairs that server's reaction (only the client rule) with a wrong one (still flagged).
    mod pipelined {
        use super::*;

        #[test]
        fn enter_then_stop() {
            let sent = "C: _notif_\nC: stop_notif\nS: will send notifs\n";
            assert_eq!(rules(&format!("{sent}S: OK")), vec![(COneAtATime, 2)]);
            // The connect-time ad announced right after the ack crosses the stop.
            assert_eq!(
                rules(&format!(
                    "{sent}S: notif: classified\nS: OK\nC: random?\nS: 1"
                )),
                vec![(COneAtATime, 2)]
            );
            // Wrong: the stop, read in the mode, refused.
            assert_eq!(
                rules(&format!("{sent}S: ERR not in notification mode")),
                vec![(COneAtATime, 2), (SErr, 4)]
            );
            // Wrong: two notifications cross a stop sent with none outstanding.
            assert_eq!(
                rules(&format!(
                    "{sent}S: notif: classified\nS: notif: random\nS: OK"
                )),
                vec![(COneAtATime, 2), (SNotifWindow, 5)]
            );
            // Wrong: a notification after the stop OK.
            assert_eq!(
                rules(&format!("{sent}S: OK\nS: notif: random")),
                vec![(COneAtATime, 2), (SNoNotifAfterOk, 5)]
            );
            // The client still must not answer the crossing notification.
            assert_eq!(
                rules(&format!("{sent}S: notif: random\nC: OK\nS: OK")),
                vec![(COneAtATime, 2), (CNoAckAfterStop, 5)]
            );
        }

        #[test]
        fn enter_then_stop_when_errors_are_ignored() {
            let yaml = crate::dialect::Dialect::default()
                .to_yaml()
                .replace("policy: error", "policy: ignore");
            let sent = "C: _notif_\nC: stop_notif\nS: will send notifs\n";
            assert_eq!(
                rules_in_yaml(&yaml, &format!("{sent}S: OK")),
                vec![(COneAtATime, 2)]
            );
            assert_eq!(
                rules_in_yaml(&yaml, &format!("{sent}! quiet 1s")),
                vec![(COneAtATime, 2), (SStopOk, 4)]
            );
        }

        #[test]
        fn enter_refused_then_stop() {
            // The server refuses the enter command (its mistake), so it reads the stop outside
            // the mode and rightly refuses that too: one server violation, not two.
            assert_eq!(
                rules("C: _notif_\nC: stop_notif\nS: ERR busy\nS: ERR not in notification mode"),
                vec![(COneAtATime, 2), (SErr, 3)]
            );
        }

        #[test]
        fn two_requests() {
            let sent = "C: random?\nC: random?\nS: 1\n";
            assert_eq!(rules(&format!("{sent}S: 2")), vec![(COneAtATime, 2)]);
            assert_eq!(
                rules(&format!("{sent}S: ERR one at a time")),
                vec![(COneAtATime, 2), (SErr, 4)]
            );
        }

        #[test]
        fn enter_then_request() {
            let sent = "C: _notif_\nC: random?\nS: will send notifs\n";
            assert_eq!(
                rules(&format!("{sent}S: ERR not allowed in notification mode")),
                vec![(COneAtATime, 2)]
            );
            assert_eq!(
                rules(&format!(
                    "{sent}S: notif: classified\nS: ERR not allowed in notification mode\nC: OK"
                )),
                vec![(COneAtATime, 2)]
            );
            // Wrong: the server answered the request as if outside the mode.
            assert_eq!(
                rules(&format!("{sent}S: 5")),
                vec![(COneAtATime, 2), (SErr, 4)]
            );
        }

        #[test]
        fn enter_twice() {
            let sent = "C: _notif_\nC: _notif_\nS: will send notifs\n";
            assert_eq!(
                rules(&format!("{sent}S: ERR already")),
                vec![(COneAtATime, 2)]
            );
            assert_eq!(
                rules(&format!("{sent}S: will send notifs")),
                vec![(COneAtATime, 2), (SErr, 4)]
            );
        }

        #[test]
        fn stop_then_request_in_the_mode() {
            let sent = "C: _notif_\nS: will send notifs\nC: stop_notif\nC: random?\nS: OK\n";
            assert_eq!(rules(&format!("{sent}S: 5")), vec![(COneAtATime, 4)]);
            assert_eq!(
                rules(&format!("{sent}S: ERR not in notification mode")),
                vec![(COneAtATime, 4), (SErr, 6)]
            );
        }

        #[test]
        fn enter_stop_and_request() {
            let sent = "C: _notif_\nC: stop_notif\nC: classified?\nS: will send notifs\nS: OK\n";
            assert_eq!(
                rules(&format!("{sent}S: first ad")),
                vec![(COneAtATime, 2), (COneAtATime, 3)]
            );
            assert_eq!(
                rules(&format!("{sent}S: ERR no")),
                vec![(COneAtATime, 2), (COneAtATime, 3), (SErr, 6)]
            );
        }
    }
}
