//! Notifications, the client's answers and the stop_notif race: `S-NOTIF-IN-MODE`,
//! `S-NOTIF-WINDOW`, `S-NOTIF-KIND`, `S-NO-NOTIF-AFTER-OK`, `C-ACK`, `C-ACK-ONLY-NOTIF`,
//! `C-NO-ACK-AFTER-STOP`.
//!
//! With `answers.policy: required` the server keeps at most one notification unanswered.
//! The race: a notification the server sent before it read stop_notif may arrive after the
//! client sent it. If stop_notif answered an outstanding notification, a server that waits
//! for each answer reads the stop before it could notify again, so nothing may cross; if
//! nothing was outstanding, at most one notification may cross. The client never answers a
//! crossing notification. With `answers.policy: none` there is no window, no answer, and any
//! number of notifications may cross the stop.
//!
//! An `OK` the server has not read yet (a stray one racing a notification, or one pipelined
//! after the enter command) answers, to the server, the next notification it sends before
//! reading it; see `Window::unread_oks`.

use super::Checker;
use super::Mark;
use super::classify::{Shown, at, quote};
use super::owed::{Expect, Mode};
use crate::dialect::ItemKind;
use crate::rule::RuleId;

/// A notification as remembered for messages: where it was and what it announced
/// (`None`: a line that only looked like a notification).
pub(super) type Sent = (Option<usize>, Option<ItemKind>);

/// The notification window of the current session.
#[derive(Debug, Default)]
pub(super) struct Window {
    /// Notifications not answered yet (more than one only after an `S-NOTIF-WINDOW`
    /// violation, so each of the client's answers still finds its notification).
    outstanding: u32,
    /// The most recent notification.
    last: Option<Sent>,
    /// The client's stop line, once sent in this session.
    stop_line: Option<usize>,
    /// The notification the stop answered, if one was outstanding.
    stop_answered: Option<Sent>,
    /// The first notification that crossed the stop.
    crossed: Option<Sent>,
    /// `OK`s the client sent with nothing outstanding (stray or pipelined ones) that the
    /// server may not have read yet: a notification the server sends before reading one is
    /// answered by it, as far as the server can tell.
    unread_oks: u32,
    /// Under `errors.policy: ignore` no error reply tells whether the server read such an
    /// `OK` before or after a notification: the server may have taken that notification as
    /// answered. So the server may count up to this many fewer unanswered notifications than
    /// `outstanding` (never more than it).
    ahead: u32,
    /// A notification was sent outside the mode (already reported): the client's next `OK`
    /// may answer it without being blamed for the server's mistake.
    stray: bool,
}

impl Window {
    pub(super) fn session_start(&mut self) {
        *self = Window::default();
    }

    /// An OK from the client: true if it answers an outstanding notification.
    pub(super) fn answer(&mut self) -> bool {
        if self.outstanding == 0 {
            return false;
        }
        self.outstanding -= 1;
        if self.ahead > self.outstanding {
            // The server had taken one of these as answered already: to it, this OK
            // answers the next notification.
            self.ahead -= 1;
            self.unread_oks = self.unread_oks.saturating_add(1);
        }
        true
    }

    /// The client sent stop_notif at `line`.
    pub(super) fn stop(&mut self, line: Option<usize>) {
        self.stop_line = line;
        // As the server may see it: a stop sent when the server counts nothing unanswered
        // answers nothing.
        self.stop_answered = if self.outstanding > self.ahead {
            self.last
        } else {
            None
        };
        self.outstanding = 0;
        self.ahead = 0;
        self.crossed = None;
    }

    pub(super) fn stop_line(&self) -> Option<usize> {
        self.stop_line
    }

    /// A notification was sent outside the mode.
    fn sent_stray(&mut self) {
        self.stray = true;
    }

    /// Whether the client's next `OK` may answer a notification sent outside the mode.
    pub(super) fn answers_stray(&self) -> bool {
        self.stray
    }

    /// The server read `n` of the unread `OK`s (their error replies arrived).
    #[inline]
    pub(super) fn oks_read(&mut self, n: usize) {
        // `n` is at most the reply queue's length, bounded by `MAX_PENDING`.
        self.unread_oks = self.unread_oks.saturating_sub(n as u32);
    }

