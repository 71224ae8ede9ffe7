//! Entering and leaving notification mode, and the client lines each state allows:
//! `S-MODE-ACK`, `S-STOP-OK`, `S-NO-NOTIF-AFTER-OK` (with `window`), `C-NO-REQ-IN-NOTIF`,
//! `C-STOP-ONLY-IN-NOTIF`.
//!
//! A client line is judged against the state the client can see; the server's reaction to
//! it is queued as an [`Expect`] and judged when the server's next line arrives.

use super::classify::{ClientClass, Shown, at, quote};
use super::requests::Expect;
use super::{Checker, Mode};
use crate::rule::RuleId;

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
        let answers_stray = class == ClientClass::Ok && self.window.stray;
        if !self.one_at_a_time(shown, line) {
            match class {
                ClientClass::Stop => {
                    let msg = format!("{shown} was sent outside notification mode");
                    self.report(RuleId::CStopOnlyInNotif, line, msg);
                }
                ClientClass::Ok if answers_stray => {}
                ClientClass::Ok => self.stray_answer(shown, line),
                _ => {}
            }
        }
        self.expect(Self::expect_in_normal(class), class, line, lf);
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
                true
            }
            ClientClass::Stop => {
                self.window.stop(line);
                self.expect(Expect::StopOk, class, line, false);
                self.mode = Mode::Stopping;
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
                self.expect(Expect::Error { optional: true }, class, line, false);
                true
            }
            ClientClass::Stop => {
                let msg = format!(
                    "{shown} was sent again before the first one{} was answered; stop_notif is sent once per session",
                    at(self.window.stop_line())
                );
                self.report(RuleId::CStopOnlyInNotif, line, msg);
                self.expect(Expect::Error { optional: true }, class, line, false);
                true
            }
            _ => {
                self.one_at_a_time(shown, line);
                self.expect(Self::expect_in_normal(class), class, line, lf);
                class == ClientClass::Other
            }
        }
    }

    /// The mode acknowledgement arrived (or something taken for it): a session starts.
    pub(super) fn enter_mode(&mut self) {
        self.mode = Mode::Notifying;
        self.window.session_start();
        self.avail.session_start();
    }

    /// The stop OK arrived (or something taken for it): the session is over.
    pub(super) fn leave_mode(&mut self, line: Option<usize>) {
        self.mode = Mode::Normal;
        self.left_by_ok = Some(line);
        self.late_ack_ok = false;
        self.stop_ok_just_sent = Some(line);
    }

    /// The server refused a valid in-state command with an error line (`S-ERR`); the state
    /// stays what it was before the command.
    pub(super) fn error_for_valid(
        &mut self,
        p: &super::requests::Pending,
        shown: Shown<'_>,
        line: Option<usize>,
    ) {
        let msg = format!(
            "{} is a valid command here, but was answered with error line {shown}",
            self.describe(p)
        );
        self.report(RuleId::SErr, line, msg);
        if p.expect == Expect::StopOk {
            self.mode = Mode::Notifying;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::checker::testkit::{check_in, rules, rules_in};
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
}
