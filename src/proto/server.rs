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
//! items, announced one per answer (or, under `ads-behind=one`, all with one), from two
//! counters. State per connection is a handful of integers (plus, under
//! `classified-order=newest`, the ranges of older ads left unread, bounded by the store's
//! capacity).
//!
//! Where the seed leaves the behaviour open the session takes the alternative its
//! [`Choices`] name (docs/protocol.md, section 8.1): the session is the one place those
//! decisions are made, for TCP, the simulator and the conformance suite alike.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::dialect::{Dialect, ErrorPolicy, ItemKind};

use super::availability::ItemsView;
use crate::choices::{AdsBehind, Choices, ClassifiedOrder, ConnectRandom, RandomReply, WhenNone};

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
    /// Which legal alternative this server takes where the seed leaves the behaviour open.
    choices: Choices,
    /// The random version this client last fetched (or the one current at connect time).
    seen_random_version: u64,
    /// Every ad from this id to the store's end is unread.
    next_unread_ad: u64,
    /// Ranges of ids (half-open, ascending) below `next_unread_ad` still unread: only
    /// newest-first reading leaves them. Pruned when the store evicts their ads, so bounded
    /// by the store's capacity.
    older_unread: Vec<(u64, u64)>,
    /// Within the current notification session: the newest random version announced.
    announced_random_version: u64,
    /// Within the current notification session: how many unread ads are announced (one per
    /// notification, or all those unread at the last one under `ads-behind=one`).
    announced_ads: u64,
    /// Numbers drawn so far (`random=draw`): the state of this session's generator.
    draws: u64,
    /// The kind announced last, so that the other kind goes first next time (no starvation).
    last_announced: ItemKind,
    /// Lines to send; at most a few at a time (one reply, or an ack and one notification).
    /// Kept as what to say rather than text, so the shell can write them straight into its
    /// buffer ([`ServerSession::transmit_into`]) without a `String` per line.
    outbox: VecDeque<Out>,
    closing: bool,
    /// The reason of the last protocol error, kept for the shell's log (even when the dialect
    /// stays silent on errors).
    last_error: Option<String>,
}

impl ServerSession {
    /// A session for a client connecting now, with the default [`Choices`]: the newest ad is
    /// unread, the current random number counts as already seen (only a number published
    /// later is "available").
    pub fn new(dialect: Arc<Dialect>, items: &impl ItemsView) -> ServerSession {
        ServerSession::with_choices(dialect, Choices::default(), items)
    }

