//! Rendering results as text, JSON and JUnit.
//!
//! Every command that judges files reports through the same small model: one [`FileResult`]
//! per input with a [`Verdict`], then a [`Summary`]. Renderers only format that model, so the
//! text, JSON (and later JUnit) outputs can never disagree about what passed.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{self, Write};

use serde::Serialize;

use crate::checker::Violation;
use crate::rule::RuleId;
use crate::transcript::Expectation;

/// Exit statuses shared by every command, so a CI script can rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything checked passed.
    Pass = 0,
    /// A rule was violated (or a run found a failure).
    Fail = 1,
    /// Bad input, bad arguments, or the target could not be reached.
    Error = 2,
}

impl From<Status> for std::process::ExitCode {
    fn from(s: Status) -> std::process::ExitCode {
        std::process::ExitCode::from(s as u8)
    }
}

/// At most this many violations are kept per file; a pathological recording can break a rule
/// millions of times, and the first ones are what a reader needs. The rest are counted.
pub const MAX_KEPT_VIOLATIONS: usize = 1000;

/// The outcome for one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// As expected: conforming, or a negative example breaking exactly its rules.
    Pass,
    /// Not as expected.
    Fail,
    /// The input could not be judged (unreadable, unparsable, bad dialect).
    Error,
    /// Replay only: the peer behaved legally but not as recorded (a failure only when strict).
    Diverged,
    /// Replay only: the transcript's next line of notifspec's own party would break one of
    /// that party's rules (a negative example of it), so the replay stopped before it; what
    /// came before was judged, what follows was not (a failure only when strict).
    Unreplayable,
}

impl Verdict {
    /// The word shown at the start of a text verdict line.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
            Verdict::Diverged => "DIVERGED",
            Verdict::Unreplayable => "UNREPLAYABLE",
        }
    }
}

/// Collects the violations of one input as they are found, in bounded memory.
#[derive(Debug, Default)]
pub struct ViolationLog {
    kept: Vec<Violation>,
    omitted: usize,
    rules: BTreeSet<RuleId>,
}

impl ViolationLog {
    /// Records violations.
    pub fn extend(&mut self, vs: impl IntoIterator<Item = Violation>) {
        for v in vs {
            self.rules.insert(v.rule);
            if self.kept.len() < MAX_KEPT_VIOLATIONS {
                self.kept.push(v);
            } else {
                self.omitted += 1;
            }
        }
    }
}

