//! Runs the selected scenarios against the target and turns what happened into outcomes.
//!
//! Cucumber has no step timeout of its own, so the runner bounds every step (on top of the
//! bounded waits inside it): a hung implementation becomes a failure naming the step and the
//! deadline, never a hung CI job.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use cucumber::gherkin::tagexpr::TagOperation;
use cucumber::tag::Ext as _;
use futures::StreamExt;
use tokio::time::Instant;

use super::expect::ExpectFail;
use super::failure::{Failure, StepError};
use super::items::ItemSource;
use super::outcome::{Outcome, RunReport, ScenarioReport};
use super::peer::fmt_dur;
use super::steps::Step;
use super::suite::{FeatureScenario, Suite, TAG_ANSWERS, TAG_CLIENT, TAG_ERRORS, TAG_OFFLINE};
use super::target::{ConformTarget, TargetError, TargetSession, preflight};
use super::world::World;
use crate::dialect::{Dialect, ErrorPolicy};
use crate::rule::RuleId;

/// A tag for scenarios that only apply when the dialect ignores bad commands (the twin of
/// `@errors-reply`, for the few scenarios whose shape differs between the two policies).
pub const TAG_ERRORS_IGNORE: &str = "errors-ignore";

pub use super::world::DEFAULT_QUIET_CAP;

/// How many scenarios run side by side when each has its own server.
const PARALLEL: usize = 8;

/// Everything a run needs besides the suite.
#[derive(Debug, Clone)]
pub struct Options {
    /// What is tested.
    pub target: ConformTarget,
    /// The dialect spoken.
    pub dialect: Dialect,
    /// Which scenarios to run (`None`: all).
    pub tags: Option<TagOperation>,
    /// The default bound of every wait.
    pub timeout: Duration,
    /// Rules known to fail.
    pub expect_fail: ExpectFail,
    /// Show progress on stderr (only when it is a terminal).
    pub progress: bool,
    /// Longest `! quiet` period of a replayed transcript. Transcripts are written for people
    /// (`! quiet 2s`); against a server that cannot wait so long, a few hundred milliseconds
    /// catch the same stray line, and the gate stays fast. `Duration::MAX` keeps them as
    /// written.
    pub quiet_cap: Duration,
    /// How scenarios make items appear: the control port, a publish command, or the
    /// server's own publishing (spontaneous mode).
    pub items: ItemSource,
    /// What the embedded reference server chooses where the seed leaves the behaviour open
    /// (only used with [`ConformTarget::Reference`]).
    pub choices: crate::choices::Choices,
}

impl Options {
    /// Defaults: the reference target in the default dialect, all scenarios, 2 s waits.
    pub fn new(target: ConformTarget) -> Options {
        Options {
            target,
            dialect: Dialect::default(),
            tags: None,
            timeout: Duration::from_secs(2),
            expect_fail: ExpectFail::none(),
            progress: false,
            quiet_cap: DEFAULT_QUIET_CAP,
            items: ItemSource::default(),
            choices: crate::choices::Choices::default(),
        }
    }
}

/// Why a scenario cannot apply to this run, if it cannot.
fn skip_reason(s: &FeatureScenario, o: &Options) -> Option<String> {
    let client = s.has_tag(TAG_CLIENT);
    if client && !o.target.has_client() {
        return Some("client scenario; the target is a server".into());
    }
    if !client && !s.has_tag(TAG_OFFLINE) && !o.target.has_server() {
        return Some("server scenario; the target is a client".into());
    }
    let written_for = s.steps.iter().find_map(|st| match &st.parsed {
        Ok(Step::Dialect(name)) if *name != o.dialect.name => Some(name),
        _ => None,
    });
    if let Some(name) = written_for {
        return Some(format!(
            "written for dialect `{name}`; the run is in `{}`",
            o.dialect.name
        ));
    }
    if let Some(reason) = o.items.skip_reason(&o.target, s) {
        return Some(reason);
    }
    if s.has_tag(TAG_ANSWERS) && !o.dialect.answers_required() {
        return Some(format!(
            "dialect `{}` does not require answers to notifications",
            o.dialect.name
        ));
    }
    if s.has_tag(TAG_ERRORS) && o.dialect.errors.policy == ErrorPolicy::Ignore {
        return Some(format!(
            "dialect `{}` ignores bad commands instead of replying",
            o.dialect.name
        ));
    }
    if s.has_tag(TAG_ERRORS_IGNORE) && o.dialect.errors.policy == ErrorPolicy::Error {
        return Some(format!(
            "dialect `{}` replies to bad commands instead of ignoring them",
            o.dialect.name
        ));
    }
    None
}

