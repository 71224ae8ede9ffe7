//! Transcript files as diagrams, read leniently and in bounded memory.
//!
//! The file has already been judged (by the checker, through the real parser); this reader only
//! draws it. It keeps the lines around the offending ones (a recording can be gigabytes and
//! break a rule on line 9,000,000), stops reading after the last line it needs, cuts every line
//! to what a label can show, and takes `# +1.234s` comments (written by `proxy
//! --record` and `replay --save-observed`) as the time of the next line.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::time::Duration;

use super::diagram::{Arrow, ArrowStyle, Diagram, Step, What};
use crate::rule::Party;

/// Lines shown before an offending line.
pub const BEFORE: usize = 14;
/// Lines shown after it.
pub const AFTER: usize = 4;
/// Lines shown when no line is named (a rule that was expected but not reported).
pub const HEAD: usize = 60;
/// Offending lines given a window of their own; more marks are listed but not drawn.
pub const MAX_WINDOWS: usize = 6;

/// Which lines of a file to draw: windows around `lines` (1-based), or the first [`HEAD`]
/// lines when there are none.
pub fn windows(lines: &[usize]) -> Vec<(usize, usize)> {
    let mut wanted: Vec<usize> = lines.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.is_empty() {
        return vec![(1, HEAD)];
    }
    let mut out: Vec<(usize, usize)> = Vec::new();
    for l in wanted.into_iter().take(MAX_WINDOWS) {
        let (a, b) = (l.saturating_sub(BEFORE).max(1), l + AFTER);
        match out.last_mut() {
            Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The diagram of the transcript at `path`, showing the lines in `windows` (1-based,
/// inclusive); what lies between windows is a gap step.
pub fn diagram_of_file(path: &Path, windows: &[(usize, usize)]) -> io::Result<Diagram> {
    let file = std::fs::File::open(path)?;
    diagram_of_reader(file, windows)
}

/// [`diagram_of_file`] over any reader.
pub fn diagram_of_reader(input: impl Read, windows: &[(usize, usize)]) -> io::Result<Diagram> {
    let mut d = Diagram::default();
    let lane = d.lane("client");
    let mut r = BufReader::new(input);
    let mut buf = Vec::new();
    let mut n = 0usize;
    let mut in_front = false;
    let mut time: Option<Duration> = None;
    let mut skipped = 0usize;
    let last_wanted = windows.iter().map(|w| w.1).max().unwrap_or(0);
    while n < last_wanted {
        buf.clear();
        if !read_line_capped(&mut r, &mut buf)? {
            break;
        }
        n += 1;
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim_end_matches(['\n', '\r']).trim();
        if n == 1 && line == "---" {
            in_front = true;
            continue;
        }
        if in_front {
            in_front = line != "---";
            continue;
        }
        if let Some(t) = line.strip_prefix("# +").and_then(parse_secs) {
            time = Some(t);
            continue;
        }
        if !windows.iter().any(|(a, b)| (*a..=*b).contains(&n)) {
            if is_entry(line) {
                skipped += 1;
            }
            continue;
        }
        let what = match entry(line, lane) {
            Some(w) => w,
            None => continue,
        };
        if skipped > 0 {
            d.steps.push(Step::new(What::Gap(format!(
                "… {skipped} lines not shown …"
            ))));
            skipped = 0;
        }
        let mut step = Step::new(what);
        step.line = Some(n);
        step.at = time.take();
        d.steps.push(step);
    }
    Ok(d)
}

fn is_entry(line: &str) -> bool {
    line.starts_with("C:") || line.starts_with("S:") || line.starts_with('!') || line == "[...]"
}

/// A transcript line as a step: `C:`/`S:` an arrow, `!` a note, `[...]` a gap; comments and
/// blank lines nothing.
pub(crate) fn entry(line: &str, lane: usize) -> Option<What> {
    let arrow = |from, rest: &str| {
        What::Arrow(Arrow {
            client: lane,
            from,
            text: rest.trim().replace("{{", "{"),
            style: ArrowStyle::Sent,
        })
    };
    if let Some(rest) = line.strip_prefix("C:") {
        Some(arrow(Party::Client, rest))
    } else if let Some(rest) = line.strip_prefix("S:") {
        Some(arrow(Party::Server, rest))
    } else if line.starts_with('!') {
        Some(What::Note(line.to_string()))
    } else if line == "[...]" {
        Some(What::Gap(
            "[...] the conversation goes on unrecorded".into(),
        ))
    } else {
        None
    }
}

/// `1.234s` as a duration.
fn parse_secs(s: &str) -> Option<Duration> {
    let secs: f64 = s.trim().strip_suffix('s')?.parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

/// Bytes of one line kept for drawing; a diagram label shows far fewer.
pub const DISPLAY_CAP: usize = 4096;

/// Reads one line into `buf`, keeping at most [`DISPLAY_CAP`] bytes and discarding the rest.
/// `false` at the end of input.
fn read_line_capped(r: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<bool> {
    let cap = DISPLAY_CAP;
    let mut any = false;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(any);
        }
        any = true;
        let (used, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..used.min(room)]);
        r.consume(used);
        if done {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_merge_and_are_bounded() {
        assert_eq!(windows(&[]), vec![(1, HEAD)]);
        assert_eq!(windows(&[3]), vec![(1, 3 + AFTER)]);
        assert_eq!(windows(&[100, 104]), vec![(100 - BEFORE, 104 + AFTER)]);
        let many: Vec<usize> = (1..100).map(|i| i * 1000).collect();
        assert_eq!(windows(&many).len(), MAX_WINDOWS);
    }

    #[test]
    fn front_matter_comments_and_times_are_read_and_gaps_shown() {
        let mut text = String::from("---\ntitle: t\n---\n# +0.250s\nC: random?\nS: 4\n");
        for _ in 0..30 {
            text.push_str("C: random?\nS: 4\n");
        }
        text.push_str("! publish random {{x}\nC: stop_notif\n");
        let total = text.lines().count();
        let d = diagram_of_reader(text.as_bytes(), &windows(&[total])).unwrap();
        let first = &d.steps[0];
        assert!(matches!(first.what, What::Gap(_)), "{first:?}");
        let last = d.steps.last().unwrap();
        assert_eq!(last.line, Some(total));
        let publish = &d.steps[d.steps.len() - 2];
        assert_eq!(publish.what, What::Note("! publish random {{x}".into()));
        let d = diagram_of_reader(text.as_bytes(), &windows(&[6])).unwrap();
        assert_eq!(d.steps[0].at, Some(Duration::from_millis(250)));
        assert_eq!(d.steps[0].line, Some(5));
        assert!(d.steps.iter().all(|s| s.line.is_none_or(|l| l <= 10)));
    }

    #[test]
    fn a_huge_line_is_cut_while_reading() {
        use crate::transcript::MAX_LINE_LEN;
        let mut text = b"C: ".to_vec();
        text.extend(std::iter::repeat_n(b'x', 10 * MAX_LINE_LEN));
        text.extend_from_slice(b"\nS: ok\n");
        let d = diagram_of_reader(text.as_slice(), &[(1, 10)]).unwrap();
        let What::Arrow(a) = &d.steps[0].what else {
            panic!()
        };
        assert!(a.text.len() <= DISPLAY_CAP, "{}", a.text.len());
        assert_eq!(d.steps[1].line, Some(2));
    }
}