    /// The server has read every `OK` sent so far.
    pub(super) fn all_oks_read(&mut self) {
        self.unread_oks = 0;
    }

    /// The client sent an `OK` with nothing outstanding; at most `cap` are unread (the
    /// ones still in the reply queue), if known.
    fn unread_ok_sent(&mut self, cap: Option<usize>) {
        let mut n = self.unread_oks.saturating_add(1);
        if let Some(cap) = cap {
            // At most the reply queue's length, bounded by `MAX_PENDING`.
            n = n.min(cap as u32);
        }
        self.unread_oks = n;
    }

    /// Whether an `OK` the server has not read yet answers the next notification.
    fn has_unread_ok(&self) -> bool {
        self.unread_oks > 0
    }

    /// A notification was answered by an unread `OK` (call only when
    /// [`has_unread_ok`](Window::has_unread_ok)).
    fn unread_ok_answered(&mut self) {
        self.unread_oks -= 1;
    }

    /// Whether the server, as far as it can tell, has a notification unanswered.
    fn full(&self) -> bool {
        self.outstanding > self.ahead
    }

    /// Whether no notification is unanswered at all.
    fn is_free(&self) -> bool {
        self.outstanding == 0
    }

    /// The most recent notification.
    fn last(&self) -> Option<Sent> {
        self.last
    }

    /// The most recent notification, if it (or an earlier one) is still unanswered.
    fn unanswered(&self) -> Option<Sent> {
        self.last.filter(|_| self.outstanding > 0)
    }

    /// A notification was sent in the mode and is owed an answer if `counted` (answers
    /// required) and not answered by an unread `OK` already.
    fn sent(&mut self, sent: Sent, counted: bool) {
        if counted {
            self.outstanding = self.outstanding.saturating_add(1);
            if sent.1.is_some() && self.unread_oks > 0 {
                // Only under `errors.policy: ignore` (see `ahead`).
                self.unread_oks -= 1;
                self.ahead += 1;
            }
        }
        self.last = Some(sent);
    }

    /// The notification the stop answered, if one was outstanding.
    fn stop_answered(&self) -> Option<Sent> {
        self.stop_answered
    }

    /// The first notification that crossed the stop.
    fn crossed(&self) -> Option<Sent> {
        self.crossed
    }

    /// A notification crossed the stop (only the first is remembered).
    fn cross(&mut self, sent: Sent) {
        if self.crossed.is_none() {
            self.crossed = Some(sent);
        }
    }

    /// After the session, a crossing notification matters only until the client's next line.
    pub(super) fn forget_crossing(&mut self) {
        self.crossed = None;
        self.stray = false;
    }
}

impl Checker {
    fn sent_name(&self, sent: Sent) -> String {
        let what = match sent.1 {
            Some(kind) => quote(self.dialect.notification(kind)),
            None => "a malformed notification".to_string(),
        };
        format!("{what}{}", at(sent.0))
    }

    /// A server line that is (or looks like) a notification; `kind` is `None` for a line that
    /// only starts like one.
    #[inline]
    pub(super) fn notification(
        &mut self,
        kind: Option<ItemKind>,
        shown: Shown<'_>,
        line: Option<usize>,
    ) {
        match self.mode.now() {
            Mode::Normal => self.notification_outside(kind, shown, line),
            Mode::Notifying => self.notification_in_mode(kind, shown, line),
            Mode::Stopping => self.notification_crossing(kind, shown, line),
        }
    }

