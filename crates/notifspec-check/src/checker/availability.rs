//! What may and must be announced: `S-PROMISE`, `S-NO-DUP`, `S-LIVENESS`.
//!
//! `S-PROMISE` needs only the conversation. The other two need to know every publish
//! ([`Options::items_known`](super::Options)), and then follow this per-connection model:
//! - at connection start one ad (the most recent) is unread; a `classified?` reply corrects
//!   the ad count (empty: none unread, non-empty: one fewer, never below zero, since a server
//!   may repeat a read ad when none is unread);
//! - the random number current at connect may count as seen or as available (a choice
//!   point): it may be announced once per session until the client fetches a number or a
//!   newer one is published, and is never owed;
//! - `Published` adds one unread ad, or makes a new random number available; a `random?`
//!   reply marks the random number seen;
//! - each available item may be announced once per session (a further announcement, or one
//!   with nothing available of that kind, is `S-NO-DUP`); one `notif: classified` may also
//!   stand for every ad unread when it is sent (a choice point: one notification per ad, or
//!   one for the kind), so liveness only asks for a notification after each ad appeared;
//! - at a quiet period of at least the liveness bound, in the mode with the window free, an
//!   available item not covered by an announcement in this session is `S-LIVENESS` (items
//!   available when the mode was entered included).

use std::time::Duration;

use super::classify::{Shown, at};
use super::owed::{Mode, Pending};
use super::{Checker, Mark};
use crate::dialect::ItemKind;
use crate::rule::RuleId;

/// The rules judged only when every publish is known ([`Options::items_known`](super::Options)).
///
/// `items_known` gates these reports and nothing else: the state it changes is read only to
/// judge them. So a checker run with `items_known: true` reports exactly what a run with
/// `false` reports, plus violations of these rules. A caller that learns only at the end
/// whether the publishes are known (a streamed transcript whose first `! publish` may be its
/// last line) runs once with `true` and drops these rules if none turned up.
pub const ITEMS_KNOWN_RULES: &[RuleId] = &[RuleId::SNoDup, RuleId::SLiveness];

/// The cap on reports of [`ITEMS_KNOWN_RULES`] and the count of those found past it.
#[derive(Debug)]
pub(super) struct KnownReports {
    /// Violations still to report.
    left: usize,
    /// Violations of each of [`ITEMS_KNOWN_RULES`] found past that limit.
    unreported: [u64; ITEMS_KNOWN_RULES.len()],
}

impl Default for KnownReports {
    fn default() -> Self {
        KnownReports {
            left: usize::MAX,
            unreported: [0; ITEMS_KNOWN_RULES.len()],
        }
    }
}

impl KnownReports {
    /// Whether a violation of `rule` is still to be reported; if not, it is counted.
    fn admit(&mut self, rule: RuleId) -> bool {
        if let Some(left) = self.left.checked_sub(1) {
            self.left = left;
            return true;
        }
        if let Some(i) = ITEMS_KNOWN_RULES.iter().position(|r| *r == rule) {
            self.unreported[i] = self.unreported[i].saturating_add(1);
        }
        false
    }
}

/// The availability model of one connection.
#[derive(Debug)]
pub(super) struct Availability {
    /// Every publish is known: `S-NO-DUP` and `S-LIVENESS` are judged.
    known: bool,
    /// A random number newer than the last one fetched: where it was published.
    random_new: Mark,
    /// That number was announced in this session.
    random_announced: bool,
    /// The number current at connect has been neither fetched nor superseded: a server may
    /// count it as available, so announcing it is legal (but never owed).
    random_at_connect: bool,
    /// Unread ads.
    unread: u64,
    /// `notif: classified` sent in this session while an ad was unread and unannounced: at
    /// most one per unread ad.
    announced: u64,
    /// Unread ads covered by the last `notif: classified` of this session (all of those
    /// unread when it was sent): liveness asks nothing more for them.
    covered: u64,
    /// The ad assumed unread at connect is still counted (no `classified?` reply yet), so
    /// messages can say where an unread ad the transcript never published comes from.
    assumed_initial: bool,
    /// `notif: classified` at this line promised a non-empty reply to the next
    /// `classified?`.
    promise: Mark,
}