/// The longest a step may take: its own waits plus a margin of a few default timeouts.
fn step_bound(step: &Step, timeout: Duration) -> Duration {
    let own = match step {
        Step::Receive(_, _, Some(d))
        | Step::Nothing(_, d)
        | Step::ClientAnswers(d)
        | Step::PlayAlong(d) => *d,
        _ => Duration::ZERO,
    };
    own + timeout * 4 + Duration::from_secs(1)
}

/// Runs one scenario to its outcome (before expected failures are applied).
pub async fn run_scenario(s: &FeatureScenario, o: &Options, suite: Arc<Suite>) -> Outcome {
    if let Some(reason) = skip_reason(s, o) {
        return Outcome::Skipped { reason };
    }
    let mut world = World::new(o.dialect.clone(), o.target.clone(), o.timeout, suite);
    world.choices = o.choices;
    world.quiet_cap = o.quiet_cap;
    world.items = o.items.for_scenario(s);
    let mut setup = true;
    for spec in &s.steps {
        let where_ = format!("{} ({}:{})", spec.sentence(), s.file, spec.line);
        setup = match spec.keyword.trim() {
            "Given" => true,
            "When" | "Then" => false,
            _ => setup,
        };
        let step = match &spec.parsed {
            Ok(step) => step,
            Err(why) => {
                return Outcome::Errored {
                    step: where_,
                    message: format!("the feature is broken: {why}"),
                    conversation: Vec::new(),
                };
            }
        };
        let bound = step_bound(step, o.timeout) + o.items.extra_bound();
        let result = match tokio::time::timeout(bound, world.run(step)).await {
            Ok(r) => r,
            Err(_) => Err(StepError::Failed(Failure::new(
                None,
                format!(
                    "step `{}` did not finish within its deadline of {}",
                    spec.sentence(),
                    fmt_dur(bound)
                ),
            ))),
        };
        match result {
            Ok(()) => {}
            Err(StepError::Skipped(reason)) => return Outcome::Skipped { reason },
            Err(StepError::Error(message)) => {
                return Outcome::Errored {
                    step: where_,
                    message,
                    conversation: world.conversation(),
                };
            }
            Err(StepError::Failed(mut failure)) => {
                if setup {
                    failure.setup = true;
                    failure.blocks = s
                        .rules
                        .iter()
                        .copied()
                        .filter(|r| failure.rule.is_some_and(|f| f != *r))
                        .collect();
                }
                return Outcome::Failed {
                    step: where_,
                    failure,
                    conversation: world.conversation(),
                };
            }
        }
    }
    if let Some(v) = world.finish().into_iter().next() {
        return Outcome::Failed {
            step: "(end of scenario)".into(),
            failure: v.into(),
            conversation: world.conversation(),
        };
    }
    Outcome::Passed
}

