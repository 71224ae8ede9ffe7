//! The checker's own line classifier: what a client or server line means in a dialect.
//!
//! Written independently of the reference peers on purpose (see the independence rule in
//! `lib.rs`): the checker must not inherit a misreading of the spec from the code it judges.
//! Classification is table-driven: the dialect's spellings are indexed by length when the
//! checker is built, so a line costs a table read and a word comparison, with no hashing,
//! no allocation and no call to `memcmp` (this runs for every line of a recording).

use crate::dialect::{Dialect, ItemKind};

/// What a client line is, before the state decides whether it is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientClass {
    /// The random request.
    Random,
    /// The classified request.
    Classified,
    /// The command that enters notification mode.
    Enter,
    /// `stop_notif`.
    Stop,
    /// The answer that keeps the client in the mode (`OK`).
    Ok,
    /// Anything else: an unknown command.
    Other,
}

/// What a server line is, before the state decides whether it is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerClass {
    /// One of the dialect's notification lines.
    Notif(ItemKind),
    /// A line that starts like the dialect's notifications (`notif:`) but is none of them
    /// (and is not the mode acknowledgement).
    NotifLike,
    /// An error line (`ERR` or `ERR <reason>`).
    Error,
    /// Anything else (a number, an ad, the mode ack, `OK`...): judged by what was expected.
    Other,
}

/// Classifies lines for one dialect.
#[derive(Debug, Clone)]
pub(crate) struct Classifier {
    /// The client's commands and answer, in the order the first match wins.
    client: Spellings<ClientClass>,
    /// The two notification lines (random first).
    notifs: Spellings<ServerClass>,
    /// The common prefix of the notification lines (`notif: `); empty disables
    /// [`ServerClass::NotifLike`].
    notif_prefix: String,
    /// The dialect's error prefix (`ERR`).
    error_prefix: String,
    /// The mode acknowledgement (never `NotifLike`).
    mode_ack: String,
    /// The client's fixed lines by first byte, classified (see [`Leading`]).
    client_lead: Leading<ClientClass>,
    /// The server's fixed lines (notifications, mode acknowledgement, stop OK), classified.
    server_lead: Leading<ServerClass>,
}

/// A dialect's fixed lines of one party, found by their first byte where a recorded line
/// starts: a reader that knows the line's message starts at `rest` learns, from one table
/// read and a word comparison, both where the line ends and what it means, instead of
/// searching for the newline and classifying afterwards. Most lines of a recording are one of
/// these few spellings.
#[derive(Debug, Clone)]
struct Leading<C> {
    /// For each first byte, a bit per spelling starting with it (bit `i`: `words[i]`).
    by_first: [u8; 256],
    /// The spellings, each with its class as [`Classifier::client`] or
    /// [`Classifier::server`] gives it.
    words: Vec<(Box<str>, C)>,
}

impl<C: Copy> Leading<C> {
    /// Keeps the spellings a transcript line holds verbatim after `C: `/`S: `: non-empty,
    /// untrimmable, without `{` (a placeholder), CR, LF or NUL, at most 255 bytes. A line
    /// with any other message is left to the general path.
    fn new(words: impl IntoIterator<Item = (String, C)>) -> Self {
        let mut by_first = [0u8; 256];
        let mut kept: Vec<(Box<str>, C)> = Vec::new();
        for (w, c) in words {
            let verbatim = !w.is_empty()
                && w.len() <= 255
                && w.trim() == w
                && !w.bytes().any(|b| matches!(b, b'{' | b'\r' | b'\n' | 0));
            if !verbatim || kept.len() == 8 || kept.iter().any(|(k, _)| **k == *w) {
                continue;
            }
            by_first[usize::from(w.as_bytes()[0])] |= 1 << kept.len();
            kept.push((w.into_boxed_str(), c));
        }
        Leading {
            by_first,
            words: kept,
        }
    }

    /// The length of the spelling `rest` starts with, followed by `\n`, and its class.
    #[inline]
    fn find(&self, rest: &[u8]) -> Option<(usize, C)> {
        let mut bits = self.by_first[usize::from(*rest.first()?)];
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let Some((w, c)) = self.words.get(i)
                && rest.get(w.len()) == Some(&b'\n')
                && same_bytes(w.as_bytes(), &rest[..w.len()])
            {
                return Some((w.len(), *c));
            }
        }
        None
    }
}