/// What happened to one input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileResult {
    /// The file as given or found.
    pub file: String,
    /// The outcome.
    pub verdict: Verdict,
    /// The violations found (the first [`MAX_KEPT_VIOLATIONS`]).
    pub violations: Vec<Violation>,
    /// How many more violations were found but not kept.
    #[serde(skip_serializing_if = "is_zero")]
    pub omitted: usize,
    /// For a negative example: the rules it is meant to violate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Vec<RuleId>>,
    /// Expected rules that were not reported.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<RuleId>,
    /// Reported rules that were not expected.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unexpected: Vec<RuleId>,
    /// Why the input could not be judged, in the one-line `file:line:column: message` form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The full error (with the source line and a caret), for people; not in JSON.
    #[serde(skip)]
    pub error_detail: Option<String>,
    /// Replay only: legal differences from the recording, one sentence each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub divergences: Vec<String>,
    /// Replay only: the conversation as it really happened, as transcript lines.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub observed: Vec<String>,
    /// Replay only: why the transcript could not be played past a line (`not replayable past
    /// line N: ...`), for an `UNREPLAYABLE` verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_replayable: Option<String>,
    /// Replay only: where the observed transcript was saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_observed: Option<String>,
    /// Replay only: expected-versus-observed diff with transcript line numbers, for people.
    #[serde(skip)]
    pub diff: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl FileResult {
    /// Judges a file from what it expects and what the checker found: it passes when it
    /// expects to conform and nothing was reported, or when exactly the expected set of rules
    /// was reported.
    pub fn judged(file: String, expect: &Expectation, log: ViolationLog) -> Self {
        let wanted: BTreeSet<RuleId> = match expect {
            Expectation::Pass => BTreeSet::new(),
            Expectation::Violates(rules) => rules.iter().copied().collect(),
        };
        let missing: Vec<RuleId> = wanted.difference(&log.rules).copied().collect();
        let unexpected: Vec<RuleId> = log.rules.difference(&wanted).copied().collect();
        let verdict = if missing.is_empty() && unexpected.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        FileResult {
            file,
            verdict,
            violations: log.kept,
            omitted: log.omitted,
            expected: match expect {
                Expectation::Pass => None,
                Expectation::Violates(r) => Some(r.clone()),
            },
            missing,
            unexpected,
            error: None,
            error_detail: None,
            divergences: Vec::new(),
            observed: Vec::new(),
            not_replayable: None,
            saved_observed: None,
            diff: None,
        }
    }

    /// An input that could not be judged. `summary` is one line; `detail` may show more.
    pub fn error(file: String, summary: String, detail: String) -> Self {
        FileResult {
            file,
            verdict: Verdict::Error,
            violations: Vec::new(),
            omitted: 0,
            expected: None,
            missing: Vec::new(),
            unexpected: Vec::new(),
            error: Some(summary),
            error_detail: Some(detail),
            divergences: Vec::new(),
            observed: Vec::new(),
            not_replayable: None,
            saved_observed: None,
            diff: None,
        }
    }

    /// A replayed input with its verdict; the caller fills in what the replay found.
    pub fn replayed(file: String, verdict: Verdict) -> Self {
        let mut r = FileResult::error(file, String::new(), String::new());
        r.verdict = verdict;
        r.error = None;
        r.error_detail = None;
        r
    }

    /// Text form: the verdict line, each violation as `file:line: RULE-ID: sentence`, and for
    /// a failure which expected rules were missing or unexpected. Errors go to `err`, so
    /// stdout stays a clean list of verdicts.
    /// Control characters from peers and files reach neither stream raw
    /// ([`crate::escape::terminal`]), and the file name is escaped
    /// ([`crate::escape::printable`]): a name with a newline must not forge a report line.
    pub fn write_text(&self, out: &mut impl Write, err: &mut impl Write) -> io::Result<()> {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        self.render_text(&mut o, &mut e)?;
        out.write_all(crate::escape::terminal(&String::from_utf8_lossy(&o)).as_bytes())?;
        err.write_all(crate::escape::terminal(&String::from_utf8_lossy(&e)).as_bytes())
    }

    fn render_text(&self, out: &mut Vec<u8>, err: &mut Vec<u8>) -> io::Result<()> {
        let file = crate::escape::printable(&self.file);
        writeln!(out, "{} {file}", self.verdict.label())?;
        for v in &self.violations {
            match v.line {
                Some(line) => writeln!(out, "{file}:{line}: {}: {}", v.rule, v.message)?,
                None => writeln!(out, "{file}: {}: {}", v.rule, v.message)?,
            }
        }
        if self.omitted > 0 {
            writeln!(out, "{file}: ... and {} more violations", self.omitted)?;
        }
        if self.verdict == Verdict::Fail {
            if !self.missing.is_empty() {
                writeln!(out, "  expected but not reported: {}", join(&self.missing))?;
            }
            if !self.unexpected.is_empty() {
                writeln!(
                    out,
                    "  reported but not expected: {}",
                    join(&self.unexpected)
                )?;
            }
        }
        if let Some(why) = &self.not_replayable {
            writeln!(out, "  {why}")?;
        }
        for d in &self.divergences {
            writeln!(out, "  diverged: {d}")?;
        }
        if let Some(diff) = &self.diff {
            for line in diff.lines() {
                writeln!(out, "  {line}")?;
            }
        }
        if let Some(saved) = &self.saved_observed {
            writeln!(
                out,
                "  observed transcript: {}",
                crate::escape::printable(saved)
            )?;
        }
        if let Some(detail) = self.error_detail.as_ref().or(self.error.as_ref()) {
            writeln!(err, "{detail}")?;
        }
        Ok(())
    }

    /// JSON form: one object on one line.
    pub fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, self).map_err(io::Error::other)?;
        writeln!(out)
    }
}

fn join(rules: &[RuleId]) -> String {
    rules
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Counts of verdicts, and the exit status they imply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Inputs that passed.
    pub passed: usize,
    /// Inputs that failed.
    pub failed: usize,
    /// Inputs that could not be judged.
    pub errors: usize,
    /// Replay only: inputs replayed legally but not as recorded.
    pub diverged: usize,
    /// Replay only: inputs not replayable to their end (a line of notifspec's own party
    /// would break its rules).
    pub unreplayable: usize,
    /// Replay only: count diverged inputs as failures (`--strict`).
    pub strict: bool,
}

