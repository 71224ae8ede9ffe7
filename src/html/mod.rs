//! The HTML report (`--html FILE` on `conform`, `check`, `replay` and `simulate`).
//!
//! A terminal report is read once; an HTML report is opened, shared and attached to a bug. So
//! it is one self-contained file (inline CSS and SVG, no script, a Content-Security-Policy that
//! forbids any network access) showing the per-rule table, coverage, and for every failing or
//! diverged conversation a sequence diagram with the offending line in red, its rule ID, the
//! rule's sentence from the catalog and the checker's message. Passing cases are collapsed.
//!
//! Every command builds the same small model ([`Page`]), so the four reports look alike:
//! - [`build`]: a [`Page`] from a conform run, from `check`/`replay` results, from a simulation;
//! - [`diagram`]: the model of one conversation and its SVG drawing;
//! - [`read`]: a bounded, lenient reader of transcript files for diagrams;
//! - [`escape`](mod@escape): every string shown goes through it (file and peer bytes are hostile).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::rule::RuleId;

pub mod build;
pub mod diagram;
pub mod escape;
pub mod read;

pub use diagram::{Arrow, Diagram, Mark, MarkKind, Step, What};
use escape::{escape, push_escaped};

/// The stylesheet, inlined into every report.
const STYLE: &str = include_str!("style.css");

/// At most this many cases get a diagram; later failures are listed with their messages only.
/// A run where a thousand conversations fail is read from its first failures, and the file
/// must stay small enough to open at once.
pub const MAX_DIAGRAMS: usize = 200;

/// `--html FILE` and its companion, shared by every command that writes a report.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HtmlArgs {
    /// Also write a self-contained HTML report (rule table, coverage, a sequence diagram of
    /// every failing conversation) to this file. An existing file is an error unless
    /// --html-overwrite is given.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Replace the --html file if it exists.
    #[arg(long, requires = "html")]
    pub html_overwrite: bool,
}

impl HtmlArgs {
    /// Checks before a (possibly long) run that the report can be written: the file must not
    /// exist unless overwriting was asked for.
    pub fn precheck(&self) -> Result<(), String> {
        match &self.html {
            Some(p) if !self.html_overwrite && std::fs::symlink_metadata(p).is_ok() => {
                Err(format!(
                    "--html {}: the file exists; remove it or add --html-overwrite",
                    p.display()
                ))
            }
            _ => Ok(()),
        }
    }

    /// Writes the page when `--html` was given; the error names the file.
    pub fn write(&self, page: impl FnOnce() -> Page) -> Result<(), String> {
        match &self.html {
            None => Ok(()),
            Some(p) => write_file(p, &page().render(), self.html_overwrite)
                .map_err(|e| format!("--html {}: {e}", p.display())),
        }
    }
}

/// Writes `text` to `path`: a new file only (an existing one, or a link, is never followed or
/// replaced), unless `overwrite`.
pub fn write_file(path: &Path, text: &str, overwrite: bool) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if overwrite {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.flush()
}

/// How a case ended, as the report colours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// As expected.
    Pass,
    /// A rule was broken (or a negative example was not flagged as it should be).
    Fail,
    /// Could not be judged.
    Error,
    /// Legal, but not as recorded (replay).
    Diverged,
    /// Did not apply to this run.
    Skipped,
    /// Failed as the user expects (`--expect-fail`).
    ExpectedFailure,
    /// Passed although listed in `--expect-fail`.
    UnexpectedPass,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
            Status::Diverged => "DIVERGED",
            Status::Skipped => "SKIPPED",
            Status::ExpectedFailure => "EXPECTED FAILURE",
            Status::UnexpectedPass => "NOW PASSING",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::Diverged => "diverged",
            Status::Skipped => "skipped",
            Status::ExpectedFailure => "xfail",
            Status::UnexpectedPass => "xpass",
        }
    }

    /// Whether the case is shown open, with its diagram, rather than in a collapsed list.
    fn is_notable(self) -> bool {
        matches!(
            self,
            Status::Fail | Status::Error | Status::Diverged | Status::UnexpectedPass
        )
    }
}

