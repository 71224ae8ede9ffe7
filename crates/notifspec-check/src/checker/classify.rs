//! The checker's own line classifier: what a client or server line means in a dialect.
//!
//! Written independently of the reference peers on purpose (see the independence rule in
//! `lib.rs`): the checker must not inherit a misreading of the spec from the code it judges.
//! Classification is a handful of string comparisons against spellings fixed when the
//! checker is built, so it costs O(line length) and allocates nothing.

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
    /// The common prefix of the notification lines (`notif: `); empty disables
    /// [`ServerClass::NotifLike`].
    notif_prefix: String,
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
        Classifier {
            notif_prefix: a[..len].to_string(),
        }
    }

    /// The prefix that makes a server line look like a notification.
    #[cfg(test)]
    pub(crate) fn notif_prefix(&self) -> &str {
        &self.notif_prefix
    }

    /// Classifies a client line.
    pub(crate) fn client(&self, d: &Dialect, line: &str) -> ClientClass {
        let c = &d.commands;
        if line == c.random {
            ClientClass::Random
        } else if line == c.classified {
            ClientClass::Classified
        } else if line == c.enter {
            ClientClass::Enter
        } else if line == c.stop {
            ClientClass::Stop
        } else if line == d.answers.ok {
            ClientClass::Ok
        } else {
            ClientClass::Other
        }
    }

    /// Classifies a server line. The mode acknowledgement is never `NotifLike`, even when it
    /// starts like a notification (`notif: OK` in `seed-text`).
    pub(crate) fn server(&self, d: &Dialect, line: &str) -> ServerClass {
        // Both notification lines start with the prefix: a line that does not is neither a
        // notification nor notification-like, and needs no comparison with them.
        if !self.notif_prefix.is_empty() && !starts_with(line, &self.notif_prefix) {
            return if self.is_error_line(d, line) {
                ServerClass::Error
            } else {
                ServerClass::Other
            };
        }
        if let Some(kind) = super::lines::notification_kind(d, line) {
            ServerClass::Notif(kind)
        } else if self.is_error_line(d, line) {
            ServerClass::Error
        } else if !self.notif_prefix.is_empty()
            && line.starts_with(self.notif_prefix.as_str())
            && line != d.replies.mode_ack
        {
            ServerClass::NotifLike
        } else {
            ServerClass::Other
        }
    }

    /// [`super::is_error_line`], without a string comparison for the usual line that does
    /// not even start with the error prefix's first byte.
    fn is_error_line(&self, d: &Dialect, line: &str) -> bool {
        let prefix = d.errors.prefix.as_bytes();
        (prefix.is_empty() || line.as_bytes().first() == prefix.first())
            && super::lines::is_error_line(d, line)
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

    #[test]
    fn client_lines_per_dialect() {
        let s = Dialect::builtin("seed-session").unwrap();
        let t = Dialect::builtin("seed-text").unwrap();
        let cs = Classifier::new(&s);
        let ct = Classifier::new(&t);
        assert_eq!(cs.client(&s, "_notif_"), ClientClass::Enter);
        assert_eq!(cs.client(&s, "notif"), ClientClass::Other);
        assert_eq!(ct.client(&t, "notif"), ClientClass::Enter);
        assert_eq!(cs.client(&s, "OK"), ClientClass::Ok);
        assert_eq!(cs.client(&s, "stop_notif"), ClientClass::Stop);
        assert_eq!(cs.client(&s, "random? "), ClientClass::Other);
    }

    #[test]
    fn server_lines_and_notification_prefix() {
        let t = Dialect::builtin("seed-text").unwrap();
        let c = Classifier::new(&t);
        assert_eq!(c.notif_prefix(), "notif: ");
        assert_eq!(
            c.server(&t, "notif: random"),
            ServerClass::Notif(ItemKind::Random)
        );
        // The seed-text mode ack starts like a notification but is not one.
        assert_eq!(c.server(&t, "notif: OK"), ServerClass::Other);
        assert_eq!(c.server(&t, "notif: weather"), ServerClass::NotifLike);
        assert_eq!(c.server(&t, "ERR nope"), ServerClass::Error);
        assert_eq!(c.server(&t, "ERRATA"), ServerClass::Other);
        assert_eq!(c.server(&t, ""), ServerClass::Other);
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