/// Applies `--expect-fail` to an outcome.
fn judge(outcome: Outcome, s: &FeatureScenario, expect: &ExpectFail) -> Outcome {
    // `@offline` scenarios judge the shipped transcript files, not the implementation, so a
    // team's known failures say nothing about them (they would always read "NOW PASSING").
    if expect.is_empty() || s.has_tag(TAG_OFFLINE) {
        return outcome;
    }
    match outcome {
        Outcome::Failed {
            step,
            failure,
            conversation,
        } => {
            let rules = match failure.rule {
                Some(r) => vec![r],
                None => s.rules.clone(),
            };
            match expect.listed(&rules).first() {
                Some(r) => Outcome::ExpectedFailure {
                    step,
                    reason: expect.reason(*r),
                    failure,
                },
                None => Outcome::Failed {
                    step,
                    failure,
                    conversation,
                },
            }
        }
        Outcome::Passed => {
            let rules = expect.listed(&s.rules);
            if rules.is_empty() {
                Outcome::Passed
            } else {
                Outcome::UnexpectedPass { rules }
            }
        }
        other => other,
    }
}

/// Runs the suite. An `Err` means the target could not be reached at all (exit 2).
pub async fn run(suite: Arc<Suite>, o: &Options) -> Result<RunReport, TargetError> {
    preflight(&o.target, o.timeout).await?;
    let selected: Vec<&FeatureScenario> = suite
        .scenarios
        .iter()
        .filter(|s| o.tags.as_ref().is_none_or(|t| t.eval(s.tags.iter())))
        .collect();
    let total = selected.len();
    // A progress bar (`indicatif`) only on a terminal: logs and pipes get the report alone.
    let bar = (o.progress && std::io::stderr().is_terminal()).then(|| progress_bar(total));
    let jobs = if o.target.parallel() { PARALLEL } else { 1 };
    let started = Instant::now();
    let mut done = 0usize;
    // An external server is shared by the whole run (scenarios run one at a time): once it
    // stops accepting connections, that is a finding (`S-ROBUST`) of the scenario after
    // which it happened, and the scenarios that need it are skipped at once, saying why.
    let stopped: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let stopped = &stopped;
    let mut reports = futures::stream::iter(selected.iter().map(|s| {
        let suite = suite.clone();
        async move {
            let t0 = Instant::now();
            let dead = stopped.lock().map(|g| g.clone()).unwrap_or_default();
            let outcome = match dead {
                Some(after) if !s.has_tag(TAG_OFFLINE) => Outcome::Skipped {
                    reason: format!(
                        "the server stopped accepting connections after `{after}` (S-ROBUST)"
                    ),
                },
                _ => run_scenario(s, o, suite).await,
            };
            let mut robust = None;
            if matches!(o.target, ConformTarget::Server { .. })
                && outcome.ran()
                && !s.has_tag(TAG_OFFLINE)
                && let Err(e) = still_accepting(o).await
            {
                if let Ok(mut g) = stopped.lock() {
                    *g = Some(s.name.clone());
                }
                robust = Some(stopped_accepting(s, &e, &o.expect_fail));
            }
            (s, judge(outcome, s, &o.expect_fail), t0.elapsed(), robust)
        }
    }))
    .buffered(jobs);
    let mut scenarios = Vec::with_capacity(total);
    while let Some((s, outcome, duration, robust)) = reports.next().await {
        done += 1;
        if let Some(bar) = &bar {
            let mark = if outcome.is_failure() { "FAIL" } else { "ok" };
            bar.set_position(done as u64);
            bar.set_message(format!("{mark} {}", s.name));
        }
        scenarios.push(ScenarioReport {
            feature: s.feature.clone(),
            file: s.file.clone(),
            name: s.name.clone(),
            line: s.line,
            rules: s.rules.clone(),
            offline: s.has_tag(TAG_OFFLINE),
            outcome,
            duration,
        });
        scenarios.extend(robust);
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
        eprintln!(
            "{total} scenarios in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(RunReport {
        target: describe_target(&o.target) + &o.items.describe(&o.target),
        dialect: o.dialect.name.clone(),
        scenarios,
    })
}

