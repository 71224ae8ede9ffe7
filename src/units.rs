//! Durations as people write them (`2s`, `500ms`, `1m`), parsed in one place so that the
//! command line and the control port accept the same spellings and say the same thing when
//! they do not.

use std::time::Duration;

/// Parses a duration such as `2s`, `500ms` or `1m` (also a clap value parser).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); try `2s` or `500ms`"))
}
