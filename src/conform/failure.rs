//! Why a step did not pass: a broken rule ([`Failure`]), a target that could not be driven,
//! or a scenario that does not apply ([`StepError`]). Its own module so the runner, the
//! scripted server and the outcome read it without depending on the scenario state.

use super::peer::PeerIoError;
use super::target_error::TargetError;
use crate::checker::Violation;
use crate::rule::RuleId;

/// Why a step did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepError {
    /// The implementation broke a rule (a JUnit `<failure>`).
    Failed(Failure),
    /// The implementation could not be reached or driven (a JUnit `<error>`).
    Error(String),
    /// The scenario does not apply to this target or dialect (a JUnit `<skipped>`).
    Skipped(String),
}

/// A broken rule, with what was expected and what was observed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// The rule, when the step or the checker knows it; otherwise the scenario's tags apply.
    pub rule: Option<RuleId>,
    /// A sentence naming the peer and the offending line.
    pub message: String,
    /// What the step expected, for the diff.
    pub expected: Option<String>,
    /// What was observed instead.
    pub got: Option<String>,
    /// Whether the step that failed was a setup step (the Background, or a `Given`): the
    /// scenario never reached what it checks.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub setup: bool,
    /// For a setup failure: the scenario's rules that went unjudged because of it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<RuleId>,
}

impl Failure {
    /// A failure of `rule` with a message.
    pub fn new(rule: Option<RuleId>, message: impl Into<String>) -> Failure {
        Failure {
            rule,
            message: message.into(),
            expected: None,
            got: None,
            setup: false,
            blocks: Vec::new(),
        }
    }

    /// Adds the expected/observed pair shown as a diff.
    pub fn diff(mut self, expected: impl Into<String>, got: impl Into<String>) -> Failure {
        self.expected = Some(expected.into());
        self.got = Some(got.into());
        self
    }
}

impl From<Failure> for StepError {
    fn from(f: Failure) -> StepError {
        StepError::Failed(f)
    }
}

impl From<TargetError> for StepError {
    fn from(e: TargetError) -> StepError {
        match e {
            TargetError::NoControl => StepError::Skipped(e.to_string()),
            e => StepError::Error(e.to_string()),
        }
    }
}

impl From<PeerIoError> for StepError {
    /// A write on a connection the implementation had accepted failed: it dropped the
    /// connection (or stopped reading). That is its behaviour, judged under the scenario's
    /// rules, not trouble reaching it.
    fn from(e: PeerIoError) -> StepError {
        StepError::Failed(Failure::new(
            None,
            format!("the connection broke while sending: {e}"),
        ))
    }
}

impl From<Violation> for Failure {
    fn from(v: Violation) -> Failure {
        Failure::new(Some(v.rule), format!("checker: {}", v.message))
    }
}
