//! Pages from what each command found: a conform run, `check` and `replay` results, a
//! simulation. Each adapter only translates; the drawing is in [`super::diagram`].

use std::path::Path;
use std::time::Duration;

use super::diagram::{Arrow, ArrowStyle, Diagram, Mark, MarkKind, Step, What};
use super::read;
use super::{Case, Page, RuleLine, Status};
use crate::conform::failure::Failure;
use crate::conform::outcome::{Outcome, RunReport, diff_of};
use crate::dialect::Dialect;
use crate::replay::{Findings, Replayed, Row};
use crate::report::Status as Exit;
use crate::report::{FileResult, Summary, Verdict};
use crate::rule::{Party, RuleId};
use crate::sim::report::SimReport;

/// At most this many messages are listed per case; the diagram and the terminal report have
/// the rest.
const MAX_MESSAGES: usize = 20;

fn verdict_word(s: Exit) -> String {
    match s {
        Exit::Pass => "PASS",
        Exit::Fail => "FAIL",
        Exit::Error => "ERROR",
    }
    .to_string()
}

/// The page of a `conform` run.
pub fn conform(r: &RunReport, dialect: &Dialect) -> Page {
    let rows = r.per_rule();
    let rules = rows
        .iter()
        .map(|(rule, row)| RuleLine {
            rule: *rule,
            cells: vec![
                row.passed.to_string(),
                (row.failed + row.expected_failures).to_string(),
                row.skipped.to_string(),
            ],
            bad: row.failed > 0,
            note: match &row.first_failure {
                Some(f) => f.lines().next().unwrap_or_default().to_string(),
                None if row.expected_failures > 0 => "(expected failure)".into(),
                None => row.not_exercised_because.join("; "),
            },
        })
        .collect();
    let exercised = rows.values().filter(|r| r.exercised()).count();
    let missing = rows
        .iter()
        .filter(|(_, r)| !r.exercised())
        .map(|(rule, r)| format!("{}: {}", rule.as_str(), r.not_exercised_because.join("; ")))
        .collect();
    let text = crate::conform::render::text(r);
    let cases = r
        .scenarios
        .iter()
        .map(|s| {
            let location = format!("{} — {}:{}", s.feature, s.file, s.line);
            let mut case = Case::new(s.name.clone(), Status::Pass);
            case.location = location;
            match &s.outcome {
                Outcome::Passed => {}
                Outcome::Skipped { reason } => {
                    case.status = Status::Skipped;
                    case.messages.push(reason.clone());
                }
                Outcome::ExpectedFailure {
                    failure, reason, ..
                } => {
                    case.status = Status::ExpectedFailure;
                    case.messages.push(failure_line(failure));
                    if let Some(r) = reason {
                        case.messages.push(format!("expected because: {r}"));
                    }
                }
                Outcome::UnexpectedPass { rules } => {
                    case.status = Status::UnexpectedPass;
                    case.messages.push(format!(
                        "passes although --expect-fail lists {}; remove them from the list",
                        ids(rules)
                    ));
                }
                Outcome::Failed {
                    step,
                    failure,
                    conversation,
                } => {
                    case.status = Status::Fail;
                    case.messages.push(format!("step: {step}"));
                    case.messages.push(failure_line(failure));
                    case.detail = diff_of(failure);
                    let rule = failure.rule.or(match s.rules.as_slice() {
                        [only] => Some(*only),
                        _ => None,
                    });
                    let mark = Mark {
                        kind: MarkKind::Violation,
                        rule,
                        message: failure.message.clone(),
                    };
                    case.diagram = Some(conversation_diagram(
                        conversation,
                        Some((mark, failure)),
                        dialect,
                    ));
                }
                Outcome::Errored {
                    step,
                    message,
                    conversation,
                } => {
                    case.status = Status::Error;
                    case.messages.push(format!("step: {step}"));
                    case.messages.push(message.clone());
                    if !conversation.is_empty() {
                        case.diagram = Some(conversation_diagram(conversation, None, dialect));
                    }
                }
            }
            case
        })
        .collect();
    Page {
        command: "conform".into(),
        verdict: verdict_word(r.status()),
        summary: text.lines().last().unwrap_or_default().to_string(),
        facts: vec![
            ("target".into(), r.target.clone()),
            ("dialect".into(), r.dialect.clone()),
        ],
        rule_columns: vec!["passed".into(), "failed".into(), "skipped".into()],
        rules,
        coverage: Some((
            format!("{exercised} of {} rules exercised.", rows.len()),
            missing,
        )),
        cases,
    }
}