    fn notification_outside(
        &mut self,
        kind: Option<ItemKind>,
        shown: Shown<'_>,
        line: Option<usize>,
    ) {
        let awaiting_ack = self
            .replies
            .blocking()
            .is_some_and(|p| p.expect == Expect::Ack);
        if awaiting_ack && kind.is_some() {
            let msg = format!(
                "notification {shown} was sent before the mode acknowledgement {}",
                quote(&self.dialect.replies.mode_ack)
            );
            self.report(RuleId::SModeAck, line, msg);
            // Resynchronise: the server is taken to be in the mode; its late ack is accepted.
            self.replies.pop_for(false);
            self.enter_mode();
            self.mode.enter_before_ack();
            self.notification_in_mode(kind, shown, line);
            self.resolve_pipelined();
        } else if let Mark::At(ok_line) = self.mode.left_by() {
            let msg = format!(
                "notification {shown} was sent after the OK{} that completed stop_notif; none may follow until the mode is entered again",
                at(ok_line)
            );
            self.report(RuleId::SNoNotifAfterOk, line, msg);
            self.window.sent_stray();
        } else {
            let msg = format!(
                "notification {shown} was sent outside notification mode (no {} was acknowledged)",
                quote(&self.dialect.commands.enter)
            );
            self.report(RuleId::SNotifInMode, line, msg);
            self.window.sent_stray();
        }
    }

    #[inline]
    fn notification_in_mode(
        &mut self,
        kind: Option<ItemKind>,
        shown: Shown<'_>,
        line: Option<usize>,
    ) {
        let required = self.dialect.answers_required();
        let sent = (line, kind);
        match kind {
            None => self.not_a_kind(shown, line),
            Some(_) if required && self.window.full() => {
                let earlier = self
                    .window
                    .last()
                    .map(|s| self.sent_name(s))
                    .unwrap_or_default();
                let msg = format!(
                    "second notification {shown} was sent while {earlier} was still unanswered"
                );
                self.report(RuleId::SNotifWindow, line, msg);
            }
            Some(kind) if required && self.window.has_unread_ok() && self.errors_reply() => {
                self.answered_by_unread_ok(kind, shown, line);
                self.window.sent(sent, false);
                return;
            }
            Some(kind) => self.announced(kind, shown, line),
        }
        self.window.sent(sent, required);
    }

    fn notification_crossing(
        &mut self,
        kind: Option<ItemKind>,
        shown: Shown<'_>,
        line: Option<usize>,
    ) {
        let Some(k) = kind else {
            self.not_a_kind(shown, line);
            return;
        };
        // Formatted only when reported: a notification crossing a stop is routine.
        let stop = || at(self.window.stop_line());
        if self.dialect.answers_required() && self.window.has_unread_ok() {
            // Sent before the server read the OK that preceded the stop: not outstanding
            // when the server read the stop, so it does not count as crossing it.
            self.answered_by_unread_ok(k, shown, line);
            return;
        }
        if self.dialect.answers_required() {
            if let Some(answered) = self.window.stop_answered() {
                let msg = format!(
                    "notification {shown} arrived after stop_notif{}, which answered {}: a server that waits for each answer reads the stop before it may notify again, so nothing can cross it",
                    stop(),
                    self.sent_name(answered)
                );
                self.report(RuleId::SNotifWindow, line, msg);
                return;
            }
            if let Some(first) = self.window.crossed() {
                let msg = format!(
                    "second notification {shown} crossed stop_notif{} after {}; at most one notification may cross a stop sent with nothing outstanding",
                    stop(),
                    self.sent_name(first)
                );
                self.report(RuleId::SNotifWindow, line, msg);
                return;
            }
        }
        self.announced(k, shown, line);
        self.window.cross((line, kind));
    }

    /// The client sent an `OK` in the mode with nothing outstanding (as the server will see
    /// it): until the server reads it, it answers the next notification.
    pub(super) fn note_unread_ok(&mut self) {
        if !self.dialect.answers_required() {
            return;
        }
        // Each one is in the reply queue when errors are replied to; the queue is bounded,
        // so is this.
        let cap = self.errors_reply().then(|| self.replies.oks());
        self.window.unread_ok_sent(cap);
    }

    /// A notification sent before the server read the client's unread `OK`, which answers
    /// it (the server handles lines in order, so had it read the OK first, its error reply
    /// would have come first): no error reply is owed for that OK, and the window stays free.
    fn answered_by_unread_ok(&mut self, kind: ItemKind, shown: Shown<'_>, line: Option<usize>) {
        self.window.unread_ok_answered();
        self.replies.forget_ok();
        self.announced(kind, shown, line);
    }

