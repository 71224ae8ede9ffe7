//! Peer bytes and file names made safe to print on a terminal.
//!
//! A server, a client under test or a file name can carry ESC, OSC, BEL, NUL or a newline.
//! Printed raw they would move the cursor, retitle or recolour the terminal of the person
//! watching, or forge report lines (a file name with a newline can print a fake `PASS`).
//! Every control character is shown the way Rust escapes it (`\0`, `\r`, `\n`, `\t`,
//! `\u{1b}`), so what arrived stays visible and stays on one line. JSON and JUnit output escape
//! by their own rules and do not use this.
//!
//! One helper for the whole crate: the reference server's error reasons, the reference
//! client's output, the text reports of `check`, `replay`, `conform` and `simulate`.

use std::borrow::Cow;

/// `text` with every control character escaped (newlines too): for one value inside a line,
/// such as a peer's line or a file name.
pub fn printable(text: &str) -> Cow<'_, str> {
    escape_controls(text, |_| false)
}

/// `text` with every control character escaped except the newline: for a whole report whose
/// lines are its own, so a peer's bytes inside it cannot reach the terminal raw.
pub fn terminal(text: &str) -> Cow<'_, str> {
    escape_controls(text, |c| c == '\n')
}

fn escape_controls(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let needs = |c: char| c.is_control() && !keep(c);
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bytes_are_shown_not_sent() {
        assert_eq!(printable("Vélo, 50 €"), "Vélo, 50 €");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        assert_eq!(
            printable("a\u{1b}[2Jb\rc\td\0\u{7}\u{9b}"),
            "a\\u{1b}[2Jb\\rc\\td\\0\\u{7}\\u{9b}"
        );
        assert_eq!(printable("evil\nPASS x.txt"), "evil\\nPASS x.txt");
        assert_eq!(
            terminal("line 1\nline \u{1b}]0;title\u{7}2\n"),
            "line 1\nline \\u{1b}]0;title\\u{7}2\n"
        );
    }
}
