//! The results of a run: one outcome per scenario, and the per-rule view built from them.
//!
//! The per-rule table is the product: a user wants "S-NOTIF-WINDOW: 3 passed, 1 failed"
//! and the conversation of the first failure, more than a list of scenario names.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::failure::Failure;
use crate::report::Status;
use crate::rule::RuleId;

/// What happened to one scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// Every step passed and the checkers found nothing.
    Passed,
    /// A rule was broken.
    Failed {
        /// The step that failed (keyword and sentence, with its feature line).
        step: String,
        /// The broken rule and the diff.
        failure: Failure,
        /// The last lines of the conversation.
        conversation: Vec<String>,
    },
    /// The implementation could not be reached or driven, or a feature is broken.
    Errored {
        /// The step.
        step: String,
        /// What went wrong.
        message: String,
        /// The last lines of the conversation.
        conversation: Vec<String>,
    },
    /// The scenario does not apply to this run.
    Skipped {
        /// Why.
        reason: String,
    },
    /// It failed, and the user listed its rule with `--expect-fail`.
    ExpectedFailure {
        /// The step that failed.
        step: String,
        /// The broken rule.
        failure: Failure,
        /// Why the user expects it (from the YAML file), if given.
        reason: Option<String>,
    },
    /// It passed although the user listed its rule with `--expect-fail`: time to remove it.
    UnexpectedPass {
        /// The rules listed as expected to fail.
        rules: Vec<RuleId>,
    },
}

impl Outcome {
    /// Whether the scenario ran (it was not skipped).
    pub fn ran(&self) -> bool {
        !matches!(self, Outcome::Skipped { .. })
    }

    /// Whether the outcome makes the run fail.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed { .. } | Outcome::Errored { .. })
    }
}

/// One scenario's result.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// The feature's name.
    pub feature: String,
    /// The feature file.
    pub file: String,
    /// The scenario's name.
    pub name: String,
    /// Its line in the file.
    pub line: usize,
    /// The rules it is tagged with.
    pub rules: Vec<RuleId>,
    /// Whether it judges files rather than the implementation (`@offline`): it is reported,
    /// but does not count as exercising a rule on the target.
    pub offline: bool,
    /// What happened.
    pub outcome: Outcome,
    /// How long it took.
    #[serde(serialize_with = "as_millis")]
    pub duration: Duration,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis().try_into().unwrap_or(u64::MAX))
}

impl ScenarioReport {
    /// The rules a failure counts against: the one the step or checker named, else the tags.
    pub fn failed_rules(&self) -> Vec<RuleId> {
        match &self.outcome {
            Outcome::Failed { failure, .. } | Outcome::ExpectedFailure { failure, .. } => {
                match failure.rule {
                    Some(r) => vec![r],
                    None => self.rules.clone(),
                }
            }
            Outcome::Errored { .. } => self.rules.clone(),
            _ => Vec::new(),
        }
    }
}

/// One row of the per-rule table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleRow {
    /// Scenarios for this rule that passed.
    pub passed: usize,
    /// Scenarios that failed (a broken rule) or errored.
    pub failed: usize,
    /// Scenarios that failed as the user expected.
    pub expected_failures: usize,
    /// Scenarios skipped.
    pub skipped: usize,
    /// The first failure: scenario, message and conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<String>,
    /// Why the rule was not exercised, when no scenario for it ran.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_exercised_because: Vec<String>,
}

impl RuleRow {
    /// Whether at least one scenario for the rule ran.
    pub fn exercised(&self) -> bool {
        self.passed + self.failed + self.expected_failures > 0
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// What was tested, in words (`the reference server`, `server 127.0.0.1:7000`).
    pub target: String,
    /// The dialect.
    pub dialect: String,
    /// Every selected scenario, in suite order.
    pub scenarios: Vec<ScenarioReport>,
}

/// Totals for the summary line. Scenarios that talked to the target and offline checks of
/// the shipped transcripts (`@offline`) are counted apart: the latter say nothing about the
/// target, and must not make a run look more thorough than it was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Passed (scenarios that talked to the target).
    pub passed: usize,
    /// Failed or errored (scenarios that talked to the target).
    pub failed: usize,
    /// Skipped.
    pub skipped: usize,
    /// Failed as expected.
    pub expected_failures: usize,
    /// Passed though expected to fail.
    pub unexpected_passes: usize,
    /// Failed in a setup step (included in `failed`).
    pub setup_failures: usize,
    /// Offline checks of shipped transcripts that passed.
    pub offline_passed: usize,
    /// Offline checks of shipped transcripts that failed (a checker bug, or a broken file).
    pub offline_failed: usize,
}