/// What a fixed line found by [`Classifier::leading`] means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    /// A client line.
    Client(ClientClass),
    /// A server line.
    Server(ServerClass),
}

/// Lines up to this long are found through [`Spellings::by_len`]; longer ones (no built-in
/// spelling is) by comparing with each long spelling.
const TABLE_LEN: usize = 64;

/// A few fixed spellings and what each means, indexed by length: classifying a line costs
/// one table read and, for the usual line, one comparison of two machine words. Nothing is
/// hashed or allocated, and a line whose length no spelling has is settled by the read alone.
#[derive(Debug, Clone)]
struct Spellings<C> {
    /// For each length below [`TABLE_LEN`], a bit per spelling of that length (bit `i`:
    /// `words[i]`); lower bits come first.
    by_len: [u8; TABLE_LEN],
    /// The same for spellings of [`TABLE_LEN`] bytes or more.
    long: u8,
    /// The spellings in priority order (at most 8).
    words: Vec<(Box<[u8]>, C)>,
}

impl<C: Copy> Spellings<C> {
    fn new(words: &[(&str, C)]) -> Self {
        assert!(words.len() <= 8, "a bit per spelling in a u8");
        let mut by_len = [0u8; TABLE_LEN];
        let mut long = 0u8;
        for (i, (w, _)) in words.iter().enumerate() {
            match by_len.get_mut(w.len()) {
                Some(slot) => *slot |= 1 << i,
                None => long |= 1 << i,
            }
        }
        Spellings {
            by_len,
            long,
            words: words
                .iter()
                .map(|(w, c)| (w.as_bytes().into(), *c))
                .collect(),
        }
    }

    /// What `line` means, if it is one of the spellings (the first in priority order).
    #[inline]
    fn find(&self, line: &[u8]) -> Option<C> {
        let mut bits = self.by_len.get(line.len()).copied().unwrap_or(self.long);
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let Some((w, c)) = self.words.get(i)
                && same_bytes(w, line)
            {
                return Some(*c);
            }
        }
        None
    }
}

/// `a == b`, with the usual short line compared as two (overlapping) machine words instead
/// of a call to `memcmp`.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| -> u64 {
        s.get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map_or(0, u64::from_le_bytes)
    };
    let half = |s: &[u8], at: usize| -> u32 {
        s.get(at..at + 4)
            .and_then(|w| <[u8; 4]>::try_from(w).ok())
            .map_or(0, u32::from_le_bytes)
    };
    match n {
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        17..=32 => {
            word(a, 0) == word(b, 0)
                && word(a, 8) == word(b, 8)
                && word(a, n - 16) == word(b, n - 16)
                && word(a, n - 8) == word(b, n - 8)
        }
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => a == b,
    }
}

impl Classifier {
    /// Precomputes what per-line classification needs.
    pub(crate) fn new(dialect: &Dialect) -> Self {
        let a = &dialect.notifications.random;
        let b = &dialect.notifications.classified;
        let len = a
            .char_indices()
            .zip(b.chars())
            .take_while(|((_, ca), cb)| ca == cb)
            .map(|((i, ca), _)| i + ca.len_utf8())
            .last()
            .unwrap_or(0);
        let c = &dialect.commands;
        let mut classifier = Classifier {
            client: Spellings::new(&[
                (&c.random, ClientClass::Random),
                (&c.classified, ClientClass::Classified),
                (&c.enter, ClientClass::Enter),
                (&c.stop, ClientClass::Stop),
                (&dialect.answers.ok, ClientClass::Ok),
            ]),
            notifs: Spellings::new(&[
                (a, ServerClass::Notif(ItemKind::Random)),
                (b, ServerClass::Notif(ItemKind::Classified)),
            ]),
            notif_prefix: a[..len].to_string(),
            error_prefix: dialect.errors.prefix.clone(),
            mode_ack: dialect.replies.mode_ack.clone(),
            client_lead: Leading::new([]),
            server_lead: Leading::new([]),
        };
        // Classified here once, by the same functions as every other line.
        let client = [
            &c.random,
            &c.classified,
            &c.enter,
            &c.stop,
            &dialect.answers.ok,
        ]
        .map(|w| (w.clone(), classifier.client(w)));
        let n = &dialect.notifications;
        let r = &dialect.replies;
        let server = [&n.random, &n.classified, &r.mode_ack, &r.stop_ok]
            .map(|w| (w.clone(), classifier.server(w)));
        classifier.client_lead = Leading::new(client);
        classifier.server_lead = Leading::new(server);
        classifier
    }