impl Summary {
    /// Counts one result.
    pub fn add(&mut self, r: &FileResult) {
        match r.verdict {
            Verdict::Pass => self.passed += 1,
            Verdict::Fail => self.failed += 1,
            Verdict::Error => self.errors += 1,
            Verdict::Diverged => self.diverged += 1,
            Verdict::Unreplayable => self.unreplayable += 1,
        }
    }

    /// 2 if anything could not be judged, else 1 if anything failed, else 0.
    pub fn status(&self) -> Status {
        if self.errors > 0 {
            Status::Error
        } else if self.failed > 0 || (self.strict && self.diverged + self.unreplayable > 0) {
            Status::Fail
        } else {
            Status::Pass
        }
    }
}

impl fmt::Display for Summary {
    /// `N passed, N failed`, plus `, N errors` when there are any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)?;
        if self.diverged > 0 {
            write!(f, ", {} diverged", self.diverged)?;
        }
        if self.unreplayable > 0 {
            write!(f, ", {} not replayable to the end", self.unreplayable)?;
        }
        if self.errors > 0 {
            write!(f, ", {} errors", self.errors)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(rule: RuleId) -> Violation {
        Violation {
            rule,
            line: Some(3),
            message: "m".into(),
        }
    }

    fn log(rules: &[RuleId]) -> ViolationLog {
        let mut l = ViolationLog::default();
        l.extend(rules.iter().map(|r| violation(*r)));
        l
    }

    #[test]
    fn verdict_needs_exactly_the_expected_rules() {
        let w = RuleId::SNotifWindow;
        let a = RuleId::CAck;
        let exp = Expectation::Violates(vec![w]);
        let judge = |e: &Expectation, r: &[RuleId]| FileResult::judged("f".into(), e, log(r));
        assert_eq!(judge(&Expectation::Pass, &[]).verdict, Verdict::Pass);
        assert_eq!(judge(&Expectation::Pass, &[a]).verdict, Verdict::Fail);
        assert_eq!(judge(&exp, &[w, w]).verdict, Verdict::Pass);
        let missing = judge(&exp, &[]);
        assert_eq!((missing.verdict, missing.missing), (Verdict::Fail, vec![w]));
        let extra = judge(&exp, &[w, a]);
        assert_eq!((extra.verdict, extra.unexpected), (Verdict::Fail, vec![a]));
    }

    #[test]
    fn text_and_json_forms() {
        let r = FileResult::judged("t.txt".into(), &Expectation::Pass, log(&[RuleId::CAck]));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        r.write_text(&mut out, &mut err).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("FAIL t.txt\nt.txt:3: C-ACK: m\n"), "{out}");
        assert!(out.contains("reported but not expected: C-ACK"), "{out}");
        let mut json = Vec::new();
        r.write_json(&mut json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["verdict"], "fail");
        assert_eq!(v["violations"][0]["rule"], "C-ACK");
        assert_eq!(v["violations"][0]["line"], 3);
    }

    #[test]
    fn diverged_is_a_failure_only_when_strict() {
        let r = FileResult::replayed("r.txt".into(), Verdict::Diverged);
        let mut s = Summary::default();
        s.add(&r);
        assert_eq!(s.to_string(), "0 passed, 0 failed, 1 diverged");
        assert_eq!(s.status(), Status::Pass);
        s.strict = true;
        assert_eq!(s.status(), Status::Fail);
        let mut json = Vec::new();
        r.write_json(&mut json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["verdict"], "diverged");
        assert!(v.get("error").is_none(), "{v}");
    }

    #[test]
    fn violations_are_bounded_and_summary_counts() {
        let many = vec![RuleId::CAck; MAX_KEPT_VIOLATIONS + 5];
        let r = FileResult::judged("f".into(), &Expectation::Pass, log(&many));
        assert_eq!((r.violations.len(), r.omitted), (MAX_KEPT_VIOLATIONS, 5));
        let mut s = Summary::default();
        s.add(&r);
        assert_eq!(s.to_string(), "0 passed, 1 failed");
        assert_eq!(s.status(), Status::Fail);
        s.add(&FileResult::error(
            "g".into(),
            "g: bad".into(),
            "g: bad".into(),
        ));
        assert_eq!(s.to_string(), "0 passed, 1 failed, 1 errors");
        assert_eq!(s.status(), Status::Error);
    }
}
