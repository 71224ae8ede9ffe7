//! End-to-end invariants: what the simulator can judge because it knows every publish and
//! when the server was held up, and the checker, reading one conversation, cannot.
//!
//! One judge per rule: every rule the lines alone decide is judged by the checker, which
//! the observer feeds the same conversation (with each publish as an event). What stays here
//! is only what needs the simulator's own knowledge:
//! - `S-LIVENESS` with back-pressure: an item published while a client is in the mode, with
//!   the window free, is announced within the bound, except while the simulator knows the
//!   server could not write (`blocked`), which no transcript shows;
//! - `S-NO-DUP` from the server's side: the random item's version when the client entered the
//!   mode (what it had already fetched before), which the conversation does not carry;
//! - the publish→notification latency of each announcement, a measurement, not a verdict.
//!
//! The checker judges `S-LIVENESS` and `S-NO-DUP` too, from the publishes it is fed; where
//! both fire on a connection, its findings name the rule once (the occurrence count has
//! both). `S-PROMISE` (an empty reply to the classified request after `notif: classified`)
//! needs nothing but the lines, and is the checker's alone.
//!
//! The classification below is the simulator's counting of lines (requests, answers,
//! notifications, for its statistics and behaviours), not a judge of them; it reads
//! notifications and error lines through the checker's own reading (`LineReading`), so the
//! two cannot disagree about what a line is.

use crate::checker::LineReading as _;
use crate::dialect::{Dialect, ItemKind};
use crate::rule::RuleId;

use super::Tick;
use super::behaviour::idx;

/// What a line is, for counting and for the invariants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientLine {
    Request(ItemKind),
    Enter,
    Stop,
    Ok,
    Other,
}

/// A server line's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerLine {
    Notification(ItemKind),
    ModeAck,
    /// The dialect's stop OK (also the spelling of nothing else the server sends).
    StopOk,
    Error,
    Other,
}

pub(crate) fn classify_client(d: &Dialect, line: &[u8]) -> ClientLine {
    let Ok(line) = std::str::from_utf8(line) else {
        return ClientLine::Other;
    };
    if line == d.commands.random {
        ClientLine::Request(ItemKind::Random)
    } else if line == d.commands.classified {
        ClientLine::Request(ItemKind::Classified)
    } else if line == d.commands.enter {
        ClientLine::Enter
    } else if line == d.commands.stop {
        ClientLine::Stop
    } else if line == d.answers.ok {
        ClientLine::Ok
    } else {
        ClientLine::Other
    }
}

pub(crate) fn classify_server(d: &Dialect, line: &str) -> ServerLine {
    if let Some(k) = d.notification_kind(line) {
        ServerLine::Notification(k)
    } else if line == d.replies.mode_ack {
        ServerLine::ModeAck
    } else if line == d.replies.stop_ok {
        ServerLine::StopOk
    } else if d.is_error_line(line) {
        ServerLine::Error
    } else {
        ServerLine::Other
    }
}

/// Who found a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The checker, from the conversation alone.
    Checker,
    /// The simulator's end-to-end invariants.
    Invariant,
}

/// A rule broken on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Broken {
    pub rule: RuleId,
    pub at: Tick,
    pub message: String,
    pub source: Source,
}

/// Per-connection bookkeeping (a few integers: O(1) whatever the traffic).
#[derive(Debug, Clone)]
pub(crate) struct Watch {
    items_known: bool,
    answers_required: bool,
    liveness: Tick,
    in_mode: bool,
    stopping: bool,
    outstanding: bool,
    /// Request whose reply is awaited (outside the mode).
    awaiting: Option<ItemKind>,
    /// Global random version the client last saw (at connect: the current one).
    seen_random: u64,
    /// The number current at connect is neither fetched nor superseded: a server may count it
    /// as available (a choice point, docs/protocol.md 8.1), so it may be announced, unowed.
    connect_random: bool,
    /// Ads this client has not read (the newest one is unread at connect).
    unread_ads: u64,
    /// Items of each kind that may still be announced in this notification session.
    credit: [u64; 2],
    /// Since when an announcement of each kind has been owed (window free, in the mode).
    owed_since: [Option<Tick>; 2],
    /// Publish time of the oldest unannounced item of each kind (for latency).
    first_unannounced: [Option<Tick>; 2],
}

