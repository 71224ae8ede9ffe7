//! The reference server's protocol engine, sans-IO: one [`ServerSession`] per connection.
//!
//! Inputs are a received line ([`ServerSession::handle_line`]), an oversized line
//! ([`ServerSession::handle_too_long`]) and "the items changed"
//! ([`ServerSession::handle_items_changed`]); outputs are drained with
//! [`ServerSession::poll_transmit`] and [`ServerSession::is_closing`]. The session never reads
//! the clock or a socket, so the same code runs over TCP, in-memory streams and the simulator.
//!
//! Pending announcements are not queued: the session remembers only which item of each kind
//! it announced last, and compares with the store when it can send. So 10,000 random numbers
//! published while a notification is unanswered cost nothing and produce exactly one more
//! notification once the answer arrives (only the newest number counts); 10,000 ads are 10,000
//! items, announced one per answer, from two counters. State per connection is a handful of
//! integers.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::dialect::{Dialect, ErrorPolicy, ItemKind};

use super::availability::ItemsView;

/// Where the connection is in the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Request/reply mode: `random?`, `classified?` and the enter command are accepted.
    Idle,
    /// Notification mode, entered with the enter command and left with `stop_notif`.
    Notifying {
        /// A notification was sent and its answer has not been read yet (only where the
        /// dialect requires answers; otherwise always false).
        awaiting_answer: bool,
    },
}

/// The per-connection state machine of the reference server.
#[derive(Debug)]
pub struct ServerSession {
    dialect: Arc<Dialect>,
    mode: Mode,
    /// The random version this client last fetched (or the one current at connect time).
    seen_random_version: u64,
    /// The id of the oldest ad this client has not read.
    next_unread_ad: u64,
    /// Within the current notification session: the newest random version announced.
    announced_random_version: u64,
    /// Within the current notification session: every ad below this id is announced.
    announced_ads_end: u64,
    /// The kind announced last, so that the other kind goes first next time (no starvation).
    last_announced: ItemKind,
    /// Lines to send; at most a few at a time (one reply, or an ack and one notification).
    outbox: VecDeque<String>,
    closing: bool,
    /// The reason of the last protocol error, kept for the shell's log (even when the dialect
    /// stays silent on errors).
    last_error: Option<String>,
}

