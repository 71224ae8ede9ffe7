//! Sequence diagrams: one conversation drawn as client and server lanes, one arrow per line
//! with its transcript line and time offset, directives as notes, and the offending line in
//! red with its rule. A notification that crossed a `stop_notif` on the wire is drawn as in the
//! spec's race figure: the two arrows overlap in time and cross.

use std::fmt::Write as _;
use std::time::Duration;

use super::escape::{escape, push_escaped, truncate};
use crate::checker::LineReading as _;
use crate::dialect::Dialect;
use crate::rule::{Party, RuleId};

/// Drawing width in SVG units (the drawing scales to the page; on a narrow screen it scrolls).
const WIDTH: f64 = 640.0;
/// Left gutter for the line number and time offset.
const GUTTER: f64 = 84.0;
/// Space for the lane names.
const HEADER: f64 = 34.0;
/// Height of one step.
const ROW: f64 = 36.0;
/// Width of one character of the 11-unit monospace font, for fitting labels.
const CHAR: f64 = 6.7;
/// Red of a violation, amber of a divergence (also in style.css).
const RED: &str = "#c62828";
const AMBER: &str = "#b26a00";
const INK: &str = "#333";

/// What a mark on a step means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// A broken rule (red).
    Violation,
    /// A legal difference from the recording (amber).
    Divergence,
}

/// Why a step is highlighted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// Violation or divergence.
    pub kind: MarkKind,
    /// The rule, when known.
    pub rule: Option<RuleId>,
    /// The checker's (or replay's) sentence.
    pub message: String,
}

/// How an arrow is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArrowStyle {
    /// A line that was sent.
    #[default]
    Sent,
    /// A line the recording has but that did not happen (replay): dashed and grey.
    Missing,
}

/// One line on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrow {
    /// The client lane (index into [`Diagram::clients`]); the server lane is always last.
    pub client: usize,
    /// Who sent it.
    pub from: Party,
    /// The line, without terminator.
    pub text: String,
    /// How it is drawn.
    pub style: ArrowStyle,
}

/// What one step shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// A line.
    Arrow(Arrow),
    /// A directive or event across the lanes (`! publish random`, a close).
    Note(String),
    /// Lines left out of the drawing.
    Gap(String),
}

/// One row of the diagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Time since the conversation started, when recorded.
    pub at: Option<Duration>,
    /// Transcript line, when the conversation comes from a file.
    pub line: Option<usize>,
    /// What happened.
    pub what: What,
    /// Why it is highlighted.
    pub marks: Vec<Mark>,
    /// For a client's stop line: how many notifications that follow crossed it on the wire.
    pub crossed_by: usize,
}

impl Step {
    /// A step with no time, line or marks.
    pub fn new(what: What) -> Step {
        Step {
            at: None,
            line: None,
            what,
            marks: Vec::new(),
            crossed_by: 0,
        }
    }
}

/// One conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagram {
    /// Names of the client lanes, left to right (`client`, or `client A`, `client B`).
    pub clients: Vec<String>,
    /// The rows, in order.
    pub steps: Vec<Step>,
    /// Marks that belong to no drawn line (a rule broken by silence, a line not shown).
    pub loose: Vec<Mark>,
}

impl Diagram {
    /// The lane of client `name`, added on first use.
    pub fn lane(&mut self, name: &str) -> usize {
        match self.clients.iter().position(|c| c == name) {
            Some(i) => i,
            None => {
                self.clients.push(name.to_string());
                self.clients.len() - 1
            }
        }
    }

    /// Adds `mark` to the step of transcript `line`, or to the loose marks when no drawn step
    /// has that line.
    pub fn mark_line(&mut self, line: Option<usize>, mark: Mark) {
        let step = line.and_then(|l| self.steps.iter_mut().find(|s| s.line == Some(l)));
        match step {
            Some(s) => s.marks.push(mark),
            None => self.loose.push(mark),
        }
    }

