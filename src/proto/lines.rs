//! How the reference peers read a server line. Written apart from the checker's reading
//! (`notifspec_check::checker::notification_kind`): the checker judges these peers, so sharing
//! the code would let one misreading pass both.

use crate::dialect::{Dialect, ItemKind};

/// The kind a notification line announces, or `None` for any other line.
pub fn announced_kind(d: &Dialect, line: &str) -> Option<ItemKind> {
    if line == d.notification(ItemKind::Random) {
        Some(ItemKind::Random)
    } else if line == d.notification(ItemKind::Classified) {
        Some(ItemKind::Classified)
    } else {
        None
    }
}

/// Whether a server line is an error reply: the dialect's prefix, alone or before a space.
pub fn is_error_reply(d: &Dialect, line: &str) -> bool {
    match line.strip_prefix(d.errors.prefix.as_str()) {
        Some("") => true,
        Some(rest) => rest.as_bytes()[0] == b' ',
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_notifications_and_errors() {
        let d = Dialect::default();
        assert_eq!(announced_kind(&d, "notif: random"), Some(ItemKind::Random));
        assert_eq!(
            announced_kind(&d, "notif: classified"),
            Some(ItemKind::Classified)
        );
        assert_eq!(announced_kind(&d, "notif: OK"), None);
        assert!(is_error_reply(&d, "ERR"));
        assert!(is_error_reply(&d, "ERR bad"));
        assert!(!is_error_reply(&d, "ERRbad"));
    }
}