/// One row of the rule table.
#[derive(Debug, Clone)]
pub struct RuleLine {
    /// The rule.
    pub rule: RuleId,
    /// One cell per column of [`Page::rule_columns`].
    pub cells: Vec<String>,
    /// Whether the row shows a failure (drawn red).
    pub bad: bool,
    /// A remark: the first failure, or why the rule was not exercised.
    pub note: String,
}

/// One judged conversation: a scenario, a transcript, a simulated connection.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its name (scenario name or file).
    pub name: String,
    /// Where it comes from (feature file and line), if not the name itself.
    pub location: String,
    /// How it ended.
    pub status: Status,
    /// What went wrong, one sentence each.
    pub messages: Vec<String>,
    /// Preformatted detail (a diff), shown as is.
    pub detail: Option<String>,
    /// The conversation, for a failing or diverged case.
    pub diagram: Option<Diagram>,
}

impl Case {
    /// A case with nothing to show but its name and status.
    pub fn new(name: impl Into<String>, status: Status) -> Case {
        Case {
            name: name.into(),
            location: String::new(),
            status,
            messages: Vec::new(),
            detail: None,
            diagram: None,
        }
    }
}

/// A whole report.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The command (`conform`, `check`, ...).
    pub command: String,
    /// The overall verdict word (`PASS`, `FAIL`, `ERROR`).
    pub verdict: String,
    /// The summary line, as on the terminal.
    pub summary: String,
    /// Facts about the run (target, dialect, seed...), in order.
    pub facts: Vec<(String, String)>,
    /// Headers of the rule table's count columns.
    pub rule_columns: Vec<String>,
    /// The rule table (empty: no table).
    pub rules: Vec<RuleLine>,
    /// Coverage: a headline and the rules not exercised, with why.
    pub coverage: Option<(String, Vec<String>)>,
    /// Every case, in run order.
    pub cases: Vec<Case>,
}

