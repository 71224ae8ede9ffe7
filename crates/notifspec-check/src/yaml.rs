//! YAML files (dialects, feeds, scenarios) read into typed values, so that every loader
//! reports a bad file the same way: `file:line:column: what is wrong`.

use serde::de::DeserializeOwned;

/// A YAML document that is not of the expected shape, or not text at all. One type for all
/// loaders, so the user sees the same `file:line:column` form whichever file is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct YamlError {
    /// File path or built-in name.
    pub origin: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// The parser's explanation, without the position it already gave.
    pub message: String,
}

/// Deepest nesting (block levels, `- ` entries and `[`/`{` together) a YAML input may have.
/// The parser's time grows with the square of the depth (a 1 MB scenario of `[` ran for
/// minutes), while real dialects, scenarios and front matter nest a handful of levels; so
/// deeper input is refused by `too_deep` before the parser sees it.
pub const MAX_DEPTH: usize = 64;

/// Longest excerpt of a file an error message may quote (the parser quotes values).
pub const MAX_QUOTED: usize = 160;

/// Deserializes `text`; `origin` names the source in errors.
pub fn from_str<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, YamlError> {
    if let Some((line, column)) = too_deep(text, MAX_DEPTH) {
        return Err(YamlError {
            origin: origin.to_string(),
            line,
            column,
            message: too_deep_message(),
        });
    }
    serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        // serde_yaml appends ` at line L column C`, which the prefix already says.
        let message = e
            .to_string()
            .replacen(&format!(" at line {line} column {column}"), "", 1);
        // The parser quotes values (a whole file read as one scalar, say): one bounded line.
        let message = crate::fsio::excerpt(&message, MAX_QUOTED);
        YamlError {
            origin: origin.to_string(),
            line,
            column,
            message,
        }
    })
}

/// The error for input nested deeper than [`MAX_DEPTH`].
pub fn too_deep_message() -> String {
    format!(
        "nested more than {MAX_DEPTH} levels deep; notifspec refuses deeper YAML before parsing it"
    )
}

/// Where `text` first nests deeper than `max` levels (1-based line and column), found in one
/// linear pass before parsing. It over-counts rather than under-counts: block levels by
/// indentation (on every line, inside a flow collection too), each compact `- `/`? ` entry,
/// and each `[`/`{` opened where a value may start; quoted scalars, comments and block
/// scalars (`|`, `>`) are skipped as the parser skips them, but a quoted scalar never hides
/// a line indented no deeper than the line that opened it.
pub fn too_deep(text: &str, max: usize) -> Option<(usize, usize)> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    // The open quote, and the indentation of the line that opened it.
    let mut quote: Option<(u8, usize)> = None;
    // Lines indented at least this much belong to an open block scalar.
    let mut block_scalar: Option<usize> = None;
    let mut at_start = true;
    for (n, line) in text.split('\n').enumerate() {
        let b = line.as_bytes();
        let indent = b.iter().take_while(|c| **c == b' ').count();
        let blank = b[indent..].iter().all(u8::is_ascii_whitespace);
        if let Some(min) = block_scalar {
            if blank || indent >= min {
                continue;
            }
            block_scalar = None;
        }
        if quote.is_some_and(|(_, opened)| indent <= opened) {
            quote = None;
        }
        if blank || (quote.is_none() && b[indent] == b'#') {
            continue;
        }
        let mut i = indent;
        let marker = b[i..].starts_with(b"---") || b[i..].starts_with(b"...");
        if quote.is_none() && marker && b.get(i + 3).is_none_or(|c| *c == b' ' || *c == b'\t') {
            // A document marker; a value may follow on the same line.
            indents.clear();
            flow = 0;
            i += 3;
        }
        while indents.last().is_some_and(|l| *l > indent) {
            indents.pop();
        }
        if indents.last().is_none_or(|l| *l < indent) {
            indents.push(indent);
        }
        let mut block = indents.len();
        if block + flow > max {
            return Some((n + 1, indent + 1));
        }
        if quote.is_none() {
            at_start = true;
        }
        // Where the node this line's value belongs to starts: a block scalar's lines must be
        // indented deeper.
        let mut node = indent;
        let mut prev_space = true;
        while i < b.len() {
            let c = b[i];
            let next_space = b
                .get(i + 1)
                .is_none_or(|c| matches!(c, b' ' | b'\t' | b'\r'));
            match quote {
                Some((b'"', _)) if c == b'\\' => i += 1,
                Some((q, _)) if c == q => {
                    if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                        i += 1;
                    } else {
                        quote = None;
                        at_start = false;
                    }
                }
                Some(_) => {}
                None => match c {
                    b'#' if prev_space => break,
                    b' ' | b'\t' | b'\r' => {}
                    b'"' | b'\'' if at_start => quote = Some((c, indent)),
                    b'-' | b'?' if at_start && next_space => {
                        block += 1;
                        node = i + 2;
                        if block + flow > max {
                            return Some((n + 1, i + 1));
                        }
                    }
                    b'[' | b'{' if at_start || flow > 0 => {
                        flow += 1;
                        at_start = true;
                        if block + flow > max {
                            return Some((n + 1, i + 1));
                        }
                    }
                    b']' | b'}' if flow > 0 => {
                        flow -= 1;
                        at_start = false;
                    }
                    b',' if flow > 0 => at_start = true,
                    b':' if next_space || flow > 0 => at_start = true,
                    // An anchor or a tag before a value: the value may still start after it.
                    b'&' | b'!' if at_start => {
                        while b.get(i + 1).is_some_and(|c| !matches!(c, b' ' | b'\t')) {
                            i += 1;
                        }
                    }
                    b'|' | b'>' if at_start && flow == 0 => {
                        let explicit = b[i + 1..]
                            .iter()
                            .take_while(|c| matches!(c, b'+' | b'-' | b'0'..=b'9'))
                            .find(|c| c.is_ascii_digit())
                            .map_or(1, |d| usize::from(d - b'0').max(1));
                        block_scalar = Some(node + explicit);
                        break;
                    }
                    _ => at_start = false,
                },
            }
            prev_space = matches!(c, b' ' | b'\t');
            i += 1;
        }
    }
    None
}