    /// Where a recorded line's message starts at `rest` (after `C: `, `client`, or `S: `):
    /// when it is one of the dialect's fixed lines immediately followed by `\n`, its length
    /// and what it means, exactly as [`client`](Classifier::client) or
    /// [`server`](Classifier::server) classify it.
    #[inline]
    pub(crate) fn leading(&self, client: bool, rest: &[u8]) -> Option<(usize, Known)> {
        if client {
            self.client_lead
                .find(rest)
                .map(|(n, c)| (n, Known::Client(c)))
        } else {
            self.server_lead
                .find(rest)
                .map(|(n, c)| (n, Known::Server(c)))
        }
    }

    /// The prefix that makes a server line look like a notification.
    #[cfg(test)]
    pub(crate) fn notif_prefix(&self) -> &str {
        &self.notif_prefix
    }

    /// Classifies a client line.
    #[inline]
    pub(crate) fn client(&self, line: &str) -> ClientClass {
        self.client
            .find(line.as_bytes())
            .unwrap_or(ClientClass::Other)
    }

    /// Classifies a server line. The mode acknowledgement is never `NotifLike`, even when it
    /// starts like a notification (`notif: OK` in `seed-text`).
    #[inline]
    pub(crate) fn server(&self, line: &str) -> ServerClass {
        if let Some(class) = self.notifs.find(line.as_bytes()) {
            class
        } else if self.is_error_line(line) {
            ServerClass::Error
        } else if !self.notif_prefix.is_empty()
            && starts_with(line, &self.notif_prefix)
            && line != self.mode_ack
        {
            ServerClass::NotifLike
        } else {
            ServerClass::Other
        }
    }

    /// [`super::is_error_line`], without a string comparison for the usual line that does
    /// not even start with the error prefix's first byte.
    #[inline]
    fn is_error_line(&self, line: &str) -> bool {
        let prefix = self.error_prefix.as_str();
        (prefix.is_empty() || line.as_bytes().first() == prefix.as_bytes().first())
            && (line == prefix
                || line
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with(' ')))
    }
}

/// `line.starts_with(prefix)` for a non-empty prefix, settled by the first byte in the usual
/// case instead of a call to `memcmp` (this runs for every server line).
fn starts_with(line: &str, prefix: &str) -> bool {
    line.as_bytes().first() == prefix.as_bytes().first() && line.starts_with(prefix)
}

/// Whether `line` is a well-formed reply to the random request: one or more ASCII digits.
pub(crate) fn is_decimal(line: &str) -> bool {
    !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit())
}

/// A line as a message shows it: in backquotes, shortened when long so a report stays
/// readable; `None` for an oversized line, whose content is not kept. Formatting is deferred
/// to `Display`, so judging a line allocates nothing unless a violation is reported.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shown<'a>(pub(crate) Option<&'a str>);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const MAX: usize = 60;
        let Some(line) = self.0 else {
            return f.write_str("an oversized line");
        };
        if line.len() <= MAX {
            return write!(f, "`{line}`");
        }
        let mut end = MAX;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        write!(f, "`{}…`", &line[..end])
    }
}

/// A line quoted for a message (see [`Shown`]).
pub(crate) fn quote(line: &str) -> String {
    Shown(Some(line)).to_string()
}

