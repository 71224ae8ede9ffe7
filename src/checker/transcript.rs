//! A transcript judged by the checker: entries become events, fed in order.
//!
//! Transcripts do not record terminators (`Terminator::Unknown`, so `S-FRAMING` and
//! `C-FRAMING` are not judged offline). A message with placeholders is judged as a
//! representative value: `{int}` as a decimal integer, `{text}` as non-empty text. Publish
//! directives make the availability rules judgeable for the whole transcript; `! quiet`
//! judges liveness whatever its length (a transcript's quiet period says "nothing more
//! arrives"). `[...]` stops the check there; a transcript is complete only when its last
//! entry is `! close` or `! expect close`.

use std::time::Duration;

use super::{Checker, Event, EventKind, Options, Party, Terminator, Violation};
use crate::dialect::{Dialect, ItemKind};
use crate::transcript::{Directive, EntryKind, Message, Segment, Transcript};

/// The representative value of `{int}`.
const SOME_INT: &str = "1";
/// The representative value of `{text}`.
const SOME_TEXT: &str = "some text";

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
        match &entry.kind {
            EntryKind::Client(m) => set_line(&mut event.kind, Party::Client, m),
            EntryKind::Server(m) => set_line(&mut event.kind, Party::Server, m),
            EntryKind::Directive(d) => event.kind = directive(d),
            EntryKind::Unrecorded => break,
        }
        event.source_line = Some(entry.line);
        out.extend(checker.feed(&event));
    }
    out.extend(checker.finish(complete));
    out
}

impl Checker {
    /// A checker configured for a transcript, for callers that stream entries themselves
    /// (`notifspec check` on huge files) and must judge exactly like [`check_transcript`]:
    /// `items_known` says the transcript has at least one `! publish` directive.
    pub fn for_transcript(dialect: Dialect, items_known: bool) -> Checker {
        Checker::with_options(dialect, transcript_options(items_known))
    }
}

/// The options a transcript implies: publishes known iff it has publish directives; any
/// quiet period long enough to judge liveness.
pub(super) fn transcript_options(items_known: bool) -> Options {
    Options {
        items_known,
        liveness_bound: Duration::ZERO,
    }
}

/// Makes `kind` the line `m` from `from`, reusing its text buffer when it already is a line.
fn set_line(kind: &mut EventKind, from: Party, m: &Message) {
    if let EventKind::Line {
        from: f,
        text,
        terminator,
    } = kind
    {
        *f = from;
        *terminator = Terminator::Unknown;
        text.clear();
        representative(m, text);
    } else {
        let mut text = String::new();
        representative(m, &mut text);
        *kind = EventKind::Line {
            from,
            text,
            terminator: Terminator::Unknown,
        };
    }
}

fn directive(d: &Directive) -> EventKind {
    match d {
        Directive::PublishRandom(_) => EventKind::Published {
            kind: ItemKind::Random,
        },
        Directive::PublishClassified(_) => EventKind::Published {
            kind: ItemKind::Classified,
        },
        Directive::Close => EventKind::Closed { by: Party::Client },
        Directive::ExpectClose => EventKind::Closed { by: Party::Server },
        Directive::Quiet(duration) => EventKind::Quiet {
            duration: *duration,
        },
    }
}

/// A message pattern as one concrete line, appended to `s`.
fn representative(m: &Message, s: &mut String) {
    for seg in &m.segments {
        match seg {
            Segment::Literal(l) => s.push_str(l),
            Segment::Int => s.push_str(SOME_INT),
            Segment::Text => s.push_str(SOME_TEXT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::RuleId;
    use crate::transcript::Entry;

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