/// Decodes a file's bytes; `what` (e.g. `a dialect`) hints at what the file should have been.
pub fn decode(bytes: Vec<u8>, origin: &str, what: &str) -> Result<String, YamlError> {
    String::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_col(e.as_bytes(), e.utf8_error().valid_up_to());
        YamlError {
            origin: origin.to_string(),
            line,
            column,
            message: format!("the file is not valid UTF-8 (is it {what} YAML file?)"),
        }
    })
}

/// 1-based line and column of byte `offset` in `bytes`.
fn line_col(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
    }

    #[test]
    fn unknown_key_names_the_place_once() {
        let e = from_str::<Doc>("name: a\nnmae: b\n", "d.yaml").unwrap_err();
        assert_eq!((e.line, e.column), (2, 1));
        let text = e.to_string();
        assert!(
            text.starts_with("d.yaml:2:1: unknown field `nmae`"),
            "{text}"
        );
        assert!(!text.contains("at line"), "{text}");
    }

    #[test]
    fn syntax_error_names_the_place() {
        let e = from_str::<Doc>("name: [a\n", "d.yaml").unwrap_err();
        assert!(e.line >= 1 && e.column >= 1, "{e}");
        assert!(e.to_string().starts_with("d.yaml:"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        for text in [
            "[".repeat(100_000),
            "{".repeat(100_000),
            format!("a: {}", "- ".repeat(100_000)),
            format!("a: &x !!seq {}", "[".repeat(1_000)),
            format!("--- {}", "[".repeat(1_000)),
            (0..200)
                .map(|d| format!("{}k{d}:\n", " ".repeat(d)))
                .collect(),
            format!("a: \"x\"\nb: {}", "[\n".repeat(1_000)),
            // A quote or a bracket in a plain scalar must not hide what follows.
            format!("a: foo\n  'bar\nb: {}", "[".repeat(1_000)),
            format!("a: foo\n  [bar\nb:\n{}x\n", "- ".repeat(1_000)),
            format!(
                "a: foo\n  [bar\nb:\n{}",
                (0..200)
                    .map(|d| format!("{}k:\n", " ".repeat(d + 1)))
                    .collect::<String>()
            ),
            format!("- - - |\n {}", "[".repeat(1_000)),
        ] {
            let started = std::time::Instant::now();
            let e = from_str::<Doc>(&text, "d.yaml").unwrap_err();
            assert!(e.message.contains("levels deep"), "{e}");
            assert!(started.elapsed().as_secs() < 5, "{e}");
        }
    }

    #[test]
    fn ordinary_yaml_is_not_counted_too_deep() {
        let text = "name: a # [[[[[[[[[[\nb: 'it''s [[[[[[['\nc: \"[[[[[\\\"[[[[\"\nd: |\n  [[[[[[[[[[\n  [[[[[[\ne: don't [[[[ {{{{\nf: [a, [b, {c: d}]]\ng:\n  - - x\n    - y\n";
        assert_eq!(too_deep(text, 4), None);
        assert!(too_deep(text, 3).is_some());
    }

    #[test]
    fn errors_quote_one_bounded_line_of_the_file() {
        let secret = format!(
            "root:x:0:0:{}\ndaemon:x:1:1\nsecret: hunter2\n",
            "r".repeat(500)
        );
        let e = from_str::<Doc>(&secret, "d.yaml").unwrap_err().to_string();
        assert!(!e.contains("hunter2") && !e.contains("daemon"), "{e}");
        assert!(e.len() < MAX_QUOTED + 40, "{e}");
    }

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let e = decode(b"name: a\nx: \xff".to_vec(), "d.yaml", "a dialect").unwrap_err();
        assert_eq!(
            e.to_string(),
            "d.yaml:2:4: the file is not valid UTF-8 (is it a dialect YAML file?)"
        );
    }
}
