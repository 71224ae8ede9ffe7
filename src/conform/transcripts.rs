//! Transcript steps: replaying a conforming transcript live against the server under test,
//! and checking that the checker flags a negative transcript with exactly its rules.

use std::collections::BTreeSet;

use super::peer::{Incoming, fmt_dur};
use super::steps::{Expect, Item};
use super::world::{Failure, StepError, World, describe, nothing_on};
use crate::checker::Checker;
use crate::dialect::Dialect;
use crate::rule::RuleId;
use crate::transcript::{Directive, EntryKind, Expectation, Segment, Transcript};

impl World {
    fn transcript(&self, path: &str) -> Result<Transcript, StepError> {
        self.suite
            .transcript(path)
            .map(|t| t.transcript.clone())
            .ok_or_else(|| StepError::Error(format!("no transcript `{path}` is embedded")))
    }

    fn transcript_dialect(&self, path: &str, t: &Transcript) -> Result<Dialect, StepError> {
        match &t.front.dialect {
            None => Ok(Dialect::default()),
            Some(name) => Dialect::builtin(name).ok_or_else(|| {
                StepError::Skipped(format!(
                    "{path} is written in dialect `{name}`, which is not built in"
                ))
            }),
        }
    }

    /// Plays the client side of a conforming transcript against the server under test:
    /// sends its `C:` lines, expects its `S:` lines (placeholders match), follows its
    /// directives. The recording's end is the end of the check.
    pub(super) async fn replay(&mut self, path: &str) -> Result<(), StepError> {
        let t = self.transcript(path)?;
        if t.front.expect != Expectation::Pass {
            return Err(StepError::Error(format!(
                "{path} is a negative transcript; it cannot be replayed as conforming"
            )));
        }
        let dialect = self.transcript_dialect(path, &t)?;
        if dialect.name != self.dialect.name {
            return Err(StepError::Skipped(format!(
                "{path} is in dialect `{}`; the run is in `{}`",
                dialect.name, self.dialect.name
            )));
        }
        let needs_control = t.entries.iter().any(|e| {
            matches!(
                e.kind,
                EntryKind::Directive(Directive::PublishRandom(_) | Directive::PublishClassified(_))
            )
        });
        if needs_control && !self.target.has_control() {
            return Err(StepError::Skipped(format!(
                "{path} publishes items, which needs a control port"
            )));
        }
        self.server().await?;
        let peer = "transcript".to_string();
        self.connect(&peer).await?;
        let timeout = self.timeout;
        for entry in &t.entries {
            let at = format!("{path}:{}", entry.line);
            match &entry.kind {
                EntryKind::Client(m) => {
                    let line = m
                        .literal()
                        .map(str::to_string)
                        .unwrap_or_else(|| m.sample());
                    let ending = self.dialect.line_ending.as_bytes();
                    self.peer(&peer)?.send(&line, ending).await?;
                }
                EntryKind::Server(m) => {
                    let got = self
                        .receive(&peer, &Expect::Any, timeout)
                        .await
                        .map_err(|e| locate(e, &at))?;
                    if !m.matches(&got) {
                        return Err(Failure::new(
                            None,
                            format!(
                                "{at}: the server sent `{got}` where the transcript has `S: {m}`"
                            ),
                        )
                        .diff(pattern_text(&m.segments), got)
                        .into());
                    }
                }
                EntryKind::Directive(Directive::PublishRandom(n)) => {
                    let n = n.as_deref().and_then(|n| n.parse().ok());
                    self.publish(&Item::Random(n)).await?;
                }
                EntryKind::Directive(Directive::PublishClassified(text)) => {
                    self.publish(&Item::Classified(text.clone())).await?;
                }
                EntryKind::Directive(Directive::Close) => {
                    self.peer(&peer)?.close().await;
                    break;
                }
                EntryKind::Directive(Directive::ExpectClose) => {
                    let p = self.peer(&peer)?;
                    match p.recv(timeout).await {
                        Some(Incoming::Closed) => break,
                        other => {
                            let got = other.as_ref().map(describe).unwrap_or("<nothing>".into());
                            return Err(Failure::new(
                                None,
                                format!(
                                    "{at}: the server should close the connection within {}",
                                    fmt_dur(timeout)
                                ),
                            )
                            .diff("<closed>", got)
                            .into());
                        }
                    }
                }
                EntryKind::Directive(Directive::Quiet(d)) => {
                    nothing_on(self.peer(&peer)?, *d)
                        .await
                        .map_err(|e| locate(e, &at))?;
                }
                EntryKind::Unrecorded => break,
            }
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
        let dialect = self.transcript_dialect(path, &t)?;
        let mut checker = Checker::new(dialect);
        let mut found = Vec::new();
        for entry in &t.entries {
            match entry.to_event() {
                Some(event) => found.extend(checker.feed(&event)),
                None => break,
            }
        }
        found.extend(checker.finish(t.is_complete()));
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

fn locate(e: StepError, at: &str) -> StepError {
    match e {
        StepError::Failed(mut f) => {
            f.message = format!("{at}: {}", f.message);
            StepError::Failed(f)
        }
        other => other,
    }
}

fn pattern_text(segments: &[Segment]) -> String {
    segments
        .iter()
        .map(|s| match s {
            Segment::Literal(l) => l.clone(),
            Segment::Int => "{int}".into(),
            Segment::Text => "{text}".into(),
        })
        .collect()
}