    /// Finds the notifications that crossed a stop line: the server's notifications that
    /// directly follow a client's stop line on the same lane, before anything else. They are
    /// drawn overlapping it, as in the spec's race figure.
    pub fn find_crossings(&mut self, dialect: &Dialect) {
        for i in 0..self.steps.len() {
            let What::Arrow(stop) = &self.steps[i].what else {
                continue;
            };
            if stop.from != Party::Client
                || stop.style != ArrowStyle::Sent
                || stop.text != dialect.commands.stop
            {
                continue;
            }
            let lane = stop.client;
            let n = self.steps[i + 1..]
                .iter()
                .take_while(|s| {
                    matches!(&s.what, What::Arrow(a) if a.from == Party::Server
                        && a.client == lane
                        && a.style == ArrowStyle::Sent
                        && dialect.notification_kind(&a.text).is_some())
                })
                .count();
            self.steps[i].crossed_by = n;
        }
    }

    /// Whether any step or loose mark is a violation.
    pub fn has_violation(&self) -> bool {
        self.steps
            .iter()
            .flat_map(|s| &s.marks)
            .chain(&self.loose)
            .any(|m| m.kind == MarkKind::Violation)
    }

    /// The drawing (an inline SVG) followed by the list of marks, as HTML.
    pub fn render_into(&self, o: &mut String) {
        let lanes = self.clients.len().max(1) + 1;
        let first = GUTTER + 60.0;
        let last = WIDTH - 60.0;
        let gap = (last - first) / (lanes - 1) as f64;
        let lane_x = |i: usize| first + gap * i as f64;
        let server_x = lane_x(lanes - 1);
        let height = HEADER + ROW * self.steps.len() as f64 + 12.0;
        let _ = writeln!(
            o,
            "<div class=\"diagram\"><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" \
             role=\"img\" aria-label=\"sequence diagram\" font-family=\"ui-monospace, Menlo, Consolas, monospace\" font-size=\"11\">"
        );
        // Lanes: a name box and a lifeline each.
        let names: Vec<String> = if self.clients.is_empty() {
            vec!["client".to_string()]
        } else {
            self.clients.clone()
        };
        for (i, name) in names
            .iter()
            .chain(std::iter::once(&"server".to_string()))
            .enumerate()
        {
            let x = lane_x(i);
            let boxw = (gap - 8.0).min(104.0);
            let label = truncate(name, ((boxw - 8.0) / CHAR).max(4.0) as usize);
            let _ = writeln!(
                o,
                "<g class=\"lane\"><rect x=\"{:.1}\" y=\"4\" width=\"{:.1}\" height=\"20\" rx=\"4\" fill=\"#eef2f7\" stroke=\"#8a99ad\"/>\
                 <text x=\"{x:.1}\" y=\"18\" text-anchor=\"middle\" fill=\"{INK}\">{}</text>\
                 <line x1=\"{x:.1}\" y1=\"24\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#b8c2cf\" stroke-dasharray=\"3 3\"/></g>",
                x - boxw / 2.0,
                boxw,
                escape(&label),
                height - 4.0
            );
        }
        let y_of = |k: usize| HEADER + ROW * k as f64 + ROW * 0.55;
        // For each step, where its arrow starts (a crossing notification starts a row early).
        let mut start_row: Vec<usize> = (0..self.steps.len()).collect();
        let mut end_row: Vec<usize> = (0..self.steps.len()).collect();
        for (i, s) in self.steps.iter().enumerate() {
            if s.crossed_by > 0 {
                end_row[i] = i + s.crossed_by;
                for j in 1..=s.crossed_by {
                    start_row[i + j] = i + j - 1;
                }
            }
        }
        for (k, s) in self.steps.iter().enumerate() {
            let y = y_of(k);
            let colour = mark_colour(&s.marks);
            // Gutter: transcript line and time offset.
            if let Some(l) = s.line {
                let _ = write!(
                    o,
                    "<text x=\"4\" y=\"{:.1}\" fill=\"#777\">L{l}</text>",
                    y - 4.0
                );
            }
            if let Some(at) = s.at {
                let _ = write!(
                    o,
                    "<text x=\"4\" y=\"{:.1}\" fill=\"#555\">{}</text>",
                    y + 9.0,
                    offset(at)
                );
            }
            let tip = tooltip(s);
            match &s.what {
                What::Arrow(a) => {
                    let cx = lane_x(a.client.min(lanes - 2));
                    let (x1, x2) = match a.from {
                        Party::Client => (cx, server_x),
                        Party::Server => (server_x, cx),
                    };
                    let (y1, y2) = (y_of(start_row[k]), y_of(end_row[k]));
                    let crossing = start_row[k] != k || end_row[k] != k;
                    let stroke = colour.unwrap_or(match a.style {
                        ArrowStyle::Sent => INK,
                        ArrowStyle::Missing => "#999",
                    });
                    let class = match (colour, crossing) {
                        (Some(c), _) if c == RED => "arrow bad",
                        (Some(_), _) => "arrow diverged",
                        (None, true) => "arrow crossing",
                        (None, false) => "arrow",
                    };
                    let dash = if a.style == ArrowStyle::Missing {
                        " stroke-dasharray=\"5 4\""
                    } else {
                        ""
                    };
                    let width = if colour.is_some() { 2.2 } else { 1.3 };
                    let rule = s
                        .marks
                        .iter()
                        .find_map(|m| m.rule)
                        .map(|r| format!(" data-rule=\"{}\"", r.as_str()))
                        .unwrap_or_default();
                    let _ = write!(
                        o,
                        "<g class=\"{class}\"{rule}>{tip}<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{stroke}\" stroke-width=\"{width}\"{dash}/>"
                    );
                    arrow_head(o, (x1, y1), (x2, y2), stroke);
                    // The label sits above the arrow at its own row, near the sender (near the
                    // receiver for a crossing notification, whose sender end is a row above).
                    let room = if crossing {
                        (x1 - x2).abs() / 2.0
                    } else {
                        (x1 - x2).abs() - 16.0
                    };
                    let mut text = match a.style {
                        ArrowStyle::Sent => a.text.clone(),
                        ArrowStyle::Missing => format!("(missing) {}", a.text),
                    };
                    if text.is_empty() {
                        text = "(empty line)".into();
                    }
                    let label = truncate(&text, (room / CHAR).max(4.0) as usize);
                    let (lx, anchor) = if (a.from == Party::Client) != (start_row[k] != k) {
                        (x1.min(x2) + 8.0, "start")
                    } else {
                        (x1.max(x2) - 8.0, "end")
                    };
                    let weight = if colour.is_some() {
                        " font-weight=\"bold\""
                    } else {
                        ""
                    };
                    let _ = write!(
                        o,
                        "<text x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" fill=\"{stroke}\"{weight}>{}</text>",
                        y - 5.0,
                        escape(&label)
                    );
                    if let Some(r) = s.marks.iter().find_map(|m| m.rule) {
                        let _ = write!(
                            o,
                            "<text x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" fill=\"{stroke}\" font-size=\"10\" font-weight=\"bold\">{}</text>",
                            y + 13.0,
                            r.as_str()
                        );
                    }
                    o.push_str("</g>\n");
                }
                What::Note(text) | What::Gap(text) => {
                    let gap_style = matches!(s.what, What::Gap(_));
                    let x0 = lane_x(0) - 40.0;
                    let w = server_x - x0 + 40.0;
                    let (fill, line) = if gap_style {
                        ("#ffffff", "#bbb")
                    } else {
                        ("#fff8dc", "#d8c58a")
                    };
                    let stroke = colour.unwrap_or(line);
                    let label = truncate(text, ((w - 12.0) / CHAR) as usize);
                    let class = if colour == Some(RED) {
                        "note bad"
                    } else {
                        "note"
                    };
                    let dash = if gap_style {
                        " stroke-dasharray=\"4 3\""
                    } else {
                        ""
                    };
                    let _ = writeln!(
                        o,
                        "<g class=\"{class}\">{tip}<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"20\" rx=\"3\" fill=\"{fill}\" stroke=\"{stroke}\"{dash}/>\
                         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{}\">{}</text></g>",
                        y - 13.0,
                        x0 + w / 2.0,
                        y + 1.0,
                        colour.unwrap_or(INK),
                        escape(&label)
                    );
                }
            }
        }
        o.push_str("</svg></div>\n");
        self.render_marks(o);
    }

