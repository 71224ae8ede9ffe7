//! A compact script notation for the checker's unit tests.
//!
//! One event per line, numbered from 1: `C: text` / `S: text` (terminator not recorded),
//! `C~`/`S~` (ended with LF), `C=`/`S=` (CRLF), `C.`/`S.` (no terminator), `C!`/`S!`
//! (oversized), `! publish random|classified`, `! close`, `! expect close`,
//! `! quiet <duration>`, `[...]` (stop; not complete). Complete iff the last line is a close.
//! Any publish makes items known; the liveness bound is zero, as for transcripts.

use super::offline::transcript_options;
use super::{Checker, Event, EventKind, Party, Terminator, Violation};
use crate::dialect::{Dialect, ItemKind};
use crate::rule::RuleId;

fn event(line: &str) -> Option<EventKind> {
    if line == "[...]" {
        return None;
    }
    if let Some(d) = line.strip_prefix("! ") {
        return Some(match d.trim() {
            "publish random" => EventKind::Published {
                kind: ItemKind::Random,
            },
            "publish classified" => EventKind::Published {
                kind: ItemKind::Classified,
            },
            "close" => EventKind::Closed { by: Party::Client },
            "expect close" => EventKind::Closed { by: Party::Server },
            q => EventKind::Quiet {
                duration: humantime::parse_duration(q.trim_start_matches("quiet ").trim())
                    .expect("test script: bad quiet duration"),
            },
        });
    }
    let from = match &line[..1] {
        "C" => Party::Client,
        "S" => Party::Server,
        _ => panic!("test script: bad line {line:?}"),
    };
    let text = line[2..].trim().to_string();
    let terminator = match &line[1..2] {
        ":" => Terminator::Unknown,
        "~" => Terminator::Lf,
        "=" => Terminator::CrLf,
        "." => Terminator::Missing,
        "!" => return Some(EventKind::Oversized { from }),
        _ => panic!("test script: bad line {line:?}"),
    };
    Some(EventKind::Line {
        from,
        text,
        terminator,
    })
}

/// Runs `script` in `dialect`; `complete` overrides nothing (the script decides) unless the
/// script has no close, in which case `complete` is used.
pub(super) fn check_dialect(dialect: Dialect, script: &str, complete: bool) -> Vec<Violation> {
    let lines: Vec<&str> = script.lines().map(str::trim).collect();
    let known = lines.iter().any(|l| l.starts_with("! publish"));
    let closes = lines
        .last()
        .is_some_and(|l| *l == "! close" || *l == "! expect close");
    let mut checker = Checker::with_options(dialect, transcript_options(known));
    let mut out = vec![];
    for (i, l) in lines.iter().enumerate() {
        let Some(kind) = event(l) else {
            return out;
        };
        out.extend(checker.feed(&Event {
            at: None,
            source_line: Some(i + 1),
            kind,
        }));
    }
    out.extend(checker.finish(closes || complete));
    out
}

pub(super) fn check(script: &str, complete: bool) -> Vec<Violation> {
    check_dialect(Dialect::default(), script, complete)
}

pub(super) fn check_in(name: &str, script: &str, complete: bool) -> Vec<Violation> {
    check_dialect(Dialect::builtin(name).expect("built-in"), script, complete)
}

fn pairs(v: Vec<Violation>) -> Vec<(RuleId, usize)> {
    v.into_iter()
        .map(|v| (v.rule, v.line.expect("scripts number every event")))
        .collect()
}

/// The rules `script` breaks in the default dialect, with their lines.
pub(super) fn rules(script: &str) -> Vec<(RuleId, usize)> {
    pairs(check(script, false))
}

/// `script` followed by one more line.
pub(super) fn rules_with(script: &str, more: &str) -> Vec<(RuleId, usize)> {
    rules(&format!("{script}{more}"))
}

pub(super) fn rules_in(name: &str, script: &str) -> Vec<(RuleId, usize)> {
    pairs(check_in(name, script, false))
}

pub(super) fn rules_in_yaml(yaml: &str, script: &str) -> Vec<(RuleId, usize)> {
    let d = Dialect::from_yaml_str(yaml, "test").expect("test dialect");
    pairs(check_dialect(d, script, false))
}
