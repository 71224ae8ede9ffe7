//! Expected-versus-observed rendering in the style of `pretty_assertions`: `-` for what the
//! transcript has, `+` for what happened, transcript line numbers in the margin, and only a
//! few lines of context around each difference. Plain text, no colour: it goes to logs and CI.

use std::fmt::Write as _;

use super::script::Row;

/// Lines of unchanged context shown around each difference.
pub const CONTEXT: usize = 2;

/// Renders `rows`; empty when nothing differs.
pub fn render(rows: &[Row]) -> String {
    let changed: Vec<bool> = rows
        .iter()
        .map(|r| !matches!(r, Row::Same { .. }))
        .collect();
    if !changed.contains(&true) {
        return String::new();
    }
    let shown: Vec<bool> = (0..rows.len())
        .map(|i| {
            let lo = i.saturating_sub(CONTEXT);
            let hi = (i + CONTEXT + 1).min(rows.len());
            changed[lo..hi].contains(&true)
        })
        .collect();
    let mut out = String::from("--- expected (transcript)\n+++ observed\n");
    let mut skipped = false;
    for (row, show) in rows.iter().zip(shown) {
        if !show {
            skipped = true;
            continue;
        }
        if skipped {
            out.push_str("  ...\n");
            skipped = false;
        }
        let _ = match row {
            Row::Same { line, text } => writeln!(out, "  {line:>4} | {text}"),
            Row::Changed {
                line,
                expected,
                observed,
            } => writeln!(out, "- {line:>4} | {expected}\n+      | {observed}"),
            Row::Missing { line, expected } => writeln!(out, "- {line:>4} | {expected}"),
            Row::Extra { observed } => writeln!(out, "+      | {observed}"),
        };
    }
    if skipped {
        out.push_str("  ...\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(line: usize, text: &str) -> Row {
        Row::Same {
            line,
            text: text.into(),
        }
    }

    #[test]
    fn nothing_to_show_when_all_lines_match() {
        assert_eq!(render(&[same(1, "C: random?"), same(2, "S: 1")]), "");
    }

    #[test]
    fn shows_line_numbers_and_context_around_changes() {
        let mut rows: Vec<Row> = (1..=8).map(|i| same(i, &format!("C: l{i}"))).collect();
        rows.insert(
            6,
            Row::Changed {
                line: 7,
                expected: "S: notif: classified".into(),
                observed: "S: notif: random".into(),
            },
        );
        rows.push(Row::Extra {
            observed: "S: notif: random".into(),
        });
        let text = render(&rows);
        let want = [
            "--- expected (transcript)",
            "+++ observed",
            "  ...",
            "     5 | C: l5",
            "     6 | C: l6",
            "-    7 | S: notif: classified",
            "+      | S: notif: random",
            "     7 | C: l7",
            "     8 | C: l8",
            "+      | S: notif: random",
        ];
        assert_eq!(text, want.join("\n") + "\n");
    }
}
