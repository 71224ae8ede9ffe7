//! Bad lines: `S-ERR` (judged with the reply queue, see `requests`) and `S-ROBUST`.
//!
//! An oversized client line must be refused — an error line under `errors.policy: error`,
//! nothing under `ignore` — and then the server closes the connection. Until then the
//! server's lines are judged only for that (a notification sent before the server read the
//! oversized line is still judged as a notification).

use std::time::Duration;

use super::Checker;
use super::classify::{ServerClass, Shown, at};
use crate::rule::RuleId;

/// Waiting for the server's reaction to an oversized client line.
#[derive(Debug, Clone, Copy)]
struct Wait {
    /// The oversized line.
    line: Option<usize>,
    /// The refusal was seen (or is silence, under `errors.policy: ignore`).
    refused: bool,
}

/// The `S-ROBUST` state.
#[derive(Debug, Default)]
pub(super) struct Robust {
    wait: Option<Wait>,
}

/// What the client said so far, as far as an unsolicited error line is concerned: before
/// the client's first line it is a refusal of the connection, and under `errors.policy:
/// ignore` an error line after a bad command is the server's mistake.
#[derive(Debug, Default)]
pub(super) struct ClientSeen {
    spoke: bool,
    last_bad: bool,
}

impl ClientSeen {
    /// The client sent a line; `bad`: a bad command.
    #[inline]
    pub(super) fn line(&mut self, bad: bool) {
        self.spoke = true;
        self.last_bad = bad;
    }

    /// Whether the client has sent a line.
    pub(super) fn spoke(&self) -> bool {
        self.spoke
    }

    /// Whether the client's last line was a bad command.
    pub(super) fn last_bad(&self) -> bool {
        self.last_bad
    }
}

impl Checker {
    /// The client sent a line over the limit.
    pub(super) fn client_oversized(&mut self, line: Option<usize>) {
        if self.robust.wait.is_some() {
            // The server refuses the first oversized line and closes; it never reads this one.
            return;
        }
        self.robust.wait = Some(Wait {
            line,
            refused: !self.errors_reply(),
        });
    }

    /// Whether the client already sent an oversized line: the server refuses it and closes,
    /// so it never reads the lines behind it; they owe nothing and change no state.
    pub(super) fn behind_oversized(&self) -> bool {
        self.robust.wait.is_some()
    }

    /// A server line while an oversized line awaits its refusal; true if it was consumed.
    pub(super) fn robust_server_line(
        &mut self,
        class: ServerClass,
        shown: Shown<'_>,
        line: Option<usize>,
    ) -> bool {
        let Some(mut wait) = self.robust.wait else {
            return false;
        };
        if self.replies.owes() {
            // Replies owed for lines the client pipelined before the oversized one: the
            // server reads those first, so their replies come before the refusal. The queue,
            // not a count taken when the line was sent, says how many: a pipelined line may
            // turn out to owe nothing (an `OK` the server takes as an answer).
            return false;
        }
        if !wait.refused && class == ServerClass::Error {
            wait.refused = true;
            self.robust.wait = Some(wait);
            return true;
        }
        if wait.refused
            && class == ServerClass::Error
            && self.errors_reply()
            && self.replies.drop_optional()
        {
            // Two error lines where an optional one (an `OK` the server may take as an
            // answer) was owed before the refusal: the first was that reply, this the refusal.
            return true;
        }
        self.robust.wait = None;
        let msg = if wait.refused {
            format!(
                "{shown} was sent after the oversized line{} was refused; the server must close the connection",
                at(wait.line)
            )
        } else {
            format!(
                "the oversized line{} was answered with {shown} instead of an error line such as `{} line too long`",
                at(wait.line),
                self.dialect.errors.prefix
            )
        };
        self.report(RuleId::SRobust, line, msg);
        true
    }

    /// The server closed the connection.
    pub(super) fn robust_closed(&mut self, line: Option<usize>) {
        if let Some(wait) = self.robust.wait
            && wait.refused
        {
            // Closing after the refusal is what the server must do; lines the client sent
            // after the oversized one were never read, so no reply is owed for them.
            self.robust.wait = None;
            self.replies.clear();
            return;
        }
        if let Some(wait) = self.robust.wait.take()
            && !wait.refused
        {
            let msg = format!(
                "the server closed the connection after the oversized line{} without the error line `{} line too long`",
                at(wait.line),
                self.dialect.errors.prefix
            );
            self.report(RuleId::SRobust, line, msg);
        }
    }

    /// A quiet period while an oversized line awaits its refusal: the server kept the
    /// connection open.
    pub(super) fn robust_quiet(&mut self, duration: Duration, line: Option<usize>) {
        if let Some(wait) = self.robust.wait.take() {
            let msg = format!(
                "the server did not close the connection within {} of the oversized line{}",
                humantime::format_duration(duration),
                at(wait.line)
            );
            self.report(RuleId::SRobust, line, msg);
        }
    }
}

#[cfg(test)]
mod client_seen_tests {
    use super::ClientSeen;

    #[test]
    fn remembers_that_the_client_spoke_and_whether_its_last_line_was_bad() {
        let mut c = ClientSeen::default();
        assert!(!c.spoke() && !c.last_bad());
        c.line(true);
        assert!(c.spoke() && c.last_bad());
        c.line(false);
        assert!(c.spoke() && !c.last_bad());
    }
}

#[cfg(test)]
mod tests {
    use crate::checker::testkit::{rules, rules_in_yaml};
    use crate::rule::Party;
    use crate::rule::RuleId::*;