    fn not_a_kind(&mut self, shown: Shown<'_>, line: Option<usize>) {
        let msg = format!(
            "{shown} looks like a notification but is none of the dialect's ({} or {})",
            quote(&self.dialect.notifications.random),
            quote(&self.dialect.notifications.classified)
        );
        self.report(RuleId::SNotifKind, line, msg);
    }

    /// An OK that answers nothing: `C-NO-ACK-AFTER-STOP` when a notification crossed the
    /// client's stop, `C-ACK-ONLY-NOTIF` otherwise.
    pub(super) fn stray_answer(&mut self, shown: Shown<'_>, line: Option<usize>) {
        match self.window.crossed() {
            Some(crossed) if self.dialect.answers_required() => {
                let msg = format!(
                    "{shown} answers {}, which crossed stop_notif{}; a client that sent stop_notif answers no notification",
                    self.sent_name(crossed),
                    at(self.window.stop_line())
                );
                self.report(RuleId::CNoAckAfterStop, line, msg);
            }
            _ => {
                let why = if self.dialect.answers_required() {
                    "with no notification outstanding"
                } else {
                    "though dialect answers are not sent (answers.policy: none)"
                };
                let msg = format!("{shown} was sent {why}");
                self.report(RuleId::CAckOnlyNotif, line, msg);
            }
        }
    }

    /// `C-ACK` at the end of a complete conversation.
    pub(super) fn unanswered_at_end(&mut self) {
        if self.mode.now() == Mode::Notifying
            && self.dialect.answers_required()
            && let Some(last) = self.window.unanswered()
        {
            let msg = format!(
                "notification {} was never answered (expected {} or {})",
                self.sent_name(last),
                quote(&self.dialect.answers.ok),
                quote(&self.dialect.commands.stop)
            );
            self.report(RuleId::CAck, last.0, msg);
        }
    }

    /// Whether the window lets the server notify now.
    pub(super) fn window_free(&self) -> bool {
        !self.dialect.answers_required() || self.window.is_free()
    }
}

#[cfg(test)]
mod window_tests {
    use super::{Sent, Window};
    use crate::dialect::ItemKind;

    const RANDOM_AT_3: Sent = (Some(3), Some(ItemKind::Random));
    const MALFORMED_AT_4: Sent = (Some(4), None);

    #[test]
    fn one_notification_answered_frees_the_window() {
        let mut w = Window::default();
        assert!(w.is_free() && !w.full() && !w.answer());
        w.sent(RANDOM_AT_3, true);
        assert!(w.full() && !w.is_free());
        assert_eq!(w.unanswered(), Some(RANDOM_AT_3));
        assert!(w.answer());
        assert!(w.is_free() && !w.full());
        assert_eq!(w.unanswered(), None);
        assert_eq!(w.last(), Some(RANDOM_AT_3));
    }

    #[test]
    fn without_answers_nothing_is_outstanding() {
        let mut w = Window::default();
        w.sent(RANDOM_AT_3, false);
        assert!(w.is_free());
        assert_eq!(w.last(), Some(RANDOM_AT_3));
        assert!(!w.answer());
    }

    #[test]
    fn a_stop_answers_the_outstanding_notification_and_remembers_crossings() {
        let mut w = Window::default();
        w.sent(RANDOM_AT_3, true);
        w.stop(Some(5));
        assert_eq!(w.stop_line(), Some(5));
        assert_eq!(w.stop_answered(), Some(RANDOM_AT_3));
        assert!(w.is_free());
        // A stop with nothing outstanding answers nothing; the first crossing is kept.
        w.stop(None);
        assert_eq!((w.stop_line(), w.stop_answered()), (None, None));
        w.cross(MALFORMED_AT_4);
        w.cross(RANDOM_AT_3);
        assert_eq!(w.crossed(), Some(MALFORMED_AT_4));
        w.forget_crossing();
        assert_eq!(w.crossed(), None);
    }

    #[test]
    fn unread_oks_are_capped_and_read() {
        let mut w = Window::default();
        w.unread_ok_sent(Some(1));
        w.unread_ok_sent(Some(1));
        assert!(w.has_unread_ok());
        w.unread_ok_answered();
        assert!(!w.has_unread_ok());
        w.unread_ok_sent(None);
        w.unread_ok_sent(None);
        w.oks_read(1);
        assert!(w.has_unread_ok());
        w.all_oks_read();
        assert!(!w.has_unread_ok());
    }