impl ServerSession {
    /// A session for a client connecting now: the newest ad is unread, the current random
    /// number counts as already seen (only a number published later is "available").
    pub fn new(dialect: Arc<Dialect>, items: &impl ItemsView) -> ServerSession {
        let ads_end = items.ads_end();
        ServerSession {
            dialect,
            mode: Mode::Idle,
            seen_random_version: items.random_version(),
            next_unread_ad: ads_end.saturating_sub(1),
            announced_random_version: 0,
            announced_ads_end: 0,
            last_announced: ItemKind::Random,
            outbox: VecDeque::with_capacity(4),
            closing: false,
            last_error: None,
        }
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether a publish could make this session send something now: the shell only needs to
    /// wake it in that case.
    pub fn wants_items(&self) -> bool {
        matches!(
            self.mode,
            Mode::Notifying {
                awaiting_answer: false
            }
        )
    }

    /// The next line to send, without terminator.
    pub fn poll_transmit(&mut self) -> Option<String> {
        self.outbox.pop_front()
    }

    /// Whether the connection must be closed once the outbox is sent.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// The reason of the protocol error the last input caused, if any (for logs).
    pub fn take_error(&mut self) -> Option<String> {
        self.last_error.take()
    }

    /// Items were published: announce one if the mode and the window allow.
    pub fn handle_items_changed(&mut self, items: &impl ItemsView) {
        self.announce_next(items);
    }

    /// A line longer than the limit arrived: refuse it and close, since the rest of the stream
    /// can no longer be trusted to be framed as the client meant.
    pub fn handle_too_long(&mut self) {
        self.error("line too long");
        self.closing = true;
    }

    /// A complete line arrived (terminator removed). It may not be UTF-8.
    pub fn handle_line(&mut self, line: &[u8], items: &impl ItemsView) {
        if self.closing {
            return;
        }
        let Ok(line) = std::str::from_utf8(line) else {
            self.error("line is not valid UTF-8");
            return;
        };
        let d = &self.dialect;
        let command = if line == d.commands.random {
            Command::Request(ItemKind::Random)
        } else if line == d.commands.classified {
            Command::Request(ItemKind::Classified)
        } else if line == d.commands.enter {
            Command::Enter
        } else if line == d.commands.stop {
            Command::Stop
        } else if line == d.answers.ok {
            Command::Ok
        } else {
            Command::Unknown
        };
        match (self.mode, command) {
            (_, Command::Unknown) if line.is_empty() => self.error("empty line"),
            (_, Command::Unknown) => {
                let reason = format!("unknown command `{}`", printable(line));
                self.error(&reason);
            }
            (Mode::Idle, Command::Request(kind)) => self.reply_item(kind, items),
            (Mode::Idle, Command::Enter) => {
                let ack = self.dialect.replies.mode_ack.clone();
                self.outbox.push_back(ack);
                self.mode = Mode::Notifying {
                    awaiting_answer: false,
                };
                // A new notification session: whatever is still unread is announced again.
                self.announced_random_version = self.seen_random_version;
                self.announced_ads_end = self.next_unread_ad;
                self.announce_next(items);
            }
            (Mode::Idle, Command::Stop) => {
                let reason = format!(
                    "`{}` outside notification mode; send `{}` first",
                    self.dialect.commands.stop, self.dialect.commands.enter
                );
                self.error(&reason);
            }
            (
                Mode::Idle
                | Mode::Notifying {
                    awaiting_answer: false,
                },
                Command::Ok,
            ) => {
                let reason = format!("`{}` without an outstanding notification", line);
                self.error(&reason);
            }
            (Mode::Notifying { .. }, Command::Request(_) | Command::Enter) => {
                let reason = format!(
                    "`{}` is not allowed in notification mode; send `{}` first",
                    line, self.dialect.commands.stop
                );
                self.error(&reason);
            }
            (
                Mode::Notifying {
                    awaiting_answer: true,
                },
                Command::Ok,
            ) => {
                self.mode = Mode::Notifying {
                    awaiting_answer: false,
                };
                self.announce_next(items);
            }
            (Mode::Notifying { .. }, Command::Stop) => {
                let ok = self.dialect.replies.stop_ok.clone();
                self.outbox.push_back(ok);
                self.mode = Mode::Idle;
            }
        }
    }

    fn reply_item(&mut self, kind: ItemKind, items: &impl ItemsView) {
        let reply = match kind {
            ItemKind::Random => {
                self.seen_random_version = items.random_version();
                items.random_value().to_string()
            }
            ItemKind::Classified => match items.ad_at_or_after(self.next_unread_ad) {
                Some((id, ad)) => {
                    self.next_unread_ad = id + 1;
                    ad.to_string()
                }
                None => String::new(),
            },
        };
        self.outbox.push_back(reply);
    }

    /// Whether an item of `kind` is available and not yet announced in this session.
    fn pending(&self, kind: ItemKind, items: &impl ItemsView) -> bool {
        match kind {
            ItemKind::Random => {
                items.random_version() > self.seen_random_version.max(self.announced_random_version)
            }
            ItemKind::Classified => {
                items.ads_end() > self.next_unread_ad.max(self.announced_ads_end)
            }
        }
    }

    fn announce_next(&mut self, items: &impl ItemsView) {
        let required = self.dialect.answers_required();
        loop {
            if self.mode
                != (Mode::Notifying {
                    awaiting_answer: false,
                })
            {
                return;
            }
            // The kind not announced last goes first, so neither can starve the other.
            let order = match self.last_announced {
                ItemKind::Random => [ItemKind::Classified, ItemKind::Random],
                ItemKind::Classified => [ItemKind::Random, ItemKind::Classified],
            };
            let Some(kind) = order.into_iter().find(|k| self.pending(*k, items)) else {
                return;
            };
            match kind {
                ItemKind::Random => self.announced_random_version = items.random_version(),
                // One notification per unread ad: each ad is an item the client is told
                // about (S-LIVENESS), so two unread ads take two notifications, one at a
                // time through the window. Random numbers coalesce: only the newest counts.
                ItemKind::Classified => {
                    self.announced_ads_end = self.next_unread_ad.max(self.announced_ads_end) + 1;
                }
            }
            self.last_announced = kind;
            self.outbox
                .push_back(self.dialect.notification(kind).to_string());
            if required {
                self.mode = Mode::Notifying {
                    awaiting_answer: true,
                };
            }
        }
    }

    fn error(&mut self, reason: &str) {
        self.last_error = Some(reason.to_string());
        if self.dialect.errors.policy == ErrorPolicy::Error
            && let Some(mut line) = self.dialect.error_line(reason)
        {
            fit(&mut line, self.dialect.max_line);
            self.outbox.push_back(line);
        }
    }
}

/// Shortens `line` to at most `max` bytes (at a char boundary, the cut marked `...`): a
/// client reading with the dialect's limit must never receive an oversized line from us,
/// however long the reason (a quoted command) is.
pub(crate) fn fit(line: &mut String, max: usize) {
    if line.len() <= max {
        return;
    }
    let mut end = max.saturating_sub(3);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line.truncate(end);
    line.push_str("...");
}

#[derive(Debug, Clone, Copy)]
enum Command {
    Request(ItemKind),
    Enter,
    Stop,
    Ok,
    Unknown,
}

/// `line` shortened and with control characters escaped (`\0`, `\r`, `\u{1b}`), for quoting
/// in an error reason: the reason must stay one line within the limit whatever the client
/// sent, and show a NUL or a stray CR rather than hide it.
fn printable(line: &str) -> String {
    const MAX: usize = 64;
    let end = line.char_indices().nth(MAX).map_or(line.len(), |(i, _)| i);
    let mut out = crate::escape::printable(&line[..end]).into_owned();
    if end < line.len() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::availability::Items;

    fn session(dialect: Dialect, items: &Items) -> ServerSession {
        ServerSession::new(Arc::new(dialect), items)
    }

    fn drain(s: &mut ServerSession) -> Vec<String> {
        std::iter::from_fn(|| s.poll_transmit()).collect()
    }

    fn send(s: &mut ServerSession, items: &Items, line: &str) -> Vec<String> {
        s.handle_line(line.as_bytes(), items);
        drain(s)
    }

    fn fresh() -> (ServerSession, Items) {
        let items = Items::new(456902234, "Nice appart in the 11e.", 100);
        (session(Dialect::default(), &items), items)
    }

    const NOTIFYING_FREE: Mode = Mode::Notifying {
        awaiting_answer: false,
    };
    const AWAITING: Mode = Mode::Notifying {
        awaiting_answer: true,
    };

    #[test]
    fn seed_example_session() {
        let (mut s, mut items) = fresh();
        assert_eq!(send(&mut s, &items, "random?"), ["456902234"]);
        assert_eq!(
            send(&mut s, &items, "classified?"),
            ["Nice appart in the 11e."]
        );
        assert_eq!(send(&mut s, &items, "_notif_"), ["will send notifs"]);
        items.publish_classified("Bike for sale.");
        s.handle_items_changed(&items);
        assert_eq!(drain(&mut s), ["notif: classified"]);
        items.publish_random(89765234756);
        s.handle_items_changed(&items);
        assert_eq!(drain(&mut s), Vec::<String>::new(), "window is full");
        assert_eq!(send(&mut s, &items, "OK"), ["notif: random"]);
        assert_eq!(send(&mut s, &items, "stop_notif"), ["OK"]);
        assert_eq!(s.mode(), Mode::Idle);
        assert_eq!(send(&mut s, &items, "random?"), ["89765234756"]);
        // The ad announced before is still unread: announced again at once on re-entry.
        assert_eq!(
            send(&mut s, &items, "_notif_"),
            ["will send notifs", "notif: classified"]
        );
        assert_eq!(send(&mut s, &items, "OK"), Vec::<String>::new());
        assert_eq!(s.mode(), NOTIFYING_FREE);
    }

    #[test]
    fn classified_returns_oldest_unread_then_empty() {
        let (mut s, mut items) = fresh();
        items.publish_classified("second");
        items.publish_classified("third");
        assert_eq!(
            send(&mut s, &items, "classified?"),
            ["Nice appart in the 11e."]
        );
        assert_eq!(send(&mut s, &items, "classified?"), ["second"]);
        assert_eq!(send(&mut s, &items, "classified?"), ["third"]);
        assert_eq!(send(&mut s, &items, "classified?"), [""]);
    }

    #[test]
    fn connect_time_random_is_not_available_but_newest_ad_is() {
        let (mut s, items) = fresh();
        assert_eq!(
            send(&mut s, &items, "_notif_"),
            ["will send notifs", "notif: classified"]
        );
        assert_eq!(send(&mut s, &items, "OK"), Vec::<String>::new());
    }

    #[test]
    fn ten_thousand_publishes_coalesce_into_one_notification() {
        let (mut s, mut items) = fresh();
        send(&mut s, &items, "classified?");
        assert_eq!(send(&mut s, &items, "_notif_"), ["will send notifs"]);
        items.publish_random(1);
        s.handle_items_changed(&items);
        assert_eq!(drain(&mut s), ["notif: random"]);
        for n in 0..10_000 {
            items.publish_random(n);
            s.handle_items_changed(&items);
        }
        assert!(drain(&mut s).is_empty());
        assert_eq!(s.outbox.capacity(), 4, "nothing was queued");
        assert_eq!(send(&mut s, &items, "OK"), ["notif: random"]);
        assert_eq!(send(&mut s, &items, "OK"), Vec::<String>::new());
        assert_eq!(s.mode(), NOTIFYING_FREE);
    }

    #[test]
    fn each_item_is_announced_once_per_session() {
        let (mut s, items) = fresh();
        assert_eq!(
            send(&mut s, &items, "_notif_"),
            ["will send notifs", "notif: classified"]
        );
        assert_eq!(send(&mut s, &items, "OK"), Vec::<String>::new());
        s.handle_items_changed(&items);
        assert!(
            drain(&mut s).is_empty(),
            "the same ad is not announced twice"
        );
    }

    #[test]
    fn kinds_alternate_so_neither_starves() {
        let (mut s, mut items) = fresh();
        send(&mut s, &items, "classified?");
        send(&mut s, &items, "_notif_");
        items.publish_random(1);
        items.publish_classified("ad");
        s.handle_items_changed(&items);
        assert_eq!(drain(&mut s), ["notif: classified"]);
        items.publish_classified("another ad");
        assert_eq!(send(&mut s, &items, "OK"), ["notif: random"]);
        assert_eq!(send(&mut s, &items, "OK"), ["notif: classified"]);
    }

    #[test]
    fn stop_with_outstanding_notification_closes_the_window() {
        let (mut s, mut items) = fresh();
        send(&mut s, &items, "_notif_");
        assert_eq!(s.mode(), AWAITING);
        assert_eq!(send(&mut s, &items, "stop_notif"), ["OK"]);
        items.publish_random(5);
        s.handle_items_changed(&items);
        assert!(drain(&mut s).is_empty(), "no notification after the OK");
        assert!(!s.wants_items());
    }

    #[test]
    fn errors_leave_state_unchanged() {
        let (mut s, items) = fresh();
        let cases: &[(&str, &str)] = &[
            ("foo", "ERR unknown command `foo`"),
            (
                "stop_notif",
                "ERR `stop_notif` outside notification mode; send `_notif_` first",
            ),
            ("OK", "ERR `OK` without an outstanding notification"),
            ("", "ERR empty line"),
            ("random? ", "ERR unknown command `random? `"),
        ];
        for (line, err) in cases {
            assert_eq!(send(&mut s, &items, line), [*err]);
            assert_eq!(s.mode(), Mode::Idle);
        }
        s.handle_line(b"\xff\xfe", &items);
        assert_eq!(drain(&mut s), ["ERR line is not valid UTF-8"]);
        assert_eq!(s.take_error().as_deref(), Some("line is not valid UTF-8"));
        assert_eq!(s.take_error(), None);
        // Still usable, and the newest ad still unread.
        assert_eq!(
            send(&mut s, &items, "classified?"),
            ["Nice appart in the 11e."]
        );

        send(&mut s, &items, "_notif_");
        assert_eq!(s.mode(), NOTIFYING_FREE);
        for (line, err) in [
            (
                "random?",
                "ERR `random?` is not allowed in notification mode; send `stop_notif` first",
            ),
            (
                "_notif_",
                "ERR `_notif_` is not allowed in notification mode; send `stop_notif` first",
            ),
            ("OK", "ERR `OK` without an outstanding notification"),
            ("bar", "ERR unknown command `bar`"),
        ] {
            assert_eq!(send(&mut s, &items, line), [err]);
            assert_eq!(s.mode(), NOTIFYING_FREE);
        }
    }

    #[test]
    fn entering_with_both_kinds_available_respects_the_window() {
        let (mut s, mut items) = fresh();
        items.publish_random(2);
        assert_eq!(
            send(&mut s, &items, "_notif_"),
            ["will send notifs", "notif: classified"]
        );
        assert_eq!(s.mode(), AWAITING);
        assert!(!s.wants_items());
        // Errors while awaiting an answer keep the window closed.
        for line in ["random?", "classified?", "_notif_", "junk"] {
            assert_eq!(send(&mut s, &items, line).len(), 1);
            assert_eq!(s.mode(), AWAITING);
        }
        assert_eq!(send(&mut s, &items, "OK"), ["notif: random"]);
        assert_eq!(send(&mut s, &items, "OK"), Vec::<String>::new());
        assert!(s.wants_items());
    }

    #[test]
    fn error_reason_quotes_safely() {
        let (mut s, items) = fresh();
        let long = "x".repeat(1000);
        let got = send(&mut s, &items, &format!("a\tb{long}"));
        assert_eq!(got.len(), 1);
        assert!(
            got[0].starts_with("ERR unknown command `a\\tbxxx"),
            "{}",
            got[0]
        );
        assert!(got[0].len() < 100);
    }

    #[test]
    fn error_lines_fit_a_small_line_limit() {
        let yaml = Dialect::default()
            .to_yaml()
            .replace("max_line: 1024", "max_line: 20");
        let dialect = Arc::new(Dialect::from_yaml_str(&yaml, "small").unwrap());
        let items = Items::new(1, "ad", 4);
        let mut s = ServerSession::new(dialect, &items);
        s.handle_line("ééééééééé".as_bytes(), &items);
        s.handle_line(b"OK", &items);
        let got = drain(&mut s);
        assert_eq!(got, ["ERR unknown comma...", "ERR `OK` without ..."]);
        assert!(got.iter().all(|l| l.len() <= 20));
    }

    #[test]
    fn too_long_errors_and_closes() {
        let (mut s, items) = fresh();
        s.handle_too_long();
        assert_eq!(drain(&mut s), ["ERR line too long"]);
        assert!(s.is_closing());
        assert!(send(&mut s, &items, "random?").is_empty());
    }

    #[test]
    fn seed_text_dialect() {
        let items = Items::new(1, "ad", 10);
        let mut s = session(Dialect::builtin("seed-text").unwrap(), &items);
        assert_eq!(
            send(&mut s, &items, "notif"),
            ["notif: OK", "notif: classified"]
        );
        assert_eq!(
            send(&mut s, &items, "_notif_"),
            ["ERR unknown command `_notif_`"]
        );
        assert_eq!(send(&mut s, &items, "stop_notif"), ["OK"]);
    }

    fn no_answers_ignore_errors() -> Dialect {
        let yaml = Dialect::default()
            .to_yaml()
            .replace("policy: required", "policy: none")
            .replace("policy: error", "policy: ignore")
            .replace("name: seed-session", "name: loose");
        Dialect::from_yaml_str(&yaml, "test").unwrap()
    }

    #[test]
    fn no_answers_dialect_notifies_freely_and_ignores_errors() {
        let mut items = Items::new(1, "ad", 10);
        let mut s = session(no_answers_ignore_errors(), &items);
        assert!(send(&mut s, &items, "nonsense").is_empty());
        assert!(send(&mut s, &items, "stop_notif").is_empty());
        assert_eq!(
            send(&mut s, &items, "_notif_"),
            ["will send notifs", "notif: classified"]
        );
        assert_eq!(s.mode(), NOTIFYING_FREE);
        items.publish_random(2);
        s.handle_items_changed(&items);
        items.publish_random(3);
        s.handle_items_changed(&items);
        assert_eq!(drain(&mut s), ["notif: random", "notif: random"]);
        // Both kinds pending at once: both announced, no window.
        items.publish_random(4);
        items.publish_classified("ad 2");
        s.handle_items_changed(&items);
        assert_eq!(drain(&mut s), ["notif: classified", "notif: random"]);
        assert!(send(&mut s, &items, "OK").is_empty());
        assert!(send(&mut s, &items, "random?").is_empty());
        assert_eq!(send(&mut s, &items, "stop_notif"), ["OK"]);
        s.handle_too_long();
        assert!(drain(&mut s).is_empty());
        assert!(s.is_closing());
    }

    #[test]
    fn reader_far_behind_a_full_ring_skips_to_oldest_retained() {
        let mut items = Items::new(1, "ad 0", 2);
        let mut s = session(Dialect::default(), &items);
        for i in 1..=5 {
            items.publish_classified(&format!("ad {i}"));
        }
        assert_eq!(send(&mut s, &items, "classified?"), ["ad 4"]);
        assert_eq!(send(&mut s, &items, "classified?"), ["ad 5"]);
        assert_eq!(send(&mut s, &items, "classified?"), [""]);
    }
}
