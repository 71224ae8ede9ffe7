//! Durations as people write them (`2s`, `500ms`, `1m`), parsed in one place so that the
//! command line and the control port accept the same spellings and say the same thing when
//! they do not.

use std::time::Duration;

/// The longest duration any flag takes. Far beyond any useful timeout, and far below what
/// overflows a clock: `--timeout 5000000000000000000s` used to panic adding it to `now`.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses a duration such as `2s`, `500ms` or `1m`, at most [`MAX_DURATION`] (clap value
/// parser).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); try `2s` or `500ms`"))?;
    if d > MAX_DURATION {
        return Err(format!(
            "`{s}` is longer than the most any flag takes ({})",
            humantime::format_duration(MAX_DURATION)
        ));
    }
    Ok(d)
}

/// Formats a duration as `200 ms` / `1.5 s` for messages: short, and the same everywhere a
/// bound is quoted back to the user.
pub fn fmt_dur(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_are_bounded() {
        assert_eq!(
            super::parse_duration("1500ms"),
            Ok(std::time::Duration::from_millis(1500))
        );
        assert!(super::parse_duration("24h").is_ok());
        let err = super::parse_duration("5000000000000000000s").unwrap_err();
        assert!(
            err.contains("longer than the most any flag takes (1day)"),
            "{err}"
        );
        assert!(super::parse_duration("25h").is_err());
        assert!(super::parse_duration("soon").is_err());
    }
}
