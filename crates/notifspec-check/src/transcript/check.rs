//! A transcript judged by the checker: entries become events, fed in order.
//!
//! Transcripts do not record terminators (`Terminator::Unknown`, so `S-FRAMING` and
//! `C-FRAMING` are not judged offline). A message with placeholders is judged as a
//! representative value: `{int}` as a decimal integer, `{text}` as non-empty text. Publish
//! directives make the availability rules judgeable for the whole transcript; `! quiet`
//! judges liveness whatever its length (a transcript's quiet period says "nothing more
//! arrives"). `[...]` stops the check there; a transcript is complete only when its last
//! entry is `! close` or `! expect close`.

use super::{Directive, EntryKind, Transcript};
use crate::checker::{Checker, Violation};
use crate::dialect::Dialect;
use crate::event::{Event, EventKind};
use crate::rule::Party;

/// Checks a whole transcript in `dialect`; violations come in transcript order.
pub fn check_transcript(t: &Transcript, dialect: &Dialect) -> Vec<Violation> {
    let items_known = t.entries.iter().any(|e| {
        matches!(
            e.kind,
            EntryKind::Directive(Directive::PublishRandom(_) | Directive::PublishClassified(_))
        )
    });
    let complete = t.entries.last().is_some_and(|e| {
        matches!(
            e.kind,
            EntryKind::Directive(Directive::Close | Directive::ExpectClose)
        )
    });
    let mut checker = Checker::for_transcript(dialect.clone(), items_known);
    let mut out = vec![];
    // One event, reused: its text buffer is refilled in place, so a long transcript costs
    // no allocation per line.
    let mut event = Event {
        at: None,
        source_line: None,
        kind: EventKind::Closed { by: Party::Client },
    };
    for entry in &t.entries {
        if !entry.fill_event(&mut event) {
            break;
        }
        out.extend(checker.feed(&event));
    }
    out.extend(checker.finish(complete));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::RuleId;
    use crate::transcript::{Entry, Message, Segment};
    use std::time::Duration;

    fn msg(segments: Vec<Segment>) -> Message {
        Message {
            raw: String::new(),
            segments,
        }
    }

    fn lit(s: &str) -> Message {
        msg(vec![Segment::Literal(s.to_string())])
    }

    fn transcript(kinds: Vec<EntryKind>) -> Transcript {
        Transcript {
            entries: kinds
                .into_iter()
                .enumerate()
                .map(|(i, kind)| Entry { line: i + 10, kind })
                .collect(),
            ..Transcript::default()
        }
    }

    fn rules(t: &Transcript) -> Vec<(RuleId, Option<usize>)> {
        check_transcript(t, &Dialect::default())
            .into_iter()
            .map(|v| (v.rule, v.line))
            .collect()
    }

    #[test]
    fn the_seed_example_passes() {
        let lines = [
            ("C", "random?"),
            ("S", "456902234"),
            ("C", "classified?"),
            ("S", "Nice appart in the 11e."),
            ("C", "_notif_"),
            ("S", "will send notifs"),
            ("S", "notif: classified"),
            ("C", "OK"),
            ("S", "notif: random"),
            ("C", "stop_notif"),
            ("S", "OK"),
            ("C", "random?"),
            ("S", "89765234756"),
            ("C", "_notif_"),
            ("S", "will send notifs"),
            ("S", "notif: classified"),
            ("C", "OK"),
        ];
        let kinds = lines
            .iter()
            .map(|(who, text)| match *who {
                "C" => EntryKind::Client(lit(text)),
                _ => EntryKind::Server(lit(text)),
            })
            .collect();
        assert_eq!(rules(&transcript(kinds)), vec![]);
    }

    #[test]
    fn placeholders_are_judged_as_representative_values() {
        let t = transcript(vec![
            EntryKind::Client(lit("random?")),
            EntryKind::Server(msg(vec![Segment::Int])),
            EntryKind::Client(lit("classified?")),
            EntryKind::Server(msg(vec![Segment::Text])),
            EntryKind::Client(lit("random?")),
            EntryKind::Server(msg(vec![Segment::Literal("n".into()), Segment::Int])),
        ]);
        assert_eq!(rules(&t), vec![(RuleId::SRandomInt, Some(15))]);
    }

    #[test]
    fn complete_unrecorded_and_directives() {
        let hanging =
            |last: EntryKind| rules(&transcript(vec![EntryKind::Client(lit("random?")), last]));
        assert_eq!(
            hanging(EntryKind::Directive(Directive::Close)),
            vec![(RuleId::SReplyOne, Some(10))]
        );
        assert_eq!(
            hanging(EntryKind::Directive(Directive::ExpectClose)),
            vec![(RuleId::SReplyOne, Some(10))]
        );
        assert_eq!(hanging(EntryKind::Unrecorded), vec![]);
        assert_eq!(
            hanging(EntryKind::Directive(Directive::Quiet(
                Duration::from_millis(50)
            ))),
            vec![(RuleId::SReplyOne, Some(11))]
        );
        // Nothing after `[...]` is checked, even a complete-looking end.
        let t = transcript(vec![
            EntryKind::Unrecorded,
            EntryKind::Server(lit("garbage")),
            EntryKind::Directive(Directive::Close),
        ]);
        assert_eq!(rules(&t), vec![]);
    }

    #[test]
    fn publish_directives_make_availability_judgeable() {
        let t = transcript(vec![
            EntryKind::Client(lit("classified?")),
            EntryKind::Server(lit("ad")),
            EntryKind::Client(lit("_notif_")),
            EntryKind::Server(lit("will send notifs")),
            EntryKind::Directive(Directive::PublishClassified("x".into())),
            EntryKind::Directive(Directive::Quiet(Duration::from_millis(100))),
        ]);
        assert_eq!(rules(&t), vec![(RuleId::SLiveness, Some(15))]);
        let t = transcript(vec![
            EntryKind::Client(lit("_notif_")),
            EntryKind::Server(lit("will send notifs")),
            EntryKind::Directive(Directive::PublishRandom(Some("7".into()))),
            EntryKind::Server(lit("notif: random")),
            EntryKind::Client(lit("OK")),
            EntryKind::Server(lit("notif: classified")),
            EntryKind::Client(lit("OK")),
            EntryKind::Directive(Directive::Quiet(Duration::from_millis(100))),
        ]);
        assert_eq!(rules(&t), vec![]);
    }
}
