//! Text into HTML: everything a report shows came from a file or a peer, so every byte is
//! treated as hostile. Markup characters are escaped, and characters that could hide or
//! reorder text (controls, bidirectional overrides) are shown as visible symbols instead.

/// `s` escaped for HTML text and attribute values (quotes included), with control and
/// bidirectional-formatting characters made visible.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    push_escaped(&mut out, s);
    out
}

/// [`escape`] appended to `out`.
pub fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' => out.push(' '),
            // Line breaks are kept for preformatted blocks; elsewhere they are just spaces.
            '\n' => out.push('\n'),
            // C0 controls become the Control Pictures block (U+2400..), DEL its own symbol.
            c if (c as u32) < 0x20 => {
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}'))
            }
            '\u{7f}' => out.push('\u{2421}'),
            // C1 controls, bidi embeddings/overrides/isolates, zero-width and BOM: a peer must
            // not be able to make a line read as something it is not.
            '\u{80}'..='\u{9f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}' => {
                out.push_str(&format!("\\u{{{:04x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
}

/// At most `max` characters of `s`, with `…` when cut (for labels in a fixed-width diagram).
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_invisible_characters_cannot_get_through() {
        let hostile = "<script>alert('x')</script>&\"\u{0}\u{1b}[31m\u{202e}gnp.exe\u{7f}";
        let e = escape(hostile);
        assert!(
            !e.contains('<') && !e.contains('>') && !e.contains('"'),
            "{e}"
        );
        assert!(!e.contains('\'') && !e.contains('\u{202e}') && !e.contains('\u{1b}'));
        assert!(e.starts_with("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
        assert!(
            e.contains("\u{2400}\u{241b}[31m\\u{202e}gnp.exe\u{2421}"),
            "{e}"
        );
        assert_eq!(escape("a\r\nb"), "a\u{240d}\nb");
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
    }
}