/// Why an announcement breaks `S-NO-DUP`; formatted only when reported with a message.
#[derive(Debug, Clone, Copy)]
enum Dup {
    NoRandom,
    /// The random number published at this line was announced already.
    RandomAgain(Option<usize>),
    /// The number current at connect (never fetched) was announced already.
    ConnectRandomAgain,
    NoAd,
    /// Every one of this many unread ads was announced already.
    AdsAgain(u64),
}

impl std::fmt::Display for Dup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dup::NoRandom => f.write_str(
                "nothing new was available: no random number was published since the client connected or last fetched one",
            ),
            Dup::RandomAgain(published) => write!(
                f,
                "the random number published{} was already announced in this session",
                at(*published)
            ),
            Dup::ConnectRandomAgain => f.write_str(
                "the random number current at connect (which a server may count as available until it is fetched) was already announced in this session",
            ),
            Dup::NoAd => f.write_str("nothing new was available: no classified ad was unread"),
            Dup::AdsAgain(n) => write!(
                f,
                "every unread ad ({n} in all) was already announced in this session"
            ),
        }
    }
}

impl Availability {
    pub(super) fn new(known: bool) -> Self {
        Availability {
            known,
            random_new: Mark::Unset,
            random_announced: false,
            random_at_connect: true,
            unread: 1,
            announced: 0,
            covered: 0,
            assumed_initial: true,
            promise: Mark::Unset,
        }
    }

    pub(super) fn publish(&mut self, kind: ItemKind, line: Option<usize>) {
        match kind {
            ItemKind::Random => {
                self.random_new = Mark::At(line);
                self.random_announced = false;
                self.random_at_connect = false;
            }
            ItemKind::Classified => self.unread = self.unread.saturating_add(1),
        }
    }

    pub(super) fn session_start(&mut self) {
        self.random_announced = false;
        self.announced = 0;
        self.covered = 0;
    }

    pub(super) fn random_fetched(&mut self) {
        self.random_new = Mark::Unset;
        self.random_announced = false;
        self.random_at_connect = false;
    }

    /// Why announcing `kind` now repeats or invents an item, if it does.
    fn announce(&mut self, kind: ItemKind) -> Option<Dup> {
        if !self.known {
            return None;
        }
        match kind {
            ItemKind::Random => match self.random_new {
                Mark::Unset if self.random_at_connect && !self.random_announced => {
                    self.random_announced = true;
                    None
                }
                Mark::Unset if self.random_at_connect => Some(Dup::ConnectRandomAgain),
                Mark::Unset => Some(Dup::NoRandom),
                Mark::At(published) if self.random_announced => Some(Dup::RandomAgain(published)),
                Mark::At(_) => {
                    self.random_announced = true;
                    None
                }
            },
            ItemKind::Classified if self.unread == 0 => Some(Dup::NoAd),
            ItemKind::Classified if self.announced >= self.unread => {
                Some(Dup::AdsAgain(self.unread))
            }
            ItemKind::Classified => {
                self.announced += 1;
                self.covered = self.unread;
                None
            }
        }
    }

    /// What is available but not announced in this session, if anything.
    fn unannounced(&self) -> Option<String> {
        let mut parts = vec![];
        if let Mark::At(published) = self.random_new
            && !self.random_announced
        {
            parts.push(format!("the random number published{}", at(published)));
        }
        if self.covered < self.unread {
            let initial = if self.assumed_initial {
                ", counting the most recent ad, unread since the connection started"
            } else {
                ""
            };
            parts.push(format!(
                "{} unread ad(s){initial}",
                self.unread - self.covered
            ));
        }
        (!parts.is_empty()).then(|| parts.join(" and "))
    }

    /// Whether every publish is known, so `S-NO-DUP` and `S-LIVENESS` are judged.
    fn known(&self) -> bool {
        self.known
    }

    /// `notif: classified` at `line` promised a non-empty reply to the next `classified?`.
    fn promised(&mut self, line: Option<usize>) {
        self.promise = Mark::At(line);
    }

