//! A tiny step-pattern matcher in the spirit of Cucumber expressions.
//!
//! Step sentences are data written by people, so matching must be predictable: a pattern is
//! literal text with typed holes (`{string}`, `{word}`, `{int}`, `{duration}`), matched from
//! left to right without backtracking, and the whole sentence must be consumed. That is all
//! the features need, and keeps the runner free of a regex engine.

use std::time::Duration;

/// A value captured by a hole of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capture {
    /// `{string}`: text between double quotes (`\"` and `\\` escapes), quotes removed.
    Str(String),
    /// `{word}`: a run of non-blank characters.
    Word(String),
    /// `{int}`: a non-negative decimal integer.
    Int(u64),
    /// `{duration}`: a number and a unit, `200 ms` or `1 s` (the space is optional).
    Duration(Duration),
}

/// The captures of one match, in pattern order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captures(pub Vec<Capture>);

impl Captures {
    /// The `i`-th capture as text (`{string}` or `{word}`); empty when absent.
    pub fn text(&self, i: usize) -> String {
        match self.0.get(i) {
            Some(Capture::Str(s) | Capture::Word(s)) => s.clone(),
            Some(Capture::Int(n)) => n.to_string(),
            _ => String::new(),
        }
    }

    /// The `i`-th capture as an integer; 0 when absent.
    pub fn int(&self, i: usize) -> u64 {
        match self.0.get(i) {
            Some(Capture::Int(n)) => *n,
            _ => 0,
        }
    }

    /// The `i`-th capture as a duration; zero when absent.
    pub fn duration(&self, i: usize) -> Duration {
        match self.0.get(i) {
            Some(Capture::Duration(d)) => *d,
            _ => Duration::ZERO,
        }
    }
}

/// Matches `text` against `pattern`; `None` when it does not match entirely.
pub fn matches(pattern: &str, text: &str) -> Option<Captures> {
    let mut caps = Vec::new();
    let mut pat = pattern;
    let mut rest = text.trim();
    while !pat.is_empty() {
        if let Some(after) = pat.strip_prefix('{') {
            let close = after.find('}')?;
            let (kind, tail) = (&after[..close], &after[close + 1..]);
            let (cap, left) = capture(kind, rest)?;
            caps.push(cap);
            rest = left;
            pat = tail;
        } else {
            let lit_end = pat.find('{').unwrap_or(pat.len());
            rest = rest.strip_prefix(&pat[..lit_end])?;
            pat = &pat[lit_end..];
        }
    }
    rest.is_empty().then_some(Captures(caps))
}

fn capture<'a>(kind: &str, s: &'a str) -> Option<(Capture, &'a str)> {
    match kind {
        "string" => quoted(s),
        "word" => {
            let end = s.find(char::is_whitespace).unwrap_or(s.len());
            (end > 0).then(|| (Capture::Word(s[..end].to_string()), &s[end..]))
        }
        "int" => {
            let (n, rest) = digits(s)?;
            Some((Capture::Int(n), rest))
        }
        "duration" => {
            let (n, rest) = digits(s)?;
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            let unit_end = rest
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(rest.len());
            let d = match &rest[..unit_end] {
                "ms" => Duration::from_millis(n),
                "s" => Duration::from_secs(n),
                _ => return None,
            };
            Some((Capture::Duration(d), &rest[unit_end..]))
        }
        _ => None,
    }
}

fn digits(s: &str) -> Option<(u64, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = s[..end].parse().ok()?;
    Some((n, &s[end..]))
}

fn quoted(s: &str) -> Option<(Capture, &str)> {
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((Capture::Str(out), &body[i + 1..])),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_capture_typed_values() {
        let c = matches(
            "within {duration} client {word} receives {string}",
            "within 1 s client A receives \"notif: \\\"x\\\"\"",
        )
        .unwrap();
        assert_eq!(c.duration(0), Duration::from_secs(1));
        assert_eq!(c.text(1), "A");
        assert_eq!(c.text(2), "notif: \"x\"");
        let c = matches("a line of {int} bytes", "a line of 2000 bytes").unwrap();
        assert_eq!(c.int(0), 2000);
        assert_eq!(
            matches("nothing for {duration}", "nothing for 200ms")
                .unwrap()
                .duration(0),
            Duration::from_millis(200)
        );
    }

    #[test]
    fn partial_or_malformed_text_does_not_match() {
        assert!(matches("client {word} sends {string}", "client A sends \"x\" twice").is_none());
        assert!(matches("client {word} sends {string}", "client A sends \"unclosed").is_none());
        assert!(matches("nothing for {duration}", "nothing for 3 days").is_none());
        assert!(matches("a server", "a server in dialect \"x\"").is_none());
    }
}
