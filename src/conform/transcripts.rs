//! Transcript steps: replaying a conforming transcript live against the server under test,
//! and checking that the checker flags a negative transcript with exactly its rules.

use std::collections::BTreeSet;

use super::failure::{Failure, StepError};
use super::items::ItemSource;
use super::world::World;
use crate::checker::LineReading as _;
use crate::checker::Party;
use crate::dialect::Dialect;
use crate::replay::{self, ServerTarget, script::Happened};
use crate::rule::RuleId;
use crate::transcript::check_transcript;
use crate::transcript::{Directive, EntryKind, Expectation, Transcript};

impl World {
    fn transcript(&self, path: &str) -> Result<Transcript, StepError> {
        self.suite
            .transcript(path)
            .map(|t| t.transcript.clone())
            .ok_or_else(|| StepError::Error(format!("no transcript `{path}` is embedded")))
    }

    fn transcript_dialect(&self, path: &str) -> Result<Dialect, StepError> {
        let file = self
            .suite
            .transcript(path)
            .ok_or_else(|| StepError::Error(format!("no transcript `{path}` is embedded")))?;
        self.suite.dialect_of(file).map_err(StepError::Error)
    }

    /// Replays a conforming transcript against the server under test with the replay
    /// engine (client role, not strict: values a server chooses, such as random numbers,
    /// need not match the recording). Any rule the server breaks fails the step; a legal
    /// divergence from the recording does not.
    pub(super) async fn replay(&mut self, path: &str) -> Result<(), StepError> {
        let mut t = self.transcript(path)?;
        for e in &mut t.entries {
            if let EntryKind::Directive(Directive::Quiet(d)) = &mut e.kind {
                *d = (*d).min(self.quiet_cap);
            }
        }
        if t.front.expect != Expectation::Pass {
            return Err(StepError::Error(format!(
                "{path} is a negative transcript; it cannot be replayed as conforming"
            )));
        }
        let dialect = self.transcript_dialect(path)?;
        if dialect.name != self.dialect.name {
            return Err(StepError::Skipped(format!(
                "{path} is in dialect `{}`; the run is in `{}`",
                dialect.name, self.dialect.name
            )));
        }
        // Publishes, and notifications the replay must provoke, need a control port.
        let needs_control = t.entries.iter().any(|e| match &e.kind {
            EntryKind::Directive(Directive::PublishRandom(_) | Directive::PublishClassified(_)) => {
                true
            }
            EntryKind::Server(m) => m
                .literal()
                .is_some_and(|l| dialect.notification_kind(l).is_some()),
            _ => false,
        });
        let server_closes = t
            .entries
            .iter()
            .any(|e| matches!(e.kind, EntryKind::Directive(Directive::ExpectClose)));
        if server_closes {
            return Err(StepError::Skipped(format!(
                "in {path} the server closes the connection on its own (a timeout or a limit of \
                 that server), which a replay cannot make every server do"
            )));
        }
        if self.spontaneous().is_some() {
            let commands = &dialect.commands;
            let exposed = t.entries.iter().any(|e| match &e.kind {
                EntryKind::Client(m) => m
                    .literal()
                    .is_some_and(|l| l == commands.enter || l == commands.classified),
                _ => false,
            });
            if needs_control || exposed {
                return Err(StepError::Skipped(format!(
                    "{path} enters notification mode or reads ads, and the server publishes on \
                     its own (spontaneous mode): its items would interleave with the recording"
                )));
            }
        }
        let publish_cmd = match &self.items {
            ItemSource::Command(c) if !self.target.has_control() => Some(c.clone()),
            _ => None,
        };
        if needs_control && !self.target.has_control() && publish_cmd.is_none() {
            return Err(StepError::Skipped(format!(
                "{path} publishes items or expects notifications, which needs a control port \
                 or --publish-cmd"
            )));
        }
        let session = self.server().await?;
        let target = ServerTarget {
            addr: session.addr().to_string(),
            control: session.control().map(str::to_string),
            publish_cmd,
        };
        let mut opts = replay::Options::new(replay::ReplayTarget::Server(target));
        opts.timeout = self.timeout;
        let findings = replay::replay_transcript(&t, &dialect, &opts).await;
        self.replayed = findings
            .observed
            .iter()
            .filter_map(|o| {
                let line = match &o.what {
                    Happened::Line(Party::Client, l) => format!("C: {l}"),
                    Happened::Line(Party::Server, l) => format!("S: {l}"),
                    Happened::Note(n) => format!("# {n}"),
                    Happened::Directive(_) => return None,
                };
                Some(format!("+{:.3}s {line}", o.at.as_secs_f64()))
            })
            .collect();
        if let Some(v) = findings.violations.first() {
            let at = v.line.map(|l| format!("{path}:{l}: ")).unwrap_or_default();
            return Err(Failure::new(Some(v.rule), format!("{at}{}", v.message)).into());
        }
        if let Some(e) = &findings.error {
            return Err(StepError::Error(format!("{path}: {e}")));
        }
        if !findings.reached_end {
            // The server legally went another way; what follows was not exercised, and a
            // replay not played to its end is never a pass.
            let why = findings
                .stopped
                .clone()
                .or_else(|| findings.divergences.last().map(|d| d.message.clone()))
                .unwrap_or_else(|| "the replay stopped before the end".into());
            return Err(StepError::Skipped(format!(
                "{path} was not replayed to its end: {why}"
            )));
        }
        Ok(())
    }

    /// Runs the checker over a negative transcript and compares the rules it reports with
    /// the transcript's `expect:` list: missing ones are violations the checker misses,
    /// extra ones are violations it invents.
    pub(super) fn flagged(&self, path: &str) -> Result<(), StepError> {
        let t = self.transcript(path)?;
        let Expectation::Violates(expected) = &t.front.expect else {
            return Err(StepError::Error(format!(
                "{path} has no `expect:` list of rules; it is not a negative transcript"
            )));
        };
        let dialect = self.transcript_dialect(path)?;
        let found = check_transcript(&t, &dialect);
        let got: BTreeSet<RuleId> = found.iter().map(|v| v.rule).collect();
        let want: BTreeSet<RuleId> = expected.iter().copied().collect();
        if got == want {
            return Ok(());
        }
        let list =
            |s: &BTreeSet<RuleId>| s.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
        let rule = want.symmetric_difference(&got).next().copied();
        Err(Failure::new(
            rule,
            format!(
                "{path}: the checker reported [{}], the transcript expects [{}]",
                list(&got),
                list(&want)
            ),
        )
        .diff(list(&want), list(&got))
        .into())
    }
}