impl Watch {
    /// Without `items_known` (publishes seen late, over TCP) only the promise is judged.
    pub(crate) fn new(
        d: &Dialect,
        liveness: Tick,
        random_version: u64,
        items_known: bool,
    ) -> Watch {
        Watch {
            items_known,
            answers_required: d.answers_required(),
            liveness,
            in_mode: false,
            stopping: false,
            outstanding: false,
            awaiting: None,
            seen_random: random_version,
            connect_random: true,
            unread_ads: 1,
            credit: [0; 2],
            owed_since: [None; 2],
            first_unannounced: [None; 2],
        }
    }

    fn window_free(&self) -> bool {
        self.in_mode && !self.stopping && !self.outstanding
    }

    /// Time passes up to `now`: an owed announcement past its bound is a lost notification.
    /// `blocked` says the server cannot write (the client does not read): not its fault.
    pub(crate) fn tick(&mut self, now: Tick, blocked: bool, out: &mut Vec<Broken>) {
        if !self.items_known {
            return;
        }
        for kind in ItemKind::ALL {
            let i = idx(kind);
            let Some(since) = self.owed_since[i] else {
                continue;
            };
            if blocked || !self.window_free() {
                self.owed_since[i] = Some(since.max(now));
            } else if now > since + self.liveness {
                out.push(Broken {
                    rule: RuleId::SLiveness,
                    at: since + self.liveness,
                    message: format!(
                        "a `{kind}` item was available in notification mode, with no notification outstanding, from +{} but was not announced within {}",
                        super::fmt_tick(since),
                        super::fmt_tick(self.liveness)
                    ),
                    source: Source::Invariant,
                });
                self.owed_since[i] = None;
            }
        }
    }

    pub(crate) fn on_publish(&mut self, now: Tick, kind: ItemKind) {
        if kind == ItemKind::Classified {
            self.unread_ads += 1;
        } else {
            self.connect_random = false;
        }
        if self.in_mode && !self.stopping {
            let i = idx(kind);
            self.credit[i] += 1;
            self.first_unannounced[i].get_or_insert(now);
            self.owed_since[i].get_or_insert(now);
        }
    }

    pub(crate) fn on_client(&mut self, now: Tick, line: ClientLine) {
        match line {
            ClientLine::Request(k) if !self.in_mode => self.awaiting = Some(k),
            ClientLine::Ok if self.outstanding => {
                self.outstanding = false;
                for since in self.owed_since.iter_mut().flatten() {
                    *since = (*since).max(now);
                }
            }
            ClientLine::Stop if self.in_mode => {
                self.stopping = true;
                self.owed_since = [None; 2];
            }
            _ => {}
        }
    }