    #[test]
    fn an_unread_ok_puts_the_server_ahead_under_ignore() {
        // With an unread OK, a counted notification is outstanding to the checker but may
        // be answered already to the server: the window is not full to it.
        let mut w = Window::default();
        w.unread_ok_sent(None);
        w.sent(RANDOM_AT_3, true);
        assert!(!w.has_unread_ok() && !w.full() && !w.is_free());
        // The client's answer then goes to the next notification, as an unread OK again.
        assert!(w.answer());
        assert!(w.has_unread_ok() && w.is_free());
        // A malformed notification is not answered by an unread OK.
        w.sent(MALFORMED_AT_4, true);
        assert!(w.has_unread_ok() && w.full());
    }

    #[test]
    fn stray_notifications_last_until_forgotten_and_sessions_reset() {
        let mut w = Window::default();
        w.sent_stray();
        assert!(w.answers_stray());
        w.forget_crossing();
        assert!(!w.answers_stray());
        w.sent(RANDOM_AT_3, true);
        w.session_start();
        assert!(w.is_free() && w.last().is_none());
    }
}

#[cfg(test)]
mod tests {
    use crate::checker::testkit::{check, rules, rules_in_yaml};
    use crate::rule::RuleId::*;

    const MODE: &str = "C: _notif_\nS: will send notifs\n";

    fn m(rest: &str) -> Vec<(crate::rule::RuleId, usize)> {
        rules(&format!("{MODE}{rest}"))
    }

    #[test]
    fn window_of_one() {
        assert_eq!(
            m("S: notif: random\nC: OK\nS: notif: classified\nC: OK"),
            vec![]
        );
        assert_eq!(
            m("S: notif: random\nS: notif: classified\nC: OK\nC: OK"),
            vec![(SNotifWindow, 4)]
        );
        let v = check(
            &format!("{MODE}S: notif: random\nS: notif: classified"),
            false,
        );
        assert_eq!(
            v[0].message,
            "second notification `notif: classified` was sent while `notif: random` (line 3) was still unanswered"
        );
    }

    #[test]
    fn notifications_outside_the_mode() {
        assert_eq!(rules("S: notif: random"), vec![(SNotifInMode, 1)]);
        assert_eq!(
            m("C: stop_notif\nS: OK\nS: notif: random"),
            vec![(SNoNotifAfterOk, 5)]
        );
        assert_eq!(m("S: notif: weather\nC: OK"), vec![(SNotifKind, 3)]);
        // A client answering a stray notification is not blamed for the server's mistake.
        assert_eq!(
            rules("S: notif: random\nC: OK\nS: ERR nothing to answer"),
            vec![(SNotifInMode, 1)]
        );
        assert_eq!(
            rules("S: notif: random\nC: OK\nC: OK"),
            vec![(SNotifInMode, 1), (CAckOnlyNotif, 3)]
        );
    }

    #[test]
    fn the_race_from_both_sides() {
        // Stop sent with nothing outstanding: one notification may cross, unanswered.
        assert_eq!(m("C: stop_notif\nS: notif: random\nS: OK"), vec![]);
        // ...but not two.
        assert_eq!(
            m("C: stop_notif\nS: notif: random\nS: notif: classified\nS: OK"),
            vec![(SNotifWindow, 5)]
        );
        // Stop answering a notification: nothing may cross.
        assert_eq!(
            m("S: notif: random\nC: stop_notif\nS: notif: classified\nS: OK"),
            vec![(SNotifWindow, 5)]
        );
        // The client must not answer the crossing notification, before or after the OK.
        assert_eq!(
            m("C: stop_notif\nS: notif: random\nC: OK\nS: OK\nS: ERR no notification"),
            vec![(CNoAckAfterStop, 5)]
        );
        assert_eq!(
            m("C: stop_notif\nS: notif: random\nS: OK\nC: OK\nS: ERR no notification"),
            vec![(CNoAckAfterStop, 6)]
        );
    }

