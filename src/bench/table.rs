//! The tables `notifspec bench` prints: one per measurement, with the targets it is judged by.
//!
//! Targets are printed ratios, never assertions: a benchmark on a shared machine informs, it
//! does not gate. Every table renders as aligned text for people and as JSON for scripts that
//! track figures over time.

use std::fmt::Write as _;

use serde::Serialize;

/// One cell: a number (kept numeric in JSON) or a word such as `skipped`.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A figure, printed with this many decimals.
    Num(f64, usize),
    /// Text.
    Text(String),
}

impl Serialize for Cell {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Num(v, _) => s.serialize_f64(*v),
            Cell::Text(t) => s.serialize_str(t),
        }
    }
}

impl Cell {
    /// A whole number (a count, a rate).
    pub fn int(v: f64) -> Cell {
        Cell::Num(v.round(), 0)
    }

    /// A number with `decimals` digits after the point.
    pub fn num(v: f64, decimals: usize) -> Cell {
        Cell::Num(v, decimals)
    }

    /// Words.
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    fn render(&self) -> String {
        match self {
            Cell::Num(v, d) => group_thousands(&format!("{v:.d$}", d = *d)),
            Cell::Text(s) => s.clone(),
        }
    }
}

/// `1234567.5` → `1,234,567.5`: rates of millions are unreadable otherwise.
fn group_thousands(s: &str) -> String {
    let (sign, rest) = s.strip_prefix('-').map_or(("", s), |r| ("-", r));
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    if !int.bytes().all(|b| b.is_ascii_digit()) {
        return s.to_string();
    }
    let mut out = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

/// Whether a target is a floor or a ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// The measured ratio must be at least the goal (throughput).
    AtLeast,
    /// The measured ratio must be at most the goal (latency, memory).
    AtMost,
}

/// A target from issue 7, and how this run did against it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerfTarget {
    /// What is compared, e.g. `reference/floor round trips/s, 100 conns`.
    pub what: String,
    /// The measured ratio, or `None` when the comparison could not be made (baseline absent).
    pub ratio: Option<f64>,
    /// The goal the ratio is judged against.
    pub goal: f64,
    /// Floor or ceiling.
    pub direction: Goal,
}

impl PerfTarget {
    /// Whether the ratio meets the goal; `None` when there was nothing to compare.
    pub fn met(&self) -> Option<bool> {
        let r = self.ratio?;
        Some(match self.direction {
            Goal::AtLeast => r >= self.goal,
            Goal::AtMost => r <= self.goal,
        })
    }
}

/// One measurement's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// The measurement's name as `--only` spells it.
    pub id: &'static str,
    /// A title for people.
    pub title: String,
    /// Column headers, units included.
    pub columns: Vec<String>,
    /// The rows; each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
    /// The targets and how they went.
    pub targets: Vec<PerfTarget>,
    /// What a reader needs to interpret the figures (method, skipped parts, errors).
    pub notes: Vec<String>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(id: &'static str, title: impl Into<String>, columns: &[&str]) -> Table {
        Table {
            id,
            title: title.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
            targets: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Renders the table as aligned text, targets and notes below it.
    pub fn to_text(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(Cell::render).collect())
            .collect();
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
                let pad = w.saturating_sub(c.chars().count());
                if i == 0 {
                    s.push_str(c);
                    s.push_str(&" ".repeat(pad));
                } else {
                    s.push_str("  ");
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                }
            }
            s.trim_end().to_string()
        };
        let mut out = format!("== {} ({})\n", self.title, self.id);
        out.push_str(&line(&self.columns));
        out.push('\n');
        let total: usize = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
        out.push_str(&"-".repeat(total));
        out.push('\n');
        for r in &rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        for t in &self.targets {
            let op = match t.direction {
                Goal::AtLeast => "≥",
                Goal::AtMost => "≤",
            };
            let verdict = match t.met() {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "not compared",
            };
            let ratio = t.ratio.map_or("n/a".to_string(), format_ratio);
            let _ = writeln!(
                out,
                "target {}: {ratio} (goal {op} {:.2}×) {verdict}",
                t.what, t.goal
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        out
    }
}

/// Two decimals, or enough significant digits that a small ratio does not print as `0.00×`.
fn format_ratio(r: f64) -> String {
    if r >= 0.1 || r == 0.0 {
        format!("{r:.2}×")
    } else {
        let decimals = (1.0 - r.log10().floor()) as usize;
        format!("{r:.decimals$}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_columns_aligned() {
        let mut t = Table::new("rr", "Round trips", &["server", "rt/s"]);
        t.rows.push(vec![Cell::text("floor"), Cell::int(1234567.4)]);
        t.rows
            .push(vec![Cell::text("reference"), Cell::num(-987.654, 1)]);
        t.targets.push(PerfTarget {
            what: "reference/floor".into(),
            ratio: Some(0.5),
            goal: 0.9,
            direction: Goal::AtLeast,
        });
        t.notes.push("two cores".into());
        let text = t.to_text();
        assert!(text.contains("floor      1,234,567\n"), "{text}");
        assert!(text.contains("reference     -987.7\n"), "{text}");
        assert!(text.contains("0.50× (goal ≥ 0.90×) MISSED"), "{text}");
        assert!(text.contains("note: two cores"), "{text}");
    }

    #[test]
    fn small_ratios_keep_two_significant_digits() {
        assert_eq!(format_ratio(0.9), "0.90×");
        assert_eq!(format_ratio(0.0123), "0.012×");
        assert_eq!(format_ratio(0.000845), "0.00085×");
    }

    #[test]
    fn json_keeps_numbers_numeric() {
        let mut t = Table::new("memory", "Memory", &["bytes"]);
        t.rows.push(vec![Cell::num(2.5, 1)]);
        let v = serde_json::to_value(&t).expect("serializable");
        assert_eq!(v["rows"][0][0], serde_json::json!(2.5));
    }

    #[test]
    fn a_target_without_a_ratio_is_not_judged() {
        let t = PerfTarget {
            what: "x".into(),
            ratio: None,
            goal: 1.0,
            direction: Goal::AtMost,
        };
        assert_eq!(t.met(), None);
    }
}