/// Whether the server under test still accepts a connection (opened and closed at once).
async fn still_accepting(o: &Options) -> Result<(), TargetError> {
    let session = TargetSession::start(&o.target, &o.dialect, o.choices).await?;
    drop(session.connect(o.timeout).await?);
    Ok(())
}

/// The finding when the server stopped accepting connections during scenario `s`: a test
/// case of its own, under `S-ROBUST`, placed right after `s`.
fn stopped_accepting(s: &FeatureScenario, e: &TargetError, expect: &ExpectFail) -> ScenarioReport {
    let failure = Failure::new(
        Some(RuleId::SRobust),
        format!(
            "after this scenario the server no longer accepts connections ({e}): what a client \
             sent harmed the server; the remaining scenarios that need it are skipped"
        ),
    );
    ScenarioReport {
        feature: s.feature.clone(),
        file: s.file.clone(),
        name: format!("the server still accepts connections after `{}`", s.name),
        line: s.line,
        rules: vec![RuleId::SRobust],
        offline: false,
        outcome: if expect.listed(&[RuleId::SRobust]).is_empty() {
            Outcome::Failed {
                step: "(a new connection after the scenario)".into(),
                failure,
                conversation: Vec::new(),
            }
        } else {
            Outcome::ExpectedFailure {
                step: "(a new connection after the scenario)".into(),
                reason: expect.reason(RuleId::SRobust),
                failure,
            }
        },
        duration: Duration::ZERO,
    }
}

fn progress_bar(total: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("[{bar:20}] {pos}/{len} {wide_msg}")
    {
        bar.set_style(style.progress_chars("#> "));
    }
    bar
}

/// The target in words, for reports.
pub fn describe_target(t: &ConformTarget) -> String {
    match t {
        ConformTarget::Reference => "the reference server and client".into(),
        ConformTarget::Server {
            addr,
            control: None,
        } => format!("server {addr} (no control port)"),
        ConformTarget::Server {
            addr,
            control: Some(c),
        } => format!("server {addr} (control {c})"),
        ConformTarget::ClientCmd(cmd) => format!("client `{cmd}`"),
        ConformTarget::ClientFn(_) => "an in-process client".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_scenario(feature: &str) -> (FeatureScenario, Arc<Suite>) {
        let suite = Suite::from_sources(&[("features/t.feature", feature)], &[]).unwrap();
        (suite.scenarios[0].clone(), Arc::new(suite))
    }

    #[tokio::test]
    async fn a_sentence_no_step_matches_fails_its_scenario_instead_of_skipping() {
        let (s, suite) = one_scenario(
            "Feature: F\n  @offline @S-ERR\n  Scenario: s\n    Then the checker dances\n",
        );
        let outcome = run_scenario(&s, &Options::new(ConformTarget::Reference), suite).await;
        let Outcome::Errored { step, message, .. } = outcome else {
            panic!("{outcome:?}");
        };
        assert!(
            step.contains("Then the checker dances (features/t.feature:4)"),
            "{step}"
        );
        assert!(message.contains("no step matches"), "{message}");
    }

    #[tokio::test]
    async fn scenarios_that_cannot_apply_are_skipped_with_their_reason() {
        let o = Options::new(ConformTarget::Server {
            addr: "127.0.0.1:1".into(),
            control: None,
        });
        let (s, suite) =
            one_scenario("Feature: F\n  @control @S-LIVENESS\n  Scenario: s\n    Given a server\n");
        let outcome = run_scenario(&s, &o, suite).await;
        assert_eq!(
            outcome,
            Outcome::Skipped {
                reason: "needs a control port to publish items (--control ADDR)".into()
            }
        );
        let (s, suite) = one_scenario(
            "Feature: F\n  @client @C-ACK\n  Scenario: s\n    Given the client under test is connected\n",
        );
        let outcome = run_scenario(&s, &o, suite).await;
        assert!(
            matches!(outcome, Outcome::Skipped { reason } if reason.contains("the target is a server"))
        );
    }
}
