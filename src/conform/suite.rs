//! The suite: the features and transcripts compiled into notifspec, parsed into scenarios.
//!
//! Scenario outlines are expanded here. An Examples cell holding a glob such as
//! `transcripts/violations/*.txt` expands to one example per embedded transcript, so adding a
//! transcript file adds a scenario (and a JUnit test case) without editing any feature; a
//! negative transcript's expected rules become tags of its scenario.

use std::collections::BTreeSet;

use cucumber::gherkin::{self, GherkinEnv};

use super::steps::{self, Step};
use crate::dialect::Dialect;
use crate::rule::RuleId;
use crate::transcript::{self, Expectation, Transcript};

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// A tag that marks scenarios needing the control port.
pub const TAG_CONTROL: &str = "control";
/// A tag that marks client-conformance scenarios.
pub const TAG_CLIENT: &str = "client";
/// A tag for scenarios that need no implementation (they judge the checker on files).
pub const TAG_OFFLINE: &str = "offline";
/// A tag for scenarios that only apply when the dialect requires answers to notifications.
pub const TAG_ANSWERS: &str = "answers-required";
/// A tag for scenarios that only apply when the dialect replies to bad commands.
pub const TAG_ERRORS: &str = "errors-reply";

/// A feature or transcript that cannot be used, naming the place.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// Gherkin syntax.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// The feature file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// A tag that looks like a rule ID but is none.
    #[error("{file}:{line}: {source}")]
    UnknownRule {
        /// The feature file.
        file: String,
        /// The scenario's line.
        line: usize,
        /// The unknown ID and a suggestion.
        source: crate::rule::UnknownRule,
    },
    /// An embedded transcript does not parse.
    #[error("{0}")]
    Transcript(#[from] transcript::ParseError),
}

/// One step of a scenario as written, and what it parsed to.
#[derive(Debug, Clone)]
pub struct StepSpec {
    /// `Given`, `When`, `Then`, `And`…
    pub keyword: String,
    /// The sentence.
    pub text: String,
    /// 1-based line in the feature file.
    pub line: usize,
    /// The step, or why no step matches the sentence.
    pub parsed: Result<Step, steps::StepParseError>,
}

impl StepSpec {
    /// `Given client A is connected` (keyword and sentence).
    pub fn sentence(&self) -> String {
        format!("{} {}", self.keyword.trim(), self.text)
    }
}

/// One runnable scenario (an outline contributes one per example row).
#[derive(Debug, Clone)]
pub struct FeatureScenario {
    /// The feature's name (JUnit classname).
    pub feature: String,
    /// The feature file, as embedded (`features/requests.feature`).
    pub file: String,
    /// The scenario's name (examples substituted).
    pub name: String,
    /// 1-based line of the scenario (or of its example row).
    pub line: usize,
    /// All tags (feature, scenario, examples), without `@`.
    pub tags: Vec<String>,
    /// The rule IDs among the tags.
    pub rules: Vec<RuleId>,
    /// Background steps, then the scenario's.
    pub steps: Vec<StepSpec>,
}

impl FeatureScenario {
    /// Whether the scenario carries `tag` (without `@`).
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

/// An embedded transcript.
#[derive(Debug, Clone)]
pub struct TranscriptFile {
    /// Path as embedded (`transcripts/seed-example.txt`).
    pub path: String,
    /// The parsed transcript.
    pub transcript: Transcript,
}

/// All scenarios and transcripts of a run.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Scenarios in file order.
    pub scenarios: Vec<FeatureScenario>,
    /// Transcripts by path.
    pub transcripts: Vec<TranscriptFile>,
    /// Other files under `transcripts/` (dialect files transcripts name), by path.
    pub dialect_files: Vec<(String, String)>,
}

impl Suite {
    /// The suite compiled into notifspec.
    pub fn embedded() -> Result<Suite, SuiteError> {
        Suite::from_sources(FEATURES, TRANSCRIPT_FILES)
    }