    /// A session for a client connecting now that takes `choices` where the seed leaves the
    /// behaviour open (docs/protocol.md, section 8.1).
    pub fn with_choices(
        dialect: Arc<Dialect>,
        choices: Choices,
        items: &impl ItemsView,
    ) -> ServerSession {
        let ads_end = items.ads_end();
        let seen_random_version = match choices.connect_random {
            ConnectRandom::Seen => items.random_version(),
            ConnectRandom::Available => items.random_version().saturating_sub(1),
        };
        ServerSession {
            dialect,
            mode: Mode::Idle,
            choices,
            seen_random_version,
            next_unread_ad: ads_end.saturating_sub(1),
            older_unread: Vec::new(),
            announced_random_version: 0,
            announced_ads: 0,
            draws: 0,
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
        let out = self.outbox.pop_front()?;
        let mut line = Vec::new();
        self.render(&out, &mut line);
        // Every line is built from UTF-8 pieces: dialect spellings, digits, ads, reasons.
        Some(
            String::from_utf8(line)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        )
    }

    /// Appends every line to send to `dst`, each followed by `ending` (the dialect's), and
    /// returns how many. The same lines as [`ServerSession::poll_transmit`] yields, without
    /// building a `String` for each: the shell's path at scale.
    pub fn transmit_into(&mut self, dst: &mut Vec<u8>, ending: &[u8]) -> usize {
        let n = self.outbox.len();
        while let Some(out) = self.outbox.pop_front() {
            self.render(&out, dst);
            dst.extend_from_slice(ending);
        }
        n
    }

    /// Whether lines are waiting to be sent.
    pub fn has_output(&self) -> bool {
        !self.outbox.is_empty()
    }

    fn render(&self, out: &Out, dst: &mut Vec<u8>) {
        let d = &self.dialect;
        match out {
            Out::ModeAck => dst.extend_from_slice(d.replies.mode_ack.as_bytes()),
            Out::StopOk => dst.extend_from_slice(d.replies.stop_ok.as_bytes()),
            Out::Notification(kind) => dst.extend_from_slice(d.notification(*kind).as_bytes()),
            Out::Number(n) => push_decimal(*n, dst),
            Out::Text(t) => dst.extend_from_slice(t.as_bytes()),
        }
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
        let command = self.command(line);
        // The text of an unknown line, for its error; known ones are quoted by their spelling.
        let text = match command {
            Command::Unknown => match std::str::from_utf8(line) {
                Ok(text) => text,
                Err(_) => {
                    self.error("line is not valid UTF-8");
                    return;
                }
            },
            _ => "",
        };
        self.obey(command, text, items);
    }

    /// Which command `line` is. Compared as bytes: a line equal to a spelling is valid UTF-8,
    /// so only an unknown line needs the UTF-8 check (a round trip's request skips it).
    fn command(&self, line: &[u8]) -> Command {
        let d = &self.dialect;
        if line == d.commands.random.as_bytes() {
            Command::Request(ItemKind::Random)
        } else if line == d.commands.classified.as_bytes() {
            Command::Request(ItemKind::Classified)
        } else if line == d.commands.enter.as_bytes() {
            Command::Enter
        } else if line == d.commands.stop.as_bytes() {
            Command::Stop
        } else if line == d.answers.ok.as_bytes() {
            Command::Ok
        } else {
            Command::Unknown
        }
    }

    /// What `command` does in the current mode: the protocol's table, one arm per cell
    /// (`line` is the text of an unknown command, for its error).
    fn obey(&mut self, command: Command, line: &str, items: &impl ItemsView) {
        match (self.mode, command) {
            (_, Command::Unknown) if line.is_empty() => self.error("empty line"),
            (_, Command::Unknown) => {
                let reason = format!("unknown command `{}`", printable(line));
                self.error(&reason);
            }
            (Mode::Idle, Command::Request(kind)) => self.reply_item(kind, items),
            (Mode::Idle, Command::Enter) => {
                self.outbox.push_back(Out::ModeAck);
                self.mode = Mode::Notifying {
                    awaiting_answer: false,
                };
                // A new notification session: whatever is still unread is announced again.
                self.announced_random_version = self.seen_random_version;
                self.announced_ads = 0;
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
                let reason = format!(
                    "`{}` without an outstanding notification",
                    self.dialect.answers.ok
                );
                self.error(&reason);
            }
            (Mode::Notifying { .. }, Command::Request(_) | Command::Enter) => {
                let reason = format!(
                    "`{}` is not allowed in notification mode; send `{}` first",
                    self.spelling(command),
                    self.dialect.commands.stop
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
                self.outbox.push_back(Out::StopOk);
                self.mode = Mode::Idle;
            }
        }
    }

    /// How the dialect spells a known command (for quoting it in an error).
    fn spelling(&self, command: Command) -> &str {
        let d = &self.dialect;
        match command {
            Command::Request(ItemKind::Random) => &d.commands.random,
            Command::Request(ItemKind::Classified) => &d.commands.classified,
            Command::Enter => &d.commands.enter,
            Command::Stop => &d.commands.stop,
            Command::Ok => &d.answers.ok,
            Command::Unknown => "",
        }
    }

    fn reply_item(&mut self, kind: ItemKind, items: &impl ItemsView) {
        let reply = match kind {
            ItemKind::Random => {
                self.seen_random_version = items.random_version();
                Out::Number(match self.choices.random {
                    RandomReply::Newest => items.random_value(),
                    RandomReply::Draw => {
                        self.draws += 1;
                        splitmix64(items.random_value() ^ self.draws.rotate_left(32))
                    }
                })
            }
            ItemKind::Classified => Out::Text(match self.read_ad(items) {
                Some(ad) => ad,
                None => match self.choices.when_none {
                    WhenNone::Empty => String::new(),
                    // Nothing is unread, so the newest ad was read already.
                    WhenNone::Repeat => items
                        .ad_at_or_after(items.ads_end().saturating_sub(1))
                        .map(|(_, ad)| ad.to_string())
                        .unwrap_or_default(),
                },
            }),
        };
        self.outbox.push_back(reply);
    }

    /// The id of the oldest ad the store still holds.
    fn first_retained(items: &impl ItemsView) -> u64 {
        items
            .ad_at_or_after(0)
            .map_or(items.ads_end(), |(id, _)| id)
    }

    /// Marks the next unread ad in the chosen order read and returns it; `None` when nothing
    /// is unread.
    fn read_ad(&mut self, items: &impl ItemsView) -> Option<String> {
        let first = Self::first_retained(items);
        self.older_unread.retain_mut(|r| {
            r.0 = r.0.max(first);
            r.0 < r.1
        });
        let fresh_start = self.next_unread_ad.max(first);
        let fresh = items.ads_end() > fresh_start;
        // Oldest-first reading never leaves older ads unread, so only the fresh range counts.
        let id = match (self.choices.classified_order, fresh) {
            (ClassifiedOrder::Oldest, true) => {
                self.next_unread_ad = fresh_start + 1;
                fresh_start
            }
            (ClassifiedOrder::Newest, true) => {
                let id = items.ads_end() - 1;
                if fresh_start < id {
                    self.older_unread.push((fresh_start, id));
                }
                self.next_unread_ad = items.ads_end();
                id
            }
            (ClassifiedOrder::Newest, false) => {
                let r = self.older_unread.last_mut()?;
                r.1 -= 1;
                let id = r.1;
                self.older_unread.retain(|r| r.0 < r.1);
                id
            }
            (ClassifiedOrder::Oldest, false) => return None,
        };
        items.ad_at_or_after(id).map(|(_, ad)| ad.to_string())
    }

    /// How many ads this client has not read.
    fn unread_ads(&self, items: &impl ItemsView) -> u64 {
        let first = Self::first_retained(items);
        let fresh = items
            .ads_end()
            .saturating_sub(self.next_unread_ad.max(first));
        let older: u64 = self
            .older_unread
            .iter()
            .map(|(start, end)| end.saturating_sub(*start.max(&first)))
            .sum();
        fresh + older
    }

    /// Whether an item of `kind` is available and not yet announced in this session.
    fn pending(&self, kind: ItemKind, items: &impl ItemsView) -> bool {
        match kind {
            ItemKind::Random => {
                items.random_version() > self.seen_random_version.max(self.announced_random_version)
            }
            ItemKind::Classified => self.unread_ads(items) > self.announced_ads,
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
                // Under `ads-behind=one`, one notification stands for every unread ad.
                ItemKind::Classified => match self.choices.ads_behind {
                    AdsBehind::Each => {
                        self.announced_ads = self.announced_ads.min(self.unread_ads(items)) + 1;
                    }
                    AdsBehind::One => self.announced_ads = self.unread_ads(items),
                },
            }
            self.last_announced = kind;
            self.outbox.push_back(Out::Notification(kind));
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
            self.outbox.push_back(Out::Text(line));
        }
    }
}

/// One line to send, as what it says; rendered only when the shell takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    /// The dialect's acknowledgement of the enter command.
    ModeAck,
    /// The dialect's acknowledgement of the stop command.
    StopOk,
    /// The dialect's notification for this kind.
    Notification(ItemKind),
    /// A random number, in decimal.
    Number(u64),
    /// Anything else: an ad, an error line.
    Text(String),
}