impl RunReport {
    /// The summary counts.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for s in &self.scenarios {
            if s.offline {
                match s.outcome {
                    Outcome::Failed { .. } | Outcome::Errored { .. } => t.offline_failed += 1,
                    Outcome::Skipped { .. } => t.skipped += 1,
                    _ => t.offline_passed += 1,
                }
                continue;
            }
            if setup_blocked(s).is_some() {
                t.setup_failures += 1;
            }
            match s.outcome {
                Outcome::Passed => t.passed += 1,
                Outcome::Failed { .. } | Outcome::Errored { .. } => t.failed += 1,
                Outcome::Skipped { .. } => t.skipped += 1,
                Outcome::ExpectedFailure { .. } => t.expected_failures += 1,
                Outcome::UnexpectedPass { .. } => {
                    t.passed += 1;
                    t.unexpected_passes += 1
                }
            }
        }
        t
    }

    /// The exit status: pass only when every scenario that ran passed (expected failures
    /// excluded); a broken rule is a failure; otherwise trouble reaching or driving the
    /// implementation (every problem was an `<error>`) is an error, as when it cannot be
    /// reached at all.
    pub fn status(&self) -> Status {
        let failed = |o: &Outcome| matches!(o, Outcome::Failed { .. });
        let errored = |o: &Outcome| matches!(o, Outcome::Errored { .. });
        if self.scenarios.iter().any(|s| failed(&s.outcome)) {
            Status::Fail
        } else if self.scenarios.iter().any(|s| errored(&s.outcome)) {
            Status::Error
        } else {
            Status::Pass
        }
    }

    /// The per-rule table, one row per rule of the catalog, counting the scenarios that drove
    /// the implementation under test (offline checks of transcript files are left out).
    pub fn per_rule(&self) -> BTreeMap<RuleId, RuleRow> {
        let mut rows: BTreeMap<RuleId, RuleRow> = RuleId::ALL
            .iter()
            .map(|r| (*r, RuleRow::default()))
            .collect();
        for s in self.scenarios.iter().filter(|s| !s.offline) {
            let failed = s.failed_rules();
            let mut touched: Vec<RuleId> = s.rules.clone();
            touched.extend(failed.iter().copied().filter(|r| !s.rules.contains(r)));
            for rule in touched {
                let row = rows.entry(rule).or_default();
                match &s.outcome {
                    Outcome::Passed | Outcome::UnexpectedPass { .. } => row.passed += 1,
                    Outcome::Skipped { reason } => {
                        row.skipped += 1;
                        if !row.not_exercised_because.contains(reason) {
                            row.not_exercised_because.push(reason.clone());
                        }
                    }
                    Outcome::ExpectedFailure { .. } => row.expected_failures += 1,
                    Outcome::Failed { .. } | Outcome::Errored { .. } => {
                        if failed.contains(&rule) {
                            row.failed += 1;
                            if row.first_failure.is_none() {
                                row.first_failure = Some(describe_failure(s));
                            }
                        } else {
                            // The scenario failed on another rule; this one was not judged.
                            row.skipped += 1;
                            if let Some(why) = setup_blocked(s)
                                && !row.not_exercised_because.contains(&why)
                            {
                                row.not_exercised_because.push(why);
                            }
                        }
                    }
                }
            }
        }
        for row in rows.values_mut() {
            if row.exercised() {
                row.not_exercised_because.clear();
            } else if row.not_exercised_because.is_empty() && row.skipped == 0 {
                row.not_exercised_because
                    .push("no selected scenario checks it".into());
            }
        }
        rows
    }
}

/// Why a scenario's rules went unjudged when a setup step failed: the step and the rule it
/// broke (`None` when the scenario did not fail in its setup).
pub fn setup_blocked(s: &ScenarioReport) -> Option<String> {
    match &s.outcome {
        Outcome::Failed { step, failure, .. } if failure.setup => {
            let rule = failure.rule.map_or("-", RuleId::as_str);
            Some(format!("setup step `{step}` failed on {rule}"))
        }
        _ => None,
    }
}

/// A failed scenario in a few lines: where, what, and the conversation.
pub fn describe_failure(s: &ScenarioReport) -> String {
    let mut out = format!("{} ({}:{})", s.name, s.file, s.line);
    if let Outcome::Failed { failure, .. } = &s.outcome
        && failure.setup
    {
        let blocks: Vec<&str> = failure.blocks.iter().map(|r| r.as_str()).collect();
        out.push_str(" -- setup failure");
        if !blocks.is_empty() {
            out.push_str(&format!(", so {} went unjudged", blocks.join(", ")));
        }
    }
    let (step, message, conversation, diff) = match &s.outcome {
        Outcome::Failed {
            step,
            failure,
            conversation,
        } => (
            step,
            &failure.message,
            conversation.as_slice(),
            diff_of(failure),
        ),
        Outcome::Errored {
            step,
            message,
            conversation,
        } => (step, message, conversation.as_slice(), None),
        _ => return out,
    };
    out.push_str(&format!("\n    step: {step}\n    {message}"));
    if let Some(diff) = diff {
        for l in diff.lines() {
            out.push_str(&format!("\n    {l}"));
        }
    }
    if !conversation.is_empty() {
        out.push_str("\n    conversation:");
        for l in conversation {
            out.push_str(&format!("\n      {l}"));
        }
    }
    out
}

/// `- expected` / `+ got` lines, when the failure has them.
pub fn diff_of(f: &Failure) -> Option<String> {
    match (&f.expected, &f.got) {
        (Some(e), Some(g)) => Some(format!("- expected: {e}\n+ got:      {g}")),
        _ => None,
    }
}