/// ` (line N)` when the line is known, for messages that point at an earlier event.
pub(crate) fn at(line: Option<usize>) -> String {
    line.map(|l| format!(" (line {l})")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::LineReading as _;

    #[test]
    fn client_lines_per_dialect() {
        let s = Dialect::builtin("seed-session").unwrap();
        let t = Dialect::builtin("seed-text").unwrap();
        let cs = Classifier::new(&s);
        let ct = Classifier::new(&t);
        assert_eq!(cs.client("_notif_"), ClientClass::Enter);
        assert_eq!(cs.client("notif"), ClientClass::Other);
        assert_eq!(ct.client("notif"), ClientClass::Enter);
        assert_eq!(cs.client("OK"), ClientClass::Ok);
        assert_eq!(cs.client("stop_notif"), ClientClass::Stop);
        assert_eq!(cs.client("random? "), ClientClass::Other);
    }

    #[test]
    fn server_lines_and_notification_prefix() {
        let t = Dialect::builtin("seed-text").unwrap();
        let c = Classifier::new(&t);
        assert_eq!(c.notif_prefix(), "notif: ");
        assert_eq!(
            c.server("notif: random"),
            ServerClass::Notif(ItemKind::Random)
        );
        // The seed-text mode ack starts like a notification but is not one.
        assert_eq!(c.server("notif: OK"), ServerClass::Other);
        assert_eq!(c.server("notif: weather"), ServerClass::NotifLike);
        assert_eq!(c.server("ERR nope"), ServerClass::Error);
        assert_eq!(c.server("ERRATA"), ServerClass::Other);
        assert_eq!(c.server(""), ServerClass::Other);
    }

    /// The classification the table must reproduce: the dialect's spellings compared one by
    /// one, in priority order.
    fn naive_client(d: &Dialect, line: &str) -> ClientClass {
        let c = &d.commands;
        [
            (&c.random, ClientClass::Random),
            (&c.classified, ClientClass::Classified),
            (&c.enter, ClientClass::Enter),
            (&c.stop, ClientClass::Stop),
            (&d.answers.ok, ClientClass::Ok),
        ]
        .into_iter()
        .find(|(w, _)| *w == line)
        .map_or(ClientClass::Other, |(_, class)| class)
    }

    fn naive_server(d: &Dialect, prefix: &str, line: &str) -> ServerClass {
        if let Some(kind) = d.notification_kind(line) {
            ServerClass::Notif(kind)
        } else if d.is_error_line(line) {
            ServerClass::Error
        } else if !prefix.is_empty() && line.starts_with(prefix) && line != d.replies.mode_ack {
            ServerClass::NotifLike
        } else {
            ServerClass::Other
        }
    }

    #[test]
    fn the_table_agrees_with_comparing_every_spelling() {
        let mut dialects = vec![
            Dialect::builtin("seed-session").unwrap(),
            Dialect::builtin("seed-text").unwrap(),
        ];
        // Spellings sharing a length (and first byte), one of them equal to another (the
        // first wins), one longer than the table, one of 1 to 3 bytes, multi-byte UTF-8.
        let mut odd = Dialect::default();
        odd.commands.random = "ab".into();
        odd.commands.classified = "ac".into();
        odd.commands.enter = "x".repeat(70);
        odd.commands.stop = "ab".into();
        odd.answers.ok = "été!".into();
        odd.notifications.random = "n".repeat(65);
        odd.notifications.classified = format!("{}é", "n".repeat(64));
        odd.errors.prefix = "E".into();
        dialects.push(odd);
        for d in &dialects {
            let c = Classifier::new(d);
            let mut lines: Vec<String> = vec![String::new(), "1".into(), "E".into(), "E x".into()];
            let spellings = [
                &d.commands.random,
                &d.commands.classified,
                &d.commands.enter,
                &d.commands.stop,
                &d.answers.ok,
                &d.notifications.random,
                &d.notifications.classified,
                &d.replies.mode_ack,
                &d.replies.stop_ok,
                &d.errors.prefix,
            ];
            for w in spellings {
                lines.push(w.clone());
                lines.push(format!("{w} "));
                lines.push(format!("{w}x"));
                for (i, _) in w.char_indices() {
                    lines.push(w[..i].to_string());
                    // The same length, one byte different (at the start, middle and end).
                    let mut b = w.clone().into_bytes();
                    b[i] ^= 0x01;
                    if let Ok(t) = String::from_utf8(b) {
                        lines.push(t);
                    }
                }
            }
            for line in &lines {
                assert_eq!(c.client(line), naive_client(d, line), "{line:?}");
                assert_eq!(
                    c.server(line),
                    naive_server(d, c.notif_prefix(), line),
                    "{line:?}"
                );
            }
        }
    }

    #[test]
    fn decimal_and_quoting() {
        assert!(is_decimal("0012"));
        assert!(!is_decimal(""));
        assert!(!is_decimal("-1"));
        assert!(!is_decimal("١٢"));
        let long = "é".repeat(100);
        let q = quote(&long);
        assert!(q.ends_with("…`") && q.len() < 80, "{q}");
        assert_eq!(at(Some(3)), " (line 3)");
        assert_eq!(at(None), "");
        assert_eq!(Shown(None).to_string(), "an oversized line");
    }
}