    /// The list under the drawing: every mark with its line, rule ID, the rule's sentence from
    /// the catalog and the message, in full (the drawing cuts long labels).
    fn render_marks(&self, o: &mut String) {
        let marked: Vec<(Option<usize>, &Mark)> = self
            .steps
            .iter()
            .flat_map(|s| s.marks.iter().map(move |m| (s.line, m)))
            .chain(self.loose.iter().map(|m| (None, m)))
            .collect();
        if marked.is_empty() {
            return;
        }
        o.push_str("<ol class=\"marks\">\n");
        for (line, m) in marked {
            let class = match m.kind {
                MarkKind::Violation => "violation",
                MarkKind::Divergence => "divergence",
            };
            let _ = write!(o, "<li class=\"{class}\">");
            if let Some(l) = line {
                let _ = write!(o, "<span class=\"line\">line {l}</span> ");
            }
            match (m.kind, m.rule) {
                (_, Some(r)) => {
                    let _ = write!(
                        o,
                        "<code class=\"rule\">{}</code> <span class=\"statement\">{}</span> ",
                        r.as_str(),
                        escape(r.statement())
                    );
                }
                (MarkKind::Divergence, None) => o.push_str("<code class=\"rule\">diverged</code> "),
                (MarkKind::Violation, None) => {}
            }
            o.push_str("<span class=\"message\">");
            push_escaped(o, &m.message);
            o.push_str("</span></li>\n");
        }
        o.push_str("</ol>\n");
    }
}