    #[test]
    fn answers() {
        assert_eq!(
            m("C: OK\nS: ERR nothing to answer"),
            vec![(CAckOnlyNotif, 3)]
        );
        assert_eq!(
            rules("C: OK\nS: ERR nothing to answer"),
            vec![(CAckOnlyNotif, 1)]
        );
        assert_eq!(m("S: notif: random\n! close"), vec![(CAck, 3)]);
        assert_eq!(m("S: notif: random\n[...]"), vec![]);
        assert_eq!(m("S: notif: random\nC: stop_notif\nS: OK\n! close"), vec![]);
    }

    #[test]
    fn answers_policy_none() {
        let yaml = crate::dialect::Dialect::default()
            .to_yaml()
            .replace("policy: required", "policy: none");
        let r = |s: &str| rules_in_yaml(&yaml, &format!("{MODE}{s}"));
        assert_eq!(r("S: notif: random\nS: notif: classified\n! close"), vec![]);
        assert_eq!(
            r("S: notif: random\nC: stop_notif\nS: notif: random\nS: notif: classified\nS: OK"),
            vec![]
        );
        assert_eq!(r("S: notif: random\nC: OK"), vec![(CAckOnlyNotif, 4)]);
    }

    /// An `OK` the server has not read yet (pipelined after the enter command, or a stray one
    /// racing a notification) answers the next notification the server sends before reading
    /// it. Under `errors.policy: error` the missing error reply shows it was not read yet.
    #[test]
    fn an_unread_ok_answers_the_next_notification() {
        let piped = "C: _notif_\nC: OK\nS: will send notifs\n";
        assert_eq!(
            rules(&format!(
                "{piped}S: notif: classified\nS: notif: random\nS: notif: random"
            )),
            vec![(COneAtATime, 2), (SNotifWindow, 6)]
        );
        assert_eq!(
            rules(&format!(
                "{piped}S: notif: classified\nS: notif: random\nC: OK"
            )),
            vec![(COneAtATime, 2)]
        );
        // Wrong: the server read the OK first (its error line says so), then sent two.
        assert_eq!(
            rules(&format!(
                "{piped}S: ERR no notification\nS: notif: classified\nS: notif: random"
            )),
            vec![(COneAtATime, 2), (SNotifWindow, 6)]
        );
        // A stray OK racing the server's notification: the client is blamed, not the server.
        assert_eq!(
            m("C: OK\nS: notif: random\nS: notif: classified\nC: OK"),
            vec![(CAckOnlyNotif, 3)]
        );
        // The unread OK answered what the server sent first, so a stop sent after answering
        // the second notification answered nothing outstanding: one may cross.
        assert_eq!(
            rules(&format!(
                "{piped}S: notif: classified\nS: notif: random\nC: stop_notif\nS: notif: random\nS: OK"
            )),
            vec![(COneAtATime, 2), (SNotifWindow, 7)]
        );
        assert_eq!(
            rules(&format!(
                "{piped}S: notif: classified\nC: stop_notif\nS: notif: random\nS: OK"
            )),
            vec![(COneAtATime, 2)]
        );
    }

    /// Under `errors.policy: ignore` nothing shows when the server read such an `OK`: either
    /// reading is accepted, and a server that waits for no answer at all is still caught.
    #[test]
    fn an_unread_ok_when_errors_are_ignored() {
        let yaml = crate::dialect::Dialect::default()
            .to_yaml()
            .replace("policy: error", "policy: ignore");
        let piped = "C: _notif_\nC: OK\nS: will send notifs\n";
        let r = |s: &str| rules_in_yaml(&yaml, &format!("{piped}{s}"));
        assert_eq!(
            r("S: notif: classified\nS: notif: random\nC: OK\nC: OK\nS: notif: random"),
            vec![(COneAtATime, 2)]
        );
        assert_eq!(
            r("S: notif: classified\nC: OK\nS: notif: random\nC: OK"),
            vec![(COneAtATime, 2)]
        );
        assert_eq!(
            r("S: notif: classified\nS: notif: random\nS: notif: classified"),
            vec![(COneAtATime, 2), (SNotifWindow, 6)]
        );
    }
}