fn failure_line(f: &Failure) -> String {
    match f.rule {
        Some(r) => format!("{}: {}", r.as_str(), f.message),
        None => f.message.clone(),
    }
}

fn ids(rules: &[RuleId]) -> String {
    rules
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The diagram of a conform conversation (`+0.012s client A C: random?`, `+0.020s ! publish
/// random`, `+0.1s client A <closed by the server>`), with the failure marked on the line it is
/// about: the line the step got, else the last line of the party the rule binds.
pub fn conversation_diagram(
    lines: &[String],
    failure: Option<(Mark, &Failure)>,
    dialect: &Dialect,
) -> Diagram {
    let mut d = Diagram::default();
    for raw in lines {
        let (at, line) = split_time(raw);
        let what = if line.starts_with('!') || line.starts_with('#') {
            What::Note(line.to_string())
        } else if let Some(w) = bare_entry(line, &mut d, "client") {
            w
        } else if let Some((name, rest)) = split_peer(line) {
            match bare_entry(rest, &mut d, name) {
                Some(w) => w,
                None => What::Note(line.to_string()),
            }
        } else {
            What::Note(line.to_string())
        };
        let mut step = Step::new(what);
        step.at = at;
        d.steps.push(step);
    }
    d.find_crossings(dialect);
    if let Some((mark, failure)) = failure {
        let party = mark.rule.map(RuleId::party);
        let is_arrow_from = |s: &Step, p: Option<Party>| matches!(&s.what, What::Arrow(a) if p.is_none_or(|p| a.from == p));
        let target = failure
            .got
            .as_deref()
            .and_then(|got| {
                d.steps.iter().rposition(
                    |s| matches!(&s.what, What::Arrow(a) if a.text == got || got.contains(&a.text) && !a.text.is_empty()),
                )
            })
            .or_else(|| d.steps.iter().rposition(|s| is_arrow_from(s, party)));
        match target {
            Some(i) => d.steps[i].marks.push(mark),
            None => d.loose.push(mark),
        }
    }
    d
}

/// `+0.012s rest` → (time, rest).
fn split_time(raw: &str) -> (Option<Duration>, &str) {
    if let Some(rest) = raw.strip_prefix('+')
        && let Some((secs, line)) = rest.split_once("s ")
        && let Ok(secs) = secs.parse::<f64>()
    {
        return (Duration::try_from_secs_f64(secs).ok(), line);
    }
    (None, raw)
}

/// `NAME C: text` / `NAME S: text` / `NAME <closed by the server>` → (NAME, rest).
fn split_peer(line: &str) -> Option<(&str, &str)> {
    [" C:", " S:", " <"]
        .iter()
        .filter_map(|sep| line.find(sep))
        .min()
        .map(|i| (&line[..i], &line[i + 1..]))
}

/// `C: text`, `S: text` (an arrow on lane `name`) or `<event>` (a note naming the lane).
fn bare_entry(rest: &str, d: &mut Diagram, name: &str) -> Option<What> {
    let arrow = |from, text: &str, d: &mut Diagram| {
        What::Arrow(Arrow {
            client: d.lane(name),
            from,
            text: text.trim().to_string(),
            style: ArrowStyle::Sent,
        })
    };
    if let Some(t) = rest.strip_prefix("C:") {
        Some(arrow(Party::Client, t, d))
    } else if let Some(t) = rest.strip_prefix("S:") {
        Some(arrow(Party::Server, t, d))
    } else if rest.starts_with('<') && name != "client" {
        d.lane(name);
        Some(What::Note(format!("{name} {rest}")))
    } else {
        None
    }
}

/// The rule table and coverage of file results (`check`, `replay`): per rule any file
/// mentions, the files that broke it as their front matter expects, those that broke it
/// unexpectedly, and those that expected it but did not show it.
fn file_rules(results: &[&FileResult]) -> (Vec<RuleLine>, (String, Vec<String>)) {
    let mut lines = Vec::new();
    let mut seen = 0;
    for rule in RuleId::ALL {
        let broke = |r: &&&FileResult| r.violations.iter().any(|v| v.rule == *rule);
        let unexpected = results
            .iter()
            .filter(|r| r.unexpected.contains(rule))
            .count();
        let missing = results.iter().filter(|r| r.missing.contains(rule)).count();
        let as_expected = results
            .iter()
            .filter(|r| broke(r) && !r.unexpected.contains(rule))
            .count();
        // A rule no file mentions has nothing to say here; the coverage line counts them.
        if as_expected + unexpected + missing == 0 {
            continue;
        }
        seen += 1;
        lines.push(RuleLine {
            rule: *rule,
            cells: vec![
                as_expected.to_string(),
                unexpected.to_string(),
                missing.to_string(),
            ],
            bad: unexpected + missing > 0,
            note: rule.statement().to_string(),
        });
    }
    let headline = format!(
        "{seen} of {} rules reported or expected in these {} files.",
        RuleId::ALL.len(),
        results.len()
    );
    (lines, (headline, Vec::new()))
}

fn file_case(r: &FileResult) -> Case {
    let status = match r.verdict {
        Verdict::Pass => Status::Pass,
        Verdict::Fail => Status::Fail,
        Verdict::Error => Status::Error,
        Verdict::Diverged | Verdict::Unreplayable => Status::Diverged,
    };
    let mut c = Case::new(r.file.clone(), status);
    for v in r.violations.iter().take(MAX_MESSAGES) {
        c.messages.push(match v.line {
            Some(l) => format!("line {l}: {}: {}", v.rule, v.message),
            None => format!("{}: {}", v.rule, v.message),
        });
    }
    let more = r.violations.len().saturating_sub(MAX_MESSAGES) + r.omitted;
    if more > 0 {
        c.messages.push(format!("... and {more} more violations"));
    }
    if !r.missing.is_empty() {
        c.messages
            .push(format!("expected but not reported: {}", ids(&r.missing)));
    }
    if !r.unexpected.is_empty() && r.verdict == Verdict::Fail {
        c.messages
            .push(format!("reported but not expected: {}", ids(&r.unexpected)));
    }
    for d in r.divergences.iter().take(MAX_MESSAGES) {
        c.messages.push(format!("diverged: {d}"));
    }
    if let Some(e) = &r.error {
        c.messages.push(e.clone());
    }
    c.detail = r.diff.clone().or_else(|| r.error_detail.clone());
    c
}

fn files_page(command: &str, results: &[&FileResult], summary: &Summary, cases: Vec<Case>) -> Page {
    let (rules, coverage) = file_rules(results);
    Page {
        command: command.into(),
        verdict: verdict_word(summary.status()),
        summary: summary.to_string(),
        facts: Vec::new(),
        rule_columns: vec!["as expected".into(), "unexpected".into(), "missing".into()],
        rules,
        coverage: Some(coverage),
        cases,
    }
}

/// The page of a `check` run: each failing transcript drawn around its offending lines.
pub fn check(results: &[FileResult], summary: &Summary, fallback: &Dialect) -> Page {
    let cases = results
        .iter()
        .map(|r| {
            let mut c = file_case(r);
            if r.verdict == Verdict::Fail {
                c.diagram = transcript_diagram(Path::new(&r.file), r, fallback);
            }
            c
        })
        .collect();
    let refs: Vec<&FileResult> = results.iter().collect();
    files_page("check", &refs, summary, cases)
}

/// The diagram of a judged transcript file: windows around its violations (or its first lines
/// when a rule was expected but not reported), each violation marked on its line, each rule
/// expected but missing listed under it. `None` when the file cannot be read again.
pub fn transcript_diagram(path: &Path, r: &FileResult, dialect: &Dialect) -> Option<Diagram> {
    let lines: Vec<usize> = r.violations.iter().filter_map(|v| v.line).collect();
    let mut d = read::diagram_of_file(path, &read::windows(&lines)).ok()?;
    d.find_crossings(dialect);
    for v in &r.violations {
        d.mark_line(
            v.line,
            Mark {
                kind: MarkKind::Violation,
                rule: Some(v.rule),
                message: v.message.clone(),
            },
        );
    }
    for rule in &r.missing {
        d.loose.push(Mark {
            kind: MarkKind::Violation,
            rule: Some(*rule),
            message: "the front matter expects this rule to be broken, but it was not reported"
                .into(),
        });
    }
    Some(d)
}

/// The page of a `replay` run: each failing or diverged replay drawn from what was expected
/// and what happened, line by line.
pub fn replay(results: &[Replayed], summary: &Summary, dialect: &Dialect) -> Page {
    let cases = results
        .iter()
        .map(|r| {
            let mut c = file_case(&r.result);
            if matches!(r.result.verdict, Verdict::Fail | Verdict::Diverged)
                && let Some(f) = &r.findings
            {
                c.diagram = Some(replay_diagram(f, dialect));
            }
            c
        })
        .collect();
    let refs: Vec<&FileResult> = results.iter().map(|r| &r.result).collect();
    files_page("replay", &refs, summary, cases)
}

/// A replay drawn from its expected-versus-observed rows: lines that happened as arrows (with
/// their time, matched in order against the observed conversation), lines that did not as
/// dashed arrows, violations in red and divergences in amber on their transcript lines.
pub fn replay_diagram(f: &Findings, dialect: &Dialect) -> Diagram {
    let mut d = Diagram::default();
    let lane = d.lane("client");
    let observed: Vec<(Duration, String)> = f.observed.iter().map(|o| (o.at, o.line())).collect();
    let mut cursor = 0;
    // In order from the last match; a line that happened earlier than the recording has it
    // (a notification ahead of its publish) is looked up from the start.
    let mut time_of = |text: &str| match observed[cursor..].iter().position(|(_, l)| l == text) {
        Some(i) => {
            cursor += i + 1;
            Some(observed[cursor - 1].0)
        }
        None => observed.iter().find(|(_, l)| l == text).map(|(at, _)| *at),
    };
    for row in &f.rows {
        let (line, text, style, at) = match row {
            Row::Same { line, text } => {
                (Some(*line), text.as_str(), ArrowStyle::Sent, time_of(text))
            }
            Row::Changed { line, observed, .. } => (
                Some(*line),
                observed.as_str(),
                ArrowStyle::Sent,
                time_of(observed),
            ),
            Row::Missing { line, expected } => {
                (Some(*line), expected.as_str(), ArrowStyle::Missing, None)
            }
            Row::Extra { observed } => {
                (None, observed.as_str(), ArrowStyle::Sent, time_of(observed))
            }
        };
        let what = match read::entry(text, lane) {
            Some(What::Arrow(mut a)) => {
                a.style = style;
                What::Arrow(a)
            }
            Some(other) => other,
            None => What::Note(text.to_string()),
        };
        let mut step = Step::new(what);
        step.line = line;
        step.at = at;
        if let Row::Changed { line, expected, .. } = row
            && !f.divergences.iter().any(|d| d.line == Some(*line))
        {
            step.marks.push(Mark {
                kind: MarkKind::Divergence,
                rule: None,
                message: format!("the transcript has `{expected}` here"),
            });
        }
        if let Row::Extra { .. } = row {
            step.marks.push(Mark {
                kind: MarkKind::Divergence,
                rule: None,
                message: "not in the transcript".into(),
            });
        }
        d.steps.push(step);
    }
    d.find_crossings(dialect);
    for v in &f.violations {
        d.mark_line(
            v.line,
            Mark {
                kind: MarkKind::Violation,
                rule: Some(v.rule),
                message: v.message.clone(),
            },
        );
    }
    for dv in &f.divergences {
        d.mark_line(
            dv.line,
            Mark {
                kind: MarkKind::Divergence,
                rule: None,
                message: dv.message.clone(),
            },
        );
    }
    d
}

/// The page of a simulation: traffic figures, the rules broken, and each saved violating
/// connection drawn from its transcript (the shrunk one when there is one), judged again by
/// the checker so the offending line is marked.
pub fn simulate(r: &SimReport, dialect: &Dialect) -> Page {
    let t = &r.traffic;
    let facts = vec![
        ("scenario".to_string(), r.scenario.clone()),
        ("seed".into(), r.seed.to_string()),
        ("mode".into(), format!("{} ({})", r.mode, r.server)),
        ("dialect".into(), r.dialect.clone()),
        (
            "clients".into(),
            format!(
                "{}, {} connections, {:.1}s simulated",
                r.clients.values().sum::<u64>(),
                r.connections,
                r.seconds
            ),
        ),
        (
            "traffic".into(),
            format!(
                "{} lines, {} notifications, {} stop_notif, {} crossed a stop_notif",
                t.lines, t.notifications, t.stops, t.crossed
            ),
        ),
        (
            "latency".into(),
            format!(
                "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                r.latency.p50_ms, r.latency.p99_ms, r.latency.max_ms
            ),
        ),
    ];
    let rules = RuleId::ALL
        .iter()
        .filter_map(|rule| {
            let broken = r.violations.get(rule.as_str());
            let explained = r.explained.get(rule.as_str()).copied().unwrap_or(0);
            if broken.is_none() && explained == 0 {
                return None;
            }
            Some(RuleLine {
                rule: *rule,
                cells: vec![
                    broken.map_or(0, |b| b.count).to_string(),
                    broken.map_or(0, |b| b.connections).to_string(),
                    explained.to_string(),
                ],
                bad: broken.is_some(),
                note: String::new(),
            })
        })
        .collect();
    let mut cases = Vec::new();
    for s in &r.saved {
        let mut c = Case::new(
            format!("connection {} ({})", s.connection, s.rule),
            Status::Fail,
        );
        for f in r.findings.iter().filter(|f| f.connection == s.connection) {
            c.messages.push(format!(
                "{} at {:.3}s ({}): {}",
                f.rule, f.at, f.found_by, f.message
            ));
        }
        let file = s.shrunk.as_deref().unwrap_or(&s.original);
        c.location = file.to_string();
        let path = Path::new(file);
        let judged = crate::check_files::check_file(path, dialect);
        c.diagram = transcript_diagram(path, &judged, dialect);
        cases.push(c);
    }
    for f in &r.findings {
        if r.saved.iter().any(|s| s.connection == f.connection) {
            continue;
        }
        let mut c = Case::new(
            format!("connection {} ({})", f.connection, f.rule),
            Status::Fail,
        );
        c.messages.push(format!(
            "{} at {:.3}s ({}): {}",
            f.rule, f.at, f.found_by, f.message
        ));
        c.messages
            .push("no transcript was saved for this connection (see --max-saved)".into());
        cases.push(c);
    }
    Page {
        command: "simulate".into(),
        verdict: if r.passed() { "PASS" } else { "FAIL" }.into(),
        summary: format!(
            "{} rules broken, {} explained by injected faults",
            r.violations.len(),
            r.explained.len()
        ),
        facts,
        rule_columns: vec![
            "violations".into(),
            "connections".into(),
            "explained".into(),
        ],
        rules,
        coverage: None,
        cases,
    }
}

/// The page of a run that could not start: the target could not be reached.
pub fn unreachable(command: &str, target: &str, why: &str) -> Page {
    Page {
        command: command.into(),
        verdict: "ERROR".into(),
        summary: why.into(),
        facts: vec![("target".into(), target.into())],
        ..Page::default()
    }
}

/// A private folder under the system's temporary folder, removed when dropped: where
/// `simulate --html` saves the violating connections it draws when no `--out` is given.
#[derive(Debug)]
pub struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    /// Creates a new, empty folder (never an existing one).
    pub fn new() -> std::io::Result<ScratchDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("notifspec-html-{}-{nanos:09}", std::process::id()));
        std::fs::create_dir(&path)?;
        Ok(ScratchDir(path))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