    /// A server line; returns the publish→notification latency when it is an announcement.
    pub(crate) fn on_server(
        &mut self,
        now: Tick,
        line: ServerLine,
        text: &str,
        random_version: u64,
        out: &mut Vec<Broken>,
    ) -> Option<Tick> {
        match line {
            ServerLine::ModeAck if !self.in_mode => {
                self.in_mode = true;
                self.stopping = false;
                self.outstanding = false;
                let owed = [random_version > self.seen_random, self.unread_ads > 0];
                self.credit = [u64::from(owed[0] || self.connect_random), self.unread_ads];
                let since = owed.map(|o| o.then_some(now));
                self.owed_since = since;
                self.first_unannounced = since;
                None
            }
            ServerLine::Notification(kind) if self.in_mode => {
                let i = idx(kind);
                if self.answers_required && !self.stopping {
                    self.outstanding = true;
                }
                self.owed_since[i] = None;
                let fresh = self.credit[i] > 0;
                self.credit[i] = self.credit[i].saturating_sub(1);
                if !fresh && self.items_known {
                    out.push(Broken {
                        rule: RuleId::SNoDup,
                        at: now,
                        message: format!(
                            "`{text}` announces no new item: every `{kind}` item available in this notification session was already announced"
                        ),
                        source: Source::Invariant,
                    });
                    return None;
                }
                self.first_unannounced[i]
                    .take()
                    .map(|t| now.saturating_sub(t))
            }
            ServerLine::StopOk if self.stopping => {
                self.in_mode = false;
                self.stopping = false;
                self.outstanding = false;
                None
            }
            ServerLine::Error => {
                self.awaiting = None;
                None
            }
            _ => {
                match self.awaiting.take() {
                    Some(ItemKind::Random) => {
                        self.seen_random = random_version;
                        self.connect_random = false;
                    }
                    // An empty reply reads no ad. Whether it broke a promise (`S-PROMISE`)
                    // is the checker's judgement, from the lines alone.
                    Some(ItemKind::Classified) if text.is_empty() => {}
                    Some(ItemKind::Classified) => {
                        self.unread_ads = self.unread_ads.saturating_sub(1);
                    }
                    None => {}
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch() -> (Watch, Dialect) {
        let d = Dialect::default();
        (Watch::new(&d, 5_000_000, 1, true), d)
    }

    fn server(w: &mut Watch, d: &Dialect, now: Tick, line: &str, out: &mut Vec<Broken>) {
        w.on_server(now, classify_server(d, line), line, 1, out);
    }

    #[test]
    fn lost_notification_is_found_after_the_bound() {
        let (mut w, d) = watch();
        let mut out = vec![];
        w.on_client(0, classify_client(&d, b"_notif_"));
        server(&mut w, &d, 0, "will send notifs", &mut out);
        server(&mut w, &d, 1, "notif: classified", &mut out);
        w.on_client(2, ClientLine::Ok);
        w.on_publish(10, ItemKind::Random);
        w.tick(4_000_000, false, &mut out);
        assert!(out.is_empty());
        w.tick(6_000_000, false, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].rule, RuleId::SLiveness);
        assert_eq!(out[0].at, 5_000_010);
    }

    #[test]
    fn window_and_blocking_pause_the_bound() {
        let (mut w, d) = watch();
        let mut out = vec![];
        server(&mut w, &d, 0, "will send notifs", &mut out);
        server(&mut w, &d, 1, "notif: classified", &mut out);
        w.on_publish(10, ItemKind::Random);
        w.tick(9_000_000, false, &mut out);
        w.on_client(9_000_000, ClientLine::Ok);
        w.tick(10_000_000, true, &mut out);
        w.tick(14_000_000, false, &mut out);
        assert!(out.is_empty(), "{out:?}");
        let lat = w.on_server(
            14_000_000,
            ServerLine::Notification(ItemKind::Random),
            "notif: random",
            2,
            &mut out,
        );
        assert_eq!(lat, Some(14_000_000 - 10));
    }

    #[test]
    fn duplicate_is_found_and_a_broken_promise_is_left_to_the_checker() {
        let (mut w, d) = watch();
        let mut out = vec![];
        server(&mut w, &d, 0, "will send notifs", &mut out);
        server(&mut w, &d, 1, "notif: classified", &mut out);
        w.on_client(2, ClientLine::Ok);
        server(&mut w, &d, 3, "notif: classified", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].rule, RuleId::SNoDup);
        w.on_client(4, ClientLine::Stop);
        server(&mut w, &d, 5, "OK", &mut out);
        w.on_client(6, classify_client(&d, b"classified?"));
        server(&mut w, &d, 7, "", &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
    }
}