    /// A well-formed reply to `classified?` (`empty`: the empty reply) was read: the ad
    /// count follows it. Returns the notification whose promise that reply settles.
    #[inline]
    fn classified_read(&mut self, empty: bool) -> Mark {
        let promise = self.promise.take();
        self.assumed_initial = false;
        if empty {
            self.unread = 0;
            self.announced = 0;
            self.covered = 0;
        } else {
            self.unread = self.unread.saturating_sub(1);
            self.announced = self.announced.min(self.unread);
            self.covered = self.covered.min(self.unread);
        }
        promise
    }

    /// After a liveness violation: do not report the same items again.
    fn mark_announced(&mut self) {
        if self.random_new.is_set() {
            self.random_announced = true;
        }
        self.announced = self.unread;
        self.covered = self.unread;
    }
}

impl Checker {
    /// Reports at most the next `n` violations of [`ITEMS_KNOWN_RULES`]; later ones are
    /// only counted, by rule ([`Checker::unreported_items_known`]).
    ///
    /// For a caller that judges a conversation as if every publish were known without
    /// knowing yet whether it is (a transcript streamed in one pass, see
    /// [`ITEMS_KNOWN_RULES`]): a transcript without publishes breaks `S-NO-DUP` with nearly
    /// every notification, and those violations are dropped in the end, so building millions
    /// of them would only cost time. A log that keeps the first `n` violations needs no more.
    pub fn limit_items_known_reports(&mut self, n: usize) {
        self.known_reports.left = n;
    }

    /// How many violations of each of [`ITEMS_KNOWN_RULES`] were found but not reported,
    /// past the limit of [`Checker::limit_items_known_reports`].
    pub fn unreported_items_known(&self) -> impl Iterator<Item = (RuleId, u64)> + '_ {
        ITEMS_KNOWN_RULES
            .iter()
            .copied()
            .zip(self.known_reports.unreported)
            .filter(|(_, n)| *n > 0)
    }

    /// Whether a violation of `rule` (one of [`ITEMS_KNOWN_RULES`]) is still to be reported;
    /// if not, it is counted.
    fn report_items_known(&mut self, rule: RuleId) -> bool {
        self.known_reports.admit(rule)
    }

    /// A notification of `kind` that the window allows: `S-NO-DUP`, and the promise.
    #[inline]
    pub(super) fn announced(&mut self, kind: ItemKind, shown: Shown<'_>, line: Option<usize>) {
        if kind == ItemKind::Classified {
            self.avail.promised(line);
        }
        if let Some(why) = self.avail.announce(kind)
            && self.report_items_known(RuleId::SNoDup)
        {
            self.report(RuleId::SNoDup, line, format!("{shown} was sent, but {why}"));
        }
    }

    /// A well-formed reply to `classified?`: `S-PROMISE`, and the ad count.
    pub(super) fn classified_reply(&mut self, p: &Pending, empty: bool, line: Option<usize>) {
        let promise = self.avail.classified_read(empty);
        if empty && let Mark::At(notif) = promise {
            let msg = format!(
                "empty reply to {}, but {}{} promised an unread ad",
                self.describe(p),
                super::classify::quote(self.dialect.notification(ItemKind::Classified)),
                at(notif)
            );
            self.report(RuleId::SPromise, line, msg);
        }
    }

    /// `S-LIVENESS` at a quiet period long enough to judge it.
    pub(super) fn liveness(&mut self, duration: Duration, line: Option<usize>) {
        if !self.avail.known() || self.mode.now() != Mode::Notifying || !self.window_free() {
            return;
        }
        if let Some(what) = self.avail.unannounced() {
            if self.report_items_known(RuleId::SLiveness) {
                let msg = format!(
                    "nothing was announced within {} although the window was free and the client in notification mode, with {what} available",
                    humantime::format_duration(duration)
                );
                self.report(RuleId::SLiveness, line, msg);
            }
            self.avail.mark_announced();
        }
    }
}

#[cfg(test)]
mod availability_tests {
    use super::{Availability, Dup, KnownReports, Mark};
    use crate::dialect::ItemKind::{Classified, Random};
    use crate::rule::RuleId;

