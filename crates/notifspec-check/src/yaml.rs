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

/// Deserializes `text`; `origin` names the source in errors.
pub fn from_str<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, YamlError> {
    serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        // serde_yaml appends ` at line L column C`, which the prefix already says.
        let message = e
            .to_string()
            .replacen(&format!(" at line {line} column {column}"), "", 1);
        YamlError {
            origin: origin.to_string(),
            line,
            column,
            message,
        }
    })
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
    fn invalid_utf8_names_line_and_column() {
        let e = decode(b"name: a\nx: \xff".to_vec(), "d.yaml", "a dialect").unwrap_err();
        assert_eq!(
            e.to_string(),
            "d.yaml:2:4: the file is not valid UTF-8 (is it a dialect YAML file?)"
        );
    }
}