impl Page {
    /// The self-contained HTML document.
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(64 * 1024);
        let title = format!("notifspec {}: {}", self.command, self.verdict);
        let _ = write!(
            o,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
             style-src 'unsafe-inline'\">\n<meta name=\"generator\" content=\"notifspec {}\">\n\
             <title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
            env!("CARGO_PKG_VERSION"),
            escape(&title)
        );
        let verdict_class = match self.verdict.as_str() {
            "PASS" => "pass",
            "FAIL" => "fail",
            _ => "error",
        };
        let _ = write!(
            o,
            "<header>\n<h1>notifspec {} <span class=\"badge {verdict_class}\" id=\"verdict\">{}</span></h1>\n\
             <p class=\"summary\" id=\"summary\">{}</p>\n",
            escape(&self.command),
            escape(&self.verdict),
            escape(&self.summary)
        );
        if !self.facts.is_empty() {
            o.push_str("<dl class=\"facts\">\n");
            for (k, v) in &self.facts {
                let _ = writeln!(o, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(v));
            }
            o.push_str("</dl>\n");
        }
        o.push_str("</header>\n<main>\n");
        // What went wrong first: that is what the reader opened the report for.
        self.render_failures(&mut o);
        self.render_rules(&mut o);
        self.render_coverage(&mut o);
        self.render_quiet_cases(&mut o);
        o.push_str("</main>\n</body>\n</html>\n");
        o
    }

    fn render_rules(&self, o: &mut String) {
        if self.rules.is_empty() {
            return;
        }
        o.push_str("<section id=\"rules\">\n<h2>Rules</h2>\n<div class=\"scroll\">\n<table class=\"rules\">\n<thead><tr><th scope=\"col\">Rule</th>");
        for c in &self.rule_columns {
            let _ = write!(o, "<th scope=\"col\" class=\"n\">{}</th>", escape(c));
        }
        o.push_str("<th scope=\"col\" class=\"note\">Note</th></tr></thead>\n<tbody>\n");
        for r in &self.rules {
            let _ = write!(
                o,
                "<tr class=\"{}\" id=\"rule-{}\"><th scope=\"row\" title=\"{}\">{}</th>",
                if r.bad { "bad" } else { "ok" },
                r.rule.as_str(),
                escape(r.rule.statement()),
                r.rule.as_str()
            );
            for c in &r.cells {
                let _ = write!(o, "<td class=\"n\">{}</td>", escape(c));
            }
            let _ = writeln!(o, "<td class=\"note\">{}</td></tr>", escape(&r.note));
        }
        o.push_str("</tbody>\n</table>\n</div>\n</section>\n");
    }

    fn render_coverage(&self, o: &mut String) {
        let Some((headline, missing)) = &self.coverage else {
            return;
        };
        let _ = write!(
            o,
            "<section id=\"coverage\">\n<h2>Coverage</h2>\n<p>{}</p>\n",
            escape(headline)
        );
        if !missing.is_empty() {
            o.push_str("<ul class=\"missing\">\n");
            for m in missing {
                let _ = writeln!(o, "<li>{}</li>", escape(m));
            }
            o.push_str("</ul>\n");
        }
        o.push_str("</section>\n");
    }

    fn render_failures(&self, o: &mut String) {
        let notable: Vec<&Case> = self
            .cases
            .iter()
            .filter(|c| c.status.is_notable())
            .collect();
        if !notable.is_empty() {
            let _ = writeln!(
                o,
                "<section id=\"failures\">\n<h2>Failures and divergences ({})</h2>",
                notable.len()
            );
            for (i, c) in notable.iter().enumerate() {
                render_case(o, c, i < MAX_DIAGRAMS);
            }
            if notable.len() > MAX_DIAGRAMS {
                let _ = writeln!(
                    o,
                    "<p class=\"note\">Diagrams are drawn for the first {MAX_DIAGRAMS} cases only.</p>"
                );
            }
            o.push_str("</section>\n");
        }
    }

    fn render_quiet_cases(&self, o: &mut String) {
        let quiet: [(Status, &str); 4] = [
            (Status::ExpectedFailure, "Expected failures"),
            (Status::Pass, "Passed"),
            (Status::Skipped, "Skipped"),
            (Status::UnexpectedPass, ""),
        ];
        for (status, heading) in quiet.into_iter().filter(|(_, h)| !h.is_empty()) {
            let cases: Vec<&Case> = self.cases.iter().filter(|c| c.status == status).collect();
            if cases.is_empty() {
                continue;
            }
            let _ = writeln!(
                o,
                "<section class=\"quiet\" id=\"{}\">\n<details>\n<summary>{heading} ({})</summary>\n<ul>",
                status.class(),
                cases.len()
            );
            for c in cases {
                o.push_str("<li>");
                push_escaped(o, &c.name);
                if !c.location.is_empty() {
                    o.push_str(" <span class=\"loc\">");
                    push_escaped(o, &c.location);
                    o.push_str("</span>");
                }
                for m in &c.messages {
                    o.push_str("<br><span class=\"msg\">");
                    push_escaped(o, m);
                    o.push_str("</span>");
                }
                o.push_str("</li>\n");
            }
            o.push_str("</ul>\n</details>\n</section>\n");
        }
    }
}

fn render_case(o: &mut String, c: &Case, with_diagram: bool) {
    let _ = write!(
        o,
        "<article class=\"case {}\">\n<h3><span class=\"badge {}\">{}</span> ",
        c.status.class(),
        c.status.class(),
        c.status.label()
    );
    push_escaped(o, &c.name);
    o.push_str("</h3>\n");
    if !c.location.is_empty() {
        let _ = writeln!(o, "<p class=\"loc\">{}</p>", escape(&c.location));
    }
    if !c.messages.is_empty() {
        o.push_str("<ul class=\"messages\">\n");
        for m in &c.messages {
            let _ = writeln!(o, "<li>{}</li>", escape(m));
        }
        o.push_str("</ul>\n");
    }
    if let Some(d) = &c.detail {
        let _ = writeln!(o, "<pre class=\"detail\">{}</pre>", escape(d));
    }
    if let Some(d) = c.diagram.as_ref().filter(|_| with_diagram) {
        d.render_into(o);
    }
    o.push_str("</article>\n");
}

#[cfg(test)]
mod tests;