    #[test]
    fn the_random_number_is_announced_once_per_publish() {
        let mut a = Availability::new(true);
        // The number current at connect may be announced once.
        assert!(a.announce(Random).is_none());
        assert!(matches!(a.announce(Random), Some(Dup::ConnectRandomAgain)));
        a.publish(Random, Some(4));
        assert!(a.announce(Random).is_none());
        assert!(matches!(
            a.announce(Random),
            Some(Dup::RandomAgain(Some(4)))
        ));
        a.random_fetched();
        assert!(matches!(a.announce(Random), Some(Dup::NoRandom)));
    }

    #[test]
    fn ads_are_announced_at_most_once_each_and_read_by_replies() {
        let mut a = Availability::new(true);
        assert!(a.announce(Classified).is_none());
        assert!(matches!(a.announce(Classified), Some(Dup::AdsAgain(1))));
        a.publish(Classified, Some(2));
        assert!(a.announce(Classified).is_none());
        assert_eq!(a.classified_read(false), Mark::Unset);
        a.session_start();
        assert!(a.announce(Classified).is_none());
        assert_eq!(a.classified_read(true), Mark::Unset);
        assert!(matches!(a.announce(Classified), Some(Dup::NoAd)));
    }

    #[test]
    fn a_promise_is_settled_by_the_next_classified_reply() {
        let mut a = Availability::new(true);
        a.promised(Some(3));
        assert_eq!(a.classified_read(true), Mark::At(Some(3)));
        assert_eq!(a.classified_read(true), Mark::Unset);
    }

    #[test]
    fn unknown_publishes_judge_nothing() {
        let mut a = Availability::new(false);
        assert!(!a.known());
        assert!(a.announce(Random).is_none());
        assert!(a.announce(Random).is_none());
    }

    #[test]
    fn unannounced_items_are_named_until_marked() {
        let mut a = Availability::new(true);
        a.publish(Random, Some(9));
        let what = a.unannounced().expect("items are available");
        assert!(
            what.contains("random number") && what.contains("unread ad"),
            "{what}"
        );
        a.mark_announced();
        assert_eq!(a.unannounced(), None);
    }

    #[test]
    fn reports_past_the_limit_are_counted_by_rule() {
        let mut k = KnownReports {
            left: 1,
            ..KnownReports::default()
        };
        assert!(k.admit(RuleId::SNoDup));
        assert!(!k.admit(RuleId::SNoDup));
        assert!(!k.admit(RuleId::SLiveness));
        assert!(!k.admit(RuleId::SLiveness));
        assert_eq!(k.unreported, [1, 2]);
    }
}

#[cfg(test)]
mod tests {
    use crate::checker::testkit::rules;
    use crate::rule::RuleId::*;

    const MODE: &str = "C: classified?\nS: the first ad\nC: _notif_\nS: will send notifs\n";

    fn m(rest: &str) -> Vec<(crate::rule::RuleId, usize)> {
        rules(&format!("{MODE}{rest}"))
    }

