//! The checker's reading of a server line's meaning, public so that the harness (conformance
//! steps, replay, the simulator's end-to-end checks) judges lines exactly as the oracle does.
//! The reference peers must not use it: they classify lines with their own code
//! (`notifspec::proto::lines`), so a misreading has to be made twice to hide.

use crate::dialect::{Dialect, ItemKind};

/// The checker's reading as methods on a [`Dialect`], for harness code that reads
/// `dialect.notification_kind(line)`; the dialect itself stays plain data.
pub trait LineReading {
    /// Which kind a server line announces, if it is a notification of this dialect.
    fn notification_kind(&self, line: &str) -> Option<ItemKind>;
    /// Whether `line` is an error reply of this dialect.
    fn is_error_line(&self, line: &str) -> bool;
}

impl LineReading for Dialect {
    fn notification_kind(&self, line: &str) -> Option<ItemKind> {
        notification_kind(self, line)
    }

    fn is_error_line(&self, line: &str) -> bool {
        is_error_line(self, line)
    }
}

/// Which kind a server line announces, if it is a notification of this dialect.
pub fn notification_kind(d: &Dialect, line: &str) -> Option<ItemKind> {
    ItemKind::ALL
        .into_iter()
        .find(|k| d.notification(*k) == line)
}

/// Whether `line` is an error reply of this dialect (`ERR` alone or `ERR <reason>`).
pub fn is_error_line(d: &Dialect, line: &str) -> bool {
    line == d.errors.prefix
        || line
            .strip_prefix(d.errors.prefix.as_str())
            .is_some_and(|rest| rest.starts_with(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_are_the_prefix_alone_or_followed_by_a_reason() {
        let d = Dialect::default();
        assert!(is_error_line(&d, "ERR"));
        assert!(is_error_line(&d, "ERR x"));
        assert!(!is_error_line(&d, "ERRx"));
        assert!(!is_error_line(&d, "notif: random"));
    }

    #[test]
    fn notifications_are_recognised_by_their_exact_line() {
        let d = Dialect::default();
        assert_eq!(
            notification_kind(&d, d.notification(ItemKind::Random)),
            Some(ItemKind::Random)
        );
        assert_eq!(notification_kind(&d, "notif: random "), None);
    }
}