    /// A suite from `(path, text)` pairs: feature files, then files under `transcripts/`
    /// (those ending in `.txt` are transcripts; others, such as dialect files, are skipped).
    pub fn from_sources(
        features: &[(&str, &str)],
        transcript_files: &[(&str, &str)],
    ) -> Result<Suite, SuiteError> {
        let mut transcripts = Vec::new();
        for (path, text) in transcript_files.iter().filter(|(p, _)| p.ends_with(".txt")) {
            transcripts.push(TranscriptFile {
                path: path.to_string(),
                transcript: transcript::parse(text, path)?,
            });
        }
        let mut scenarios = Vec::new();
        for (file, text) in features {
            scenarios.extend(parse_feature(file, text, &transcripts)?);
        }
        let dialect_files = transcript_files
            .iter()
            .filter(|(p, _)| p.ends_with(".yaml") || p.ends_with(".yml"))
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        Ok(Suite {
            scenarios,
            transcripts,
            dialect_files,
        })
    }

    /// The embedded transcript at `path`.
    pub fn transcript(&self, path: &str) -> Option<&TranscriptFile> {
        self.transcripts.iter().find(|t| t.path == path)
    }

    /// The dialect a transcript names in its front matter: a built-in name, or a path
    /// relative to the transcript resolved among the embedded files.
    pub fn dialect_of(&self, t: &TranscriptFile) -> Result<Dialect, String> {
        let Some(name) = &t.transcript.front.dialect else {
            return Ok(Dialect::default());
        };
        if let Some(d) = Dialect::builtin(name) {
            return Ok(d);
        }
        let dir = t.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
        for part in name.split('/') {
            match part {
                "." | "" => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        let wanted = parts.join("/");
        let (path, text) = self
            .dialect_files
            .iter()
            // A user's folder may be absolute or start with `./` (`conform --transcripts`).
            .find(|(p, _)| p.trim_start_matches("./").trim_start_matches('/') == wanted)
            .ok_or_else(|| {
                format!(
                    "{}: dialect `{name}` is neither built in nor embedded",
                    t.path
                )
            })?;
        Dialect::from_yaml_str(text, path).map_err(|e| e.to_string())
    }

    /// The rules at least one scenario is tagged with.
    pub fn rules_covered(&self) -> BTreeSet<RuleId> {
        self.scenarios
            .iter()
            .flat_map(|s| s.rules.iter().copied())
            .collect()
    }
}

fn parse_feature(
    file: &str,
    text: &str,
    transcripts: &[TranscriptFile],
) -> Result<Vec<FeatureScenario>, SuiteError> {
    let feature = gherkin::Feature::parse(text, GherkinEnv::default()).map_err(|e| {
        let (line, column) = position_of(&e);
        SuiteError::Syntax {
            file: file.to_string(),
            line,
            column,
            message: e.to_string(),
        }
    })?;
    let background: Vec<StepSpec> = feature
        .background
        .iter()
        .flat_map(|b| b.steps.iter().map(|s| spec(s, &[])))
        .collect();
    let mut out = Vec::new();
    let all = feature
        .scenarios
        .iter()
        .chain(feature.rules.iter().flat_map(|r| r.scenarios.iter()));
    for sc in all {
        let base_tags: Vec<String> = feature.tags.iter().chain(&sc.tags).cloned().collect();
        let mut push =
            |name: String, line: usize, tags: Vec<String>, subst: &[(String, String)]| {
                let rules = rules_of(&tags).map_err(|source| SuiteError::UnknownRule {
                    file: file.to_string(),
                    line,
                    source,
                })?;
                let mut steps = background.clone();
                steps.extend(sc.steps.iter().map(|s| spec(s, subst)));
                out.push(FeatureScenario {
                    feature: feature.name.clone(),
                    file: file.to_string(),
                    name,
                    line,
                    tags,
                    rules,
                    steps,
                });
                Ok::<_, SuiteError>(())
            };
        if sc.examples.is_empty() {
            push(sc.name.clone(), sc.position.line, base_tags.clone(), &[])?;
            continue;
        }
        for ex in &sc.examples {
            let Some(table) = &ex.table else { continue };
            let Some((header, rows)) = table.rows.split_first() else {
                continue;
            };
            for (i, row) in rows.iter().enumerate() {
                let line = table.position.line + 1 + i;
                for values in expand_row(header, row, transcripts) {
                    let subst: Vec<(String, String)> = header
                        .iter()
                        .cloned()
                        .zip(values.iter().map(|(v, _)| v.clone()))
                        .collect();
                    let mut tags: Vec<String> = base_tags.iter().chain(&ex.tags).cloned().collect();
                    for (_, extra) in &values {
                        tags.extend(extra.iter().cloned());
                    }
                    tags.dedup();
                    push(substitute(&sc.name, &subst), line, tags, &subst)?;
                }
            }
        }
    }
    Ok(out)
}

/// Expands glob cells against the embedded transcripts. Each value comes with the extra tags
/// it brings (a negative transcript's expected rules). Under a column named `conforming`
/// only transcripts expected to pass are taken, under `negative` only negative ones.
fn expand_row(
    header: &[String],
    row: &[String],
    transcripts: &[TranscriptFile],
) -> Vec<Vec<(String, Vec<String>)>> {
    let mut rows: Vec<Vec<(String, Vec<String>)>> = vec![Vec::new()];
    for (column, cell) in header.iter().zip(row) {
        let values: Vec<(String, Vec<String>)> = if cell.contains('*') {
            transcripts
                .iter()
                .filter(|t| glob(cell, &t.path))
                .filter_map(|t| match (&t.transcript.front.expect, column.as_str()) {
                    (Expectation::Pass, "negative") | (Expectation::Violates(_), "conforming") => {
                        None
                    }
                    (Expectation::Pass, _) => Some((t.path.clone(), Vec::new())),
                    (Expectation::Violates(rules), _) => Some((
                        t.path.clone(),
                        rules.iter().map(|r| r.as_str().to_string()).collect(),
                    )),
                })
                .collect()
        } else {
            vec![(cell.clone(), Vec::new())]
        };
        rows = rows
            .into_iter()
            .flat_map(|r| {
                values.iter().map(move |v| {
                    let mut r = r.clone();
                    r.push(v.clone());
                    r
                })
            })
            .collect();
    }
    rows
}

/// A small glob: `**` matches anything (across directories), `*` anything but `/`.
fn glob(pattern: &str, path: &str) -> bool {
    if let Some(rest) = pattern.strip_prefix("**") {
        return (0..=path.len())
            .filter(|i| path.is_char_boundary(*i))
            .any(|i| glob(rest, &path[i..]));
    }
    if let Some(rest) = pattern.strip_prefix('*') {
        return (0..=path.len())
            .filter(|i| path.is_char_boundary(*i))
            .take_while(|i| !path[..*i].contains('/'))
            .any(|i| glob(rest, &path[i..]));
    }
    match (pattern.chars().next(), path.chars().next()) {
        (None, None) => true,
        (Some(p), Some(c)) if p == c => glob(&pattern[p.len_utf8()..], &path[c.len_utf8()..]),
        _ => false,
    }
}

fn substitute(text: &str, subst: &[(String, String)]) -> String {
    subst.iter().fold(text.to_string(), |acc, (k, v)| {
        acc.replace(&format!("<{k}>"), v)
    })
}

fn spec(step: &gherkin::Step, subst: &[(String, String)]) -> StepSpec {
    let text = substitute(&step.value, subst);
    StepSpec {
        keyword: step.keyword.clone(),
        parsed: steps::parse(&text),
        text,
        line: step.position.line,
    }
}

/// Tags shaped like rule IDs (`S-…`, `C-…`) must be rule IDs: a typo would silently leave a
/// rule uncovered.
fn rules_of(tags: &[String]) -> Result<Vec<RuleId>, crate::rule::UnknownRule> {
    let mut rules = Vec::new();
    for t in tags {
        if t.starts_with("S-") || t.starts_with("C-") {
            let r: RuleId = t.parse()?;
            if !rules.contains(&r) {
                rules.push(r);
            }
        }
    }
    Ok(rules)
}

fn position_of(e: &gherkin::ParseError) -> (usize, usize) {
    // The parser's error only prints its position: "Error at L:C: ...".
    let s = e.to_string();
    let nums: Vec<usize> = s
        .trim_start_matches("Error at ")
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .filter_map(|n| n.parse().ok())
        .collect();
    (
        nums.first().copied().unwrap_or(0),
        nums.get(1).copied().unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEG: &str = "---\nexpect: [S-NOTIF-WINDOW]\n---\nC: random?\nS: 1\n";

    #[test]
    fn outlines_expand_transcript_globs_with_their_rules() {
        let feature = "Feature: F\n  Scenario Outline: checks <negative>\n    Then the checker flags \"<negative>\" with exactly its expected rules\n\n    Examples:\n      | negative |\n      | transcripts/**.txt |\n";
        let suite = Suite::from_sources(
            &[("features/f.feature", feature)],
            &[
                ("transcripts/violations/a.txt", NEG),
                ("transcripts/ok.txt", "C: random?\nS: {int}\n"),
                ("transcripts/dialect.yaml", "name: x"),
            ],
        )
        .unwrap();
        assert_eq!(suite.scenarios.len(), 1);
        let s = &suite.scenarios[0];
        assert_eq!(s.name, "checks transcripts/violations/a.txt");
        assert_eq!(s.rules, vec![RuleId::SNotifWindow]);
        assert_eq!(
            s.steps[0].parsed,
            Ok(Step::Flagged("transcripts/violations/a.txt".into()))
        );
        assert_eq!(suite.transcripts.len(), 2);
    }

    #[test]
    fn misspelled_rule_tag_and_syntax_errors_name_the_place() {
        let bad = "Feature: F\n  @S-NOTIF-WINDOWS\n  Scenario: s\n    Given a server\n";
        let e = Suite::from_sources(&[("features/f.feature", bad)], &[]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("features/f.feature:3"), "{msg}");
        assert!(msg.contains("did you mean `S-NOTIF-WINDOW`"), "{msg}");
        let e = Suite::from_sources(&[("features/g.feature", "Scenario without feature\n")], &[])
            .unwrap_err();
        assert!(e.to_string().starts_with("features/g.feature:1:"), "{e}");
    }

    #[test]
    fn glob_matches_one_directory_level() {
        assert!(glob("transcripts/*.txt", "transcripts/a.txt"));
        assert!(!glob("transcripts/*.txt", "transcripts/violations/a.txt"));
        assert!(glob(
            "transcripts/violations/*.txt",
            "transcripts/violations/a.txt"
        ));
    }
}

#[cfg(test)]
mod embedded_tests {
    use super::*;

    #[test]
    fn every_embedded_step_matches_a_sentence() {
        let suite = Suite::embedded().unwrap();
        assert!(suite.scenarios.len() > 30, "{}", suite.scenarios.len());
        for s in &suite.scenarios {
            for st in &s.steps {
                assert!(st.parsed.is_ok(), "{}:{}: {:?}", s.file, st.line, st.parsed);
            }
        }
    }

    #[test]
    fn every_rule_has_a_scenario() {
        let covered = Suite::embedded().unwrap().rules_covered();
        let missing: Vec<&str> = RuleId::ALL
            .iter()
            .filter(|r| !covered.contains(r))
            .map(|r| r.as_str())
            .collect();
        assert!(
            missing.is_empty(),
            "rules no feature scenario is tagged with: {missing:?}"
        );
    }

    #[test]
    fn every_feature_scenario_names_its_rules() {
        for s in &Suite::embedded().unwrap().scenarios {
            let replays = s
                .steps
                .iter()
                .any(|st| matches!(st.parsed, Ok(Step::Replay(_))));
            assert!(
                replays || !s.rules.is_empty(),
                "{}:{} `{}` has no rule tag",
                s.file,
                s.line,
                s.name
            );
        }
    }
}