    /// Every legal alternative at the choice points of docs/protocol.md 8.1 passes, and the
    /// rules stay strict around them.
    #[test]
    fn choice_points_accept_every_legal_reading() {
        // connect-random=available: the number current at connect announced on entry, once.
        let c =
            "C: classified?\nS: the first ad\n! publish classified\nC: classified?\nS: second\n";
        let enter = "C: _notif_\nS: will send notifs\n";
        assert_eq!(
            rules(&format!("{c}{enter}S: notif: random\nC: OK\n! quiet 1s")),
            vec![]
        );
        // ... and not twice in one session, nor at all once fetched.
        assert_eq!(
            rules(&format!(
                "{c}{enter}S: notif: random\nC: OK\nS: notif: random\nC: OK"
            )),
            vec![(SNoDup, 10)]
        );
        assert_eq!(
            rules(&format!(
                "{c}C: random?\nS: 5\n{enter}S: notif: random\nC: OK"
            )),
            vec![(SNoDup, 10)]
        );
        // ... but again in a later session while still unfetched.
        assert_eq!(
            rules(&format!(
                "{c}{enter}S: notif: random\nC: stop_notif\nS: OK\n{enter}S: notif: random\nC: OK\n! quiet 1s"
            )),
            vec![]
        );
        // when-none=repeat: a non-empty reply with nothing unread changes nothing.
        assert_eq!(
            m(
                "! publish classified\nS: notif: classified\nC: stop_notif\nS: OK\nC: classified?\nS: new ad\nC: classified?\nS: new ad\nC: _notif_\nS: will send notifs\n! quiet 1s"
            ),
            vec![]
        );
        // ads-behind=one: one notification for three ads, and liveness is satisfied...
        let three = "! publish classified\n! publish classified\n! publish classified\n";
        assert_eq!(
            m(&format!("{three}S: notif: classified\nC: OK\n! quiet 1s")),
            vec![]
        );
        // ... ads-behind=each: three notifications, but not a fourth.
        assert_eq!(
            m(&format!(
                "{three}S: notif: classified\nC: OK\nS: notif: classified\nC: OK\nS: notif: classified\nC: OK\n! quiet 1s"
            )),
            vec![]
        );
        assert_eq!(
            m(&format!(
                "{three}S: notif: classified\nC: OK\nS: notif: classified\nC: OK\nS: notif: classified\nC: OK\nS: notif: classified\nC: OK"
            )),
            vec![(SNoDup, 14)]
        );
        // An ad published after the one covering notification is still owed.
        assert_eq!(
            m(&format!(
                "{three}S: notif: classified\nC: OK\n! publish classified\n! quiet 1s"
            )),
            vec![(SLiveness, 11)]
        );
    }

    #[test]
    fn promise_is_kept_or_broken() {
        let s = "C: _notif_\nS: will send notifs\nS: notif: classified\nC: stop_notif\nS: OK\nC: classified?\n";
        assert_eq!(rules(&format!("{s}S: an ad")), vec![]);
        assert_eq!(rules(&format!("{s}S:")), vec![(SPromise, 7)]);
        // The promise covers only the next classified request.
        assert_eq!(rules(&format!("{s}S: an ad\nC: classified?\nS:")), vec![]);
    }

    #[test]
    fn published_items_are_announced_once() {
        assert_eq!(
            m("! publish random\nS: notif: random\nC: OK\n! quiet 1s\nC: stop_notif\nS: OK"),
            vec![]
        );
        assert_eq!(
            m("! publish random\nS: notif: random\nC: OK\nS: notif: random\nC: OK"),
            vec![(SNoDup, 8)]
        );
        // Nothing available at all.
        assert_eq!(
            m("! publish random\nS: notif: classified\nC: OK"),
            vec![(SNoDup, 6)]
        );
        // Two ads: two announcements are fine.
        assert_eq!(
            m(
                "! publish classified\n! publish classified\nS: notif: classified\nC: OK\nS: notif: classified\nC: OK\n! quiet 1s"
            ),
            vec![]
        );
        // Without publish directives nothing is known, so nothing is judged.
        assert_eq!(
            m("S: notif: random\nC: OK\nS: notif: random\nC: OK"),
            vec![]
        );
    }

    #[test]
    fn liveness() {
        assert_eq!(m("! publish random\n! quiet 1s"), vec![(SLiveness, 6)]);
        // One violation for one forgotten item, however many quiet periods follow.
        assert_eq!(
            m("! publish random\n! quiet 1s\n! quiet 1s"),
            vec![(SLiveness, 6)]
        );
        // The window is busy: the server may not notify.
        assert_eq!(
            m(
                "! publish classified\n! publish random\nS: notif: random\n! quiet 1s\nC: OK\nS: notif: classified\nC: OK"
            ),
            vec![]
        );
        // An ad unread at entry is announced again at once.
        let again = "C: _notif_\nS: will send notifs\n! publish random\nS: notif: classified\nC: OK\nS: notif: random\nC: stop_notif\nS: OK\nC: random?\nS: 5\nC: _notif_\nS: will send notifs\n";
        assert_eq!(rules(&format!("{again}! quiet 1s")), vec![(SLiveness, 13)]);
        assert_eq!(
            rules(&format!("{again}S: notif: classified\nC: OK\n! quiet 1s")),
            vec![]
        );
    }
}