/// Appends `n` in decimal, without going through `fmt` (a reply per round trip).
fn push_decimal(mut n: u64, dst: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    dst.extend_from_slice(&digits[i..]);
}

/// A well-mixed 64-bit value from `x` (SplitMix64): the `random=draw` generator, so a
/// session stays deterministic without an RNG of its own.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
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

    /// The buffer-writing output says exactly what `poll_transmit` says, terminators added,
    /// for every kind of line: replies, numbers of every width, acks, notifications, errors.
    #[test]
    fn transmit_into_writes_the_lines_poll_transmit_yields() {
        let script = [
            "random?",
            "classified?",
            "bogus",
            "_notif_",
            "OK",
            "stop_notif",
            "random?",
        ];
        let run = |by_buffer: bool| {
            let mut items = Items::new(0, "Nice appart in the 11e.", 100);
            let mut s = session(Dialect::default(), &items);
            let mut out = Vec::new();
            for (i, line) in script.iter().enumerate() {
                items.publish_random([0, 7, u64::MAX, 10, 1_000_000_007, 9, 42][i]);
                items.publish_classified("ad");
                s.handle_line(line.as_bytes(), &items);
                if by_buffer {
                    s.transmit_into(&mut out, b"\r\n");
                    assert!(!s.has_output());
                } else {
                    for l in drain(&mut s) {
                        out.extend_from_slice(l.as_bytes());
                        out.extend_from_slice(b"\r\n");
                    }
                }
            }
            String::from_utf8(out).unwrap()
        };
        let text = run(true);
        assert_eq!(text, run(false));
        assert!(
            text.starts_with("0\r\nNice appart in the 11e.\r\nERR "),
            "{text}"
        );
        assert!(text.ends_with("OK\r\n42\r\n"), "{text}");
        let mut n = Vec::new();
        push_decimal(u64::MAX, &mut n);
        assert_eq!(n, u64::MAX.to_string().as_bytes());
    }

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

    fn chosen(spec: &str, items: &Items) -> ServerSession {
        let choices: Choices = spec.parse().unwrap();
        ServerSession::with_choices(Arc::new(Dialect::default()), choices, items)
    }

    #[test]
    fn newest_first_reads_every_unread_ad_once() {
        let mut items = Items::new(1, "first", 100);
        let mut s = chosen("classified-order=newest", &items);
        items.publish_classified("second");
        items.publish_classified("third");
        assert_eq!(send(&mut s, &items, "classified?"), ["third"]);
        items.publish_classified("fourth");
        assert_eq!(send(&mut s, &items, "classified?"), ["fourth"]);
        // Two unread below: announced one per ad.
        assert_eq!(
            send(&mut s, &items, "_notif_"),
            ["will send notifs", "notif: classified"]
        );
        assert_eq!(send(&mut s, &items, "OK"), ["notif: classified"]);
        assert!(send(&mut s, &items, "OK").is_empty());
        send(&mut s, &items, "stop_notif");
        assert_eq!(send(&mut s, &items, "classified?"), ["second"]);
        assert_eq!(send(&mut s, &items, "classified?"), ["first"]);
        assert_eq!(send(&mut s, &items, "classified?"), [""]);
    }

    #[test]
    fn when_none_repeat_hands_out_the_newest_ad_again() {
        let mut items = Items::new(1, "first", 100);
        let mut s = chosen("when-none=repeat,classified-order=newest", &items);
        assert_eq!(send(&mut s, &items, "classified?"), ["first"]);
        assert_eq!(send(&mut s, &items, "classified?"), ["first"]);
        items.publish_classified("second");
        assert_eq!(send(&mut s, &items, "classified?"), ["second"]);
        assert_eq!(send(&mut s, &items, "classified?"), ["second"]);
        // Nothing unread: nothing announced.
        assert_eq!(send(&mut s, &items, "_notif_"), ["will send notifs"]);
    }

    #[test]
    fn connect_random_available_is_announced_until_fetched() {
        let items = Items::new(1, "first", 100);
        let mut s = chosen("connect-random=available", &items);
        send(&mut s, &items, "classified?");
        assert_eq!(
            send(&mut s, &items, "_notif_"),
            ["will send notifs", "notif: random"]
        );
        send(&mut s, &items, "stop_notif");
        assert_eq!(
            send(&mut s, &items, "_notif_"),
            ["will send notifs", "notif: random"]
        );
        send(&mut s, &items, "stop_notif");
        send(&mut s, &items, "random?");
        assert_eq!(send(&mut s, &items, "_notif_"), ["will send notifs"]);
    }

    #[test]
    fn ads_behind_one_announces_the_pile_once() {
        let mut items = Items::new(1, "first", 100);
        let mut s = chosen("ads-behind=one", &items);
        for ad in ["a", "b", "c"] {
            items.publish_classified(ad);
        }
        assert_eq!(
            send(&mut s, &items, "_notif_"),
            ["will send notifs", "notif: classified"]
        );
        assert!(send(&mut s, &items, "OK").is_empty());
        items.publish_classified("d");
        s.handle_items_changed(&items);
        assert_eq!(drain(&mut s), ["notif: classified"]);
    }

    #[test]
    fn random_draw_gives_a_new_number_per_request() {
        let items = Items::new(1, "first", 100);
        let mut s = chosen("random=draw", &items);
        let a = send(&mut s, &items, "random?");
        let b = send(&mut s, &items, "random?");
        assert_ne!(a, b);
        assert!(a[0].bytes().all(|c| c.is_ascii_digit()));
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