/// A time offset as `+12.3ms` under a second (where the interesting gaps are), else `+1.234s`.
pub fn offset(at: Duration) -> String {
    if at < Duration::from_secs(1) {
        format!("+{:.1}ms", at.as_secs_f64() * 1000.0)
    } else {
        format!("+{:.3}s", at.as_secs_f64())
    }
}

/// Red when a step breaks a rule, amber when it only diverges.
fn mark_colour(marks: &[Mark]) -> Option<&'static str> {
    if marks.iter().any(|m| m.kind == MarkKind::Violation) {
        Some(RED)
    } else if marks.is_empty() {
        None
    } else {
        Some(AMBER)
    }
}

/// A `<title>` (hover text) with the step in full and its marks.
fn tooltip(s: &Step) -> String {
    let mut t = match &s.what {
        What::Arrow(a) => format!(
            "{}: {}",
            if a.from == Party::Client { "C" } else { "S" },
            a.text
        ),
        What::Note(n) | What::Gap(n) => n.clone(),
    };
    for m in &s.marks {
        match m.rule {
            Some(r) => {
                let _ = write!(t, "\n{}: {}\n{}", r.as_str(), r.statement(), m.message);
            }
            None => {
                let _ = write!(t, "\n{}", m.message);
            }
        }
    }
    format!("<title>{}</title>", escape(&t))
}

/// A filled arrow head at `to`, pointing away from `from`.
fn arrow_head(o: &mut String, from: (f64, f64), to: (f64, f64), colour: &str) {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let (bx, by) = (to.0 - ux * 9.0, to.1 - uy * 9.0);
    let (px, py) = (-uy * 4.0, ux * 4.0);
    let _ = write!(
        o,
        "<polygon points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{colour}\"/>",
        to.0,
        to.1,
        bx + px,
        by + py,
        bx - px,
        by - py
    );
}
