//! Text and JSON renderings of a run: the per-rule table, failures with their conversations,
//! coverage, and the summary line that CI logs end with.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::outcome::{Outcome, RuleRow, RunReport, describe_failure};
use crate::rule::RuleId;

/// The human report. The summary line is always last: `N passed, N failed, N skipped`,
/// counting the scenarios that talked to the target; offline checks of the shipped
/// transcripts are counted on the line before.
pub fn text(r: &RunReport) -> String {
    let mut out = String::new();
    let rows = r.per_rule();
    rule_table(&mut out, r, &rows);
    failures(&mut out, r);
    expected_failures(&mut out, r);
    now_passing(&mut out, r);
    skipped(&mut out, r);
    coverage(&mut out, &rows);
    summary(&mut out, r);
    out
}

/// The heading and one row per rule: passed, failed, skipped, and its first failure.
fn rule_table(out: &mut String, r: &RunReport, rows: &BTreeMap<RuleId, RuleRow>) {
    let _ = writeln!(
        out,
        "notifspec conform: {} (dialect {})",
        r.target, r.dialect
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<22} {:>6} {:>6} {:>6}  first failure",
        "RULE", "passed", "failed", "skip"
    );
    for (rule, row) in rows {
        let first = row
            .first_failure
            .as_deref()
            .and_then(|f| f.lines().next())
            .unwrap_or(if row.expected_failures > 0 {
                "(expected failure)"
            } else {
                ""
            });
        let _ = writeln!(
            out,
            "{:<22} {:>6} {:>6} {:>6}  {first}",
            rule.as_str(),
            row.passed,
            row.failed + row.expected_failures,
            row.skipped
        );
    }
}

/// Each failed or errored scenario, with its rules and what went wrong.
fn failures(out: &mut String, r: &RunReport) {
    let failed: Vec<_> = r
        .scenarios
        .iter()
        .filter(|s| s.outcome.is_failure())
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "\nFailures:");
        for s in failed {
            let rules = s
                .failed_rules()
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let kind = match &s.outcome {
                Outcome::Errored { .. } => "ERROR",
                Outcome::Failed { failure, .. } if failure.setup => "FAIL (setup)",
                _ if s.offline => "FAIL (offline)",
                _ => "FAIL",
            };
            let _ = writeln!(out, "  {kind} [{rules}] {}", describe_failure(s));
        }
    }
}

/// The failures `--expect-fail` listed, with the reasons given.
fn expected_failures(out: &mut String, r: &RunReport) {
    let expected: Vec<_> = r
        .scenarios
        .iter()
        .filter_map(|s| match &s.outcome {
            Outcome::ExpectedFailure {
                failure, reason, ..
            } => Some((s, failure, reason)),
            _ => None,
        })
        .collect();
    if !expected.is_empty() {
        let _ = writeln!(out, "\nExpected failures (--expect-fail):");
        for (s, f, reason) in expected {
            let rule = f.rule.map(RuleId::as_str).unwrap_or("-");
            let why = reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            let _ = writeln!(out, "  [{rule}] {}{why}: {}", s.name, f.message);
        }
    }
}

/// The scenarios `--expect-fail` lists that now pass, loudly, so the list is kept short.
fn now_passing(out: &mut String, r: &RunReport) {
    for s in &r.scenarios {
        if let Outcome::UnexpectedPass { rules } = &s.outcome {
            let ids = rules
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                out,
                "\n!!! NOW PASSING: `{}` passes although --expect-fail lists {ids}; remove them from the list.",
                s.name
            );
        }
    }
}

/// Skipped scenarios grouped by reason.
fn skipped(out: &mut String, r: &RunReport) {
    let mut skipped: Vec<(&str, Vec<String>)> = Vec::new();
    for s in &r.scenarios {
        if let Outcome::Skipped { reason } = &s.outcome {
            let entry = format!("{} ({}:{})", s.name, s.file, s.line);
            match skipped.iter_mut().find(|(r, _)| r == reason) {
                Some((_, names)) => names.push(entry),
                None => skipped.push((reason, vec![entry])),
            }
        }
    }
    if !skipped.is_empty() {
        let _ = writeln!(out, "\nSkipped:");
        for (reason, names) in skipped {
            let _ = writeln!(out, "  {reason} ({}):", names.len());
            for n in names {
                let _ = writeln!(out, "    {n}");
            }
        }
    }
}

/// How many rules the run exercised, and why the others were not.
fn coverage(out: &mut String, rows: &BTreeMap<RuleId, RuleRow>) {
    let exercised = rows.values().filter(|r| r.exercised()).count();
    let _ = writeln!(
        out,
        "\nCoverage: {exercised} of {} rules exercised by scenarios that talked to the target.",
        rows.len()
    );
    for (rule, row) in rows.iter().filter(|(_, r)| !r.exercised()) {
        let _ = writeln!(
            out,
            "  not exercised: {} ({})",
            rule.as_str(),
            row.not_exercised_because.join("; ")
        );
    }
}

/// The offline-check line, then the summary line CI logs end with.
fn summary(out: &mut String, r: &RunReport) {
    let t = r.totals();
    if t.offline_passed + t.offline_failed > 0 {
        let _ = writeln!(
            out,
            "Offline checks of the shipped transcripts (they judge files, not the target): \
             {} passed, {} failed.",
            t.offline_passed, t.offline_failed
        );
    }
    let _ = writeln!(out);
    let setup = if t.setup_failures > 0 {
        format!(" ({} in setup)", t.setup_failures)
    } else {
        String::new()
    };
    let mut summary = format!(
        "{} passed, {} failed{setup}, {} skipped",
        t.passed, t.failed, t.skipped
    );
    if t.offline_failed > 0 {
        let _ = write!(summary, ", {} offline checks failed", t.offline_failed);
    }
    if t.expected_failures > 0 {
        let _ = write!(summary, ", {} expected failures", t.expected_failures);
    }
    if t.unexpected_passes > 0 {
        let _ = write!(summary, ", {} NOW PASSING", t.unexpected_passes);
    }
    let _ = writeln!(out, "{summary}");
}

/// The machine report: target, totals, the per-rule table and every scenario.
pub fn json(r: &RunReport) -> String {
    let rules: serde_json::Map<String, serde_json::Value> = r
        .per_rule()
        .into_iter()
        .map(|(rule, row)| {
            let mut v = serde_json::to_value(&row).unwrap_or_default();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("exercised".into(), row.exercised().into());
            }
            (rule.as_str().to_string(), v)
        })
        .collect();
    let doc = serde_json::json!({
        "target": r.target,
        "dialect": r.dialect,
        "totals": r.totals(),
        "rules": rules,
        "scenarios": r.scenarios,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