    #[test]
    fn error_replies_to_bad_and_valid_lines() {
        assert_eq!(
            rules("C: hello\nS: ERR unknown command\nC: random?\nS: 4"),
            vec![]
        );
        assert_eq!(rules("C: hello\nS: 4"), vec![(SErr, 2)]);
        assert_eq!(rules("C: hello\n! quiet 1s"), vec![(SErr, 2)]);
        assert_eq!(rules("C: random?\nS: ERR busy"), vec![(SErr, 2)]);
        // A request in the mode: the client's mistake and the server's reaction are judged.
        assert_eq!(
            rules("C: _notif_\nS: will send notifs\nC: classified?\nS: an ad"),
            vec![(CNoReqInNotif, 3), (SErr, 4)]
        );
        // The state is unchanged after an error: the session goes on.
        assert_eq!(
            rules(
                "C: _notif_\nS: will send notifs\nC: random?\nS: ERR no\nS: notif: random\nC: OK"
            ),
            vec![(CNoReqInNotif, 3)]
        );
    }

    #[test]
    fn errors_policy_ignore() {
        let yaml = crate::dialect::Dialect::default()
            .to_yaml()
            .replace("policy: error", "policy: ignore");
        assert_eq!(rules_in_yaml(&yaml, "C: hello\nC: random?\nS: 3"), vec![]);
        assert_eq!(
            rules_in_yaml(&yaml, "C: hello\nS: ERR unknown"),
            vec![(SErr, 2)]
        );
        assert_eq!(rules_in_yaml(&yaml, "C! x\n! expect close"), vec![]);
        assert_eq!(
            rules_in_yaml(&yaml, "C! x\nS: ERR line too long"),
            vec![(SRobust, 2)]
        );
    }

    #[test]
    fn oversized_client_lines() {
        assert_eq!(rules("C! x\nS: ERR line too long\n! expect close"), vec![]);
        assert_eq!(rules("C! x\nS: 12"), vec![(SRobust, 2)]);
        assert_eq!(
            rules("C! x\nS: ERR line too long\nS: 12"),
            vec![(SRobust, 3)]
        );
        assert_eq!(
            rules("C! x\nS: ERR line too long\n! quiet 1s"),
            vec![(SRobust, 3)]
        );
        assert_eq!(rules("C! x\n! expect close"), vec![(SRobust, 2)]);
    }

    /// Found by the differential fuzz target with a pipelining client: the replies owed for
    /// lines sent before the oversized one come first, and are judged as replies.
    #[test]
    fn oversized_line_pipelined_behind_a_request() {
        let ok = "C: _notif_\nC! x\nS: will send notifs\nS: ERR line too long\n! expect close";
        assert!(!rules(ok).iter().any(|(r, _)| r.party() == Party::Server));
        let behind = "C! x\nC: classified?\nS: ERR line too long\n! expect close";
        assert!(
            !rules(behind)
                .iter()
                .any(|(r, _)| r.party() == Party::Server)
        );
        let twice = "C! x\nC: OK\nC! y\nS: ERR line too long\n! expect close";
        assert!(!rules(twice).iter().any(|(r, _)| r.party() == Party::Server));
        let late = "C: random?\nC! x\nS: 12\nS: 13";
        assert!(rules(late).contains(&(SRobust, 4)), "{:?}", rules(late));
    }

    /// Found by the pipelining differential fuzz target: an `OK` pipelined behind the enter
    /// command answers the first notification, so it owes no reply, and the error line after
    /// the notification is the refusal of the oversized line, not the `OK`'s error.
    #[test]
    fn oversized_line_behind_an_ok_that_answers_a_notification() {
        let ok = "C: _notif_\nC: OK\nC! x\nS: will send notifs\nS: notif: classified\n\
                  S: ERR line too long\n! expect close";
        assert!(!rules(ok).iter().any(|(r, _)| r.party() == Party::Server));
        // A wrong server: an error line for the `OK` too, so one more after the refusal.
        let wrong = "C: _notif_\nC: OK\nC! x\nS: will send notifs\nS: notif: classified\n\
                     S: ERR no notification\nS: ERR line too long";
        assert!(rules(wrong).contains(&(SRobust, 7)), "{:?}", rules(wrong));
    }

    /// A stray `OK` may get an error line (the server read it with nothing outstanding)
    /// before the refusal of an oversized line sent behind it; both are error lines, the
    /// refusal is the last.
    #[test]
    fn oversized_line_behind_a_stray_ok() {
        let ok = "C: random?\nS: 7\nC: OK\nC! x\nS: ERR no notification\n\
                  S: ERR line too long\n! expect close";
        assert!(!rules(ok).iter().any(|(r, _)| r.party() == Party::Server));
        let wrong = "C: random?\nS: 7\nC: OK\nC! x\nS: ERR no notification\n\
                     S: ERR line too long\nS: ERR again";
        assert!(rules(wrong).contains(&(SRobust, 7)), "{:?}", rules(wrong));
    }

    /// The server never reads the lines behind an oversized one: a stop sent there owes no
    /// `OK`, and does not end the mode.
    #[test]
    fn lines_behind_an_oversized_one_change_nothing() {
        let ok = "C: _notif_\nS: will send notifs\nC! x\nC: stop_notif\nS: notif: random\n\
                  S: ERR line too long\n! expect close";
        assert!(!rules(ok).iter().any(|(r, _)| r.party() == Party::Server));
        let wrong = "C: _notif_\nS: will send notifs\nC! x\nC: stop_notif\nS: OK";
        assert!(rules(wrong).contains(&(SRobust, 5)), "{:?}", rules(wrong));
    }
}
