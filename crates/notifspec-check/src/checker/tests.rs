//! Checker-level tests across families: every rule reported and not reported, one mistake
//! giving one violation, and generated input.

use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng};

use super::testkit::{check, rules};
use super::*;
use crate::dialect::ItemKind;

/// For every rule: a conversation that breaks it (and only it, at the given line) and a
/// close variant that conforms.
const CATALOG: &[(RuleId, &str, usize, &str)] = &[
    (RuleId::SFraming, "C: random?\nS~ 1", 2, "C: random?\nS= 1"),
    (
        RuleId::SReplyOne,
        "C: random?\nS: 1\nS: 2",
        3,
        "C: random?\nS: 1",
    ),
    (
        RuleId::SRandomInt,
        "C: random?\nS: x1",
        2,
        "C: random?\nS: 01",
    ),
    (
        RuleId::SClassifiedLine,
        "C: classified?\nS: will send notifs",
        2,
        "C: classified?\nS: notif me",
    ),
    (
        RuleId::SModeAck,
        "C: _notif_\nS: notif: OK",
        2,
        "C: _notif_\nS: will send notifs",
    ),
    (
        RuleId::SNotifInMode,
        "S: notif: random",
        1,
        "C: _notif_\nS: will send notifs\nS: notif: random",
    ),
    (
        RuleId::SNotifWindow,
        "C: _notif_\nS: will send notifs\nS: notif: random\nS: notif: random",
        4,
        "C: _notif_\nS: will send notifs\nS: notif: random\nC: OK\nS: notif: random",
    ),
    (
        RuleId::SStopOk,
        "C: _notif_\nS: will send notifs\nC: stop_notif\nS: done",
        4,
        "C: _notif_\nS: will send notifs\nC: stop_notif\nS: OK",
    ),
    (
        RuleId::SNoNotifAfterOk,
        "C: _notif_\nS: will send notifs\nC: stop_notif\nS: OK\nS: notif: random",
        5,
        "C: _notif_\nS: will send notifs\nC: stop_notif\nS: notif: random\nS: OK",
    ),
    (
        RuleId::SNotifKind,
        "C: _notif_\nS: will send notifs\nS: notif: weather",
        3,
        "C: _notif_\nS: will send notifs\nS: notif: classified",
    ),
    (
        RuleId::SPromise,
        "C: _notif_\nS: will send notifs\nS: notif: classified\nC: stop_notif\nS: OK\nC: classified?\nS:",
        7,
        "C: _notif_\nS: will send notifs\nS: notif: classified\nC: stop_notif\nS: OK\nC: classified?\nS: ad",
    ),
    (
        RuleId::SNoDup,
        "C: _notif_\nS: will send notifs\n! publish random\nS: notif: random\nC: OK\nS: notif: random",
        6,
        "C: _notif_\nS: will send notifs\n! publish random\nS: notif: random\nC: OK\n! publish random\nS: notif: random",
    ),
    (
        RuleId::SLiveness,
        "C: classified?\nS: ad\nC: _notif_\nS: will send notifs\n! publish random\n! quiet 1s",
        6,
        "C: classified?\nS: ad\nC: _notif_\nS: will send notifs\n! publish random\nS: notif: random\n! quiet 1s",
    ),
    (
        RuleId::SErr,
        "C: hello\nS: hello",
        2,
        "C: hello\nS: ERR unknown command",
    ),
    (
        RuleId::SRobust,
        "C! x\nS: 1",
        2,
        "C! x\nS: ERR line too long\n! expect close",
    ),
    (RuleId::CFraming, "C. random?", 1, "C~ random?"),
    (
        RuleId::COneAtATime,
        "C: random?\nC: random?",
        2,
        "C: random?\nS: 1\nC: random?",
    ),
    (
        RuleId::CAck,
        "C: _notif_\nS: will send notifs\nS: notif: random\n! close",
        3,
        "C: _notif_\nS: will send notifs\nS: notif: random\nC: OK\n! close",
    ),
    (
        RuleId::CNoReqInNotif,
        "C: _notif_\nS: will send notifs\nC: random?",
        3,
        "C: _notif_\nS: will send notifs\nC: stop_notif\nS: OK\nC: random?",
    ),
    (
        RuleId::CStopOnlyInNotif,
        "C: stop_notif",
        1,
        "C: _notif_\nS: will send notifs\nC: stop_notif",
    ),
    (
        RuleId::CNoAckAfterStop,
        "C: _notif_\nS: will send notifs\nC: stop_notif\nS: notif: random\nC: OK",
        5,
        "C: _notif_\nS: will send notifs\nS: notif: random\nC: stop_notif\nS: OK",
    ),
    (
        RuleId::CAckOnlyNotif,
        "C: _notif_\nS: will send notifs\nC: OK",
        3,
        "C: _notif_\nS: will send notifs\nS: notif: random\nC: OK",
    ),
];

#[test]
fn every_rule_is_reported_and_not_reported() {
    for rule in RuleId::ALL {
        let Some((_, bad, at, good)) = CATALOG.iter().find(|(r, ..)| r == rule) else {
            panic!("{rule} has no catalog test");
        };
        assert_eq!(rules(bad), vec![(*rule, *at)], "{rule}: {bad}");
        assert_eq!(rules(good), vec![], "{rule}: {good}");
        for v in check(bad, false) {
            assert!(
                v.message.len() > 20 && !v.message.contains('\n'),
                "{rule}: message should be one readable sentence: {:?}",
                v.message
            );
        }
    }
}

#[test]
fn one_mistake_gives_one_violation() {
    // A missing mode ack, then a normal session: only the ack is wrong.
    let script = "C: _notif_\nS: notif: random\nC: OK\nS: notif: classified\nC: stop_notif\nS: OK\nC: random?\nS: 3\nC: classified?\nS: ad";
    assert_eq!(rules(script), vec![(RuleId::SModeAck, 2)]);
    // A server that skips one reply, then behaves: the missing reply is found at the quiet,
    // and the conversation goes on cleanly.
    let script = "C: random?\n! quiet 1s\nC: random?\nS: 1\nC: _notif_\nS: will send notifs\nS: notif: random\nC: OK";
    assert_eq!(rules(script), vec![(RuleId::SReplyOne, 2)]);
    // A wrong stop reply is taken as the server leaving the mode.
    let script = "C: _notif_\nS: will send notifs\nC: stop_notif\nS: bye\nC: random?\nS: 1";
    assert_eq!(rules(script), vec![(RuleId::SStopOk, 4)]);
}

#[test]
fn incomplete_conversations_report_nothing_pending() {
    for script in [
        "C: random?",
        "C: _notif_",
        "C: _notif_\nS: will send notifs\nS: notif: random",
        "C: _notif_\nS: will send notifs\nC: stop_notif",
    ] {
        assert_eq!(rules(script), vec![], "{script}");
        assert_eq!(check(script, true).len(), 1, "{script}");
    }
}

fn random_event(rng: &mut StdRng) -> EventKind {
    const CLIENT: &[&str] = &[
        "random?",
        "classified?",
        "_notif_",
        "stop_notif",
        "OK",
        "",
        "zz",
    ];
    const SERVER: &[&str] = &[
        "1",
        "",
        "ad",
        "will send notifs",
        "OK",
        "notif: random",
        "notif: classified",
        "notif: x",
        "ERR no",
        "ERR",
        "x",
    ];
    const TERMS: &[Terminator] = &[
        Terminator::Lf,
        Terminator::CrLf,
        Terminator::Missing,
        Terminator::Unknown,
    ];
    let from = if rng.random_range(0..2) == 0 {
        Party::Client
    } else {
        Party::Server
    };
    match rng.random_range(0..24) {
        0 => EventKind::Oversized { from },
        1 => EventKind::Closed { by: from },
        2 => EventKind::Published {
            kind: ItemKind::ALL[rng.random_range(0..2)],
        },
        3 => EventKind::Quiet {
            duration: Duration::from_millis(rng.random_range(0..3000)),
        },
        4 => EventKind::Line {
            from,
            // Long multi-byte garbage: quoting must cut it at a character boundary.
            text: "é€".repeat(rng.random_range(0..3000)),
            terminator: TERMS[rng.random_range(0..4)],
        },
        5 => EventKind::Line {
            from,
            text: (0..rng.random_range(0..40))
                .map(|_| char::from(rng.random_range(0u8..128)))
                .collect(),
            terminator: TERMS[rng.random_range(0..4)],
        },
        _ => {
            let pool = if from == Party::Client {
                CLIENT
            } else {
                SERVER
            };
            EventKind::Line {
                from,
                text: pool[rng.random_range(0..pool.len())].to_string(),
                terminator: TERMS[rng.random_range(0..4)],
            }
        }
    }
}

#[test]
fn generated_conversations_never_panic_and_stay_bounded() {
    for seed in 0..20u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let options = Options {
            items_known: seed % 2 == 0,
            liveness_bound: Duration::from_millis(500),
        };
        let mut checker = Checker::with_options(Dialect::default(), options);
        for i in 0..20_000usize {
            let event = Event {
                at: None,
                source_line: Some(i + 1),
                kind: random_event(&mut rng),
            };
            for v in checker.feed(&event) {
                assert_eq!(v.line, Some(i + 1));
                assert!(!v.message.is_empty());
            }
            assert!(checker.pending_len() <= MAX_PENDING);
        }
        checker.finish(seed % 3 == 0);
        assert_eq!(checker.pending_len(), 0);
    }
}

#[test]
fn huge_counts_saturate_instead_of_overflowing() {
    let mut checker = Checker::with_options(
        Dialect::default(),
        Options {
            items_known: true,
            liveness_bound: Duration::ZERO,
        },
    );
    let publish = Event {
        at: None,
        source_line: None,
        kind: EventKind::Published {
            kind: ItemKind::Classified,
        },
    };
    let request = Event {
        at: None,
        source_line: None,
        kind: EventKind::Line {
            from: Party::Client,
            text: "random?".into(),
            terminator: Terminator::CrLf,
        },
    };
    for _ in 0..200_000 {
        checker.feed(&publish);
        checker.feed(&request);
    }
    assert_eq!(checker.pending_len(), MAX_PENDING);
    assert!(checker.finish(true).len() == 1);
}

/// The rules are stated once for every dialect: a dialect with no spelling in common with
/// the seed is judged the same way.
#[test]
fn any_dialect_is_judged_by_its_own_spellings() {
    let yaml = "name: other\nline_ending: lf\nmax_line: 64\ncommands: {random: RAND, classified: ADS, enter: SUB, stop: UNSUB}\nreplies: {mode_ack: SUBSCRIBED, stop_ok: DONE}\nnotifications: {random: 'EVT rnd', classified: 'EVT ad'}\nanswers: {policy: required, ok: ACK}\nerrors: {policy: error, prefix: NO}\n";
    let d = Dialect::from_yaml_str(yaml, "other").unwrap();
    let run = |script: &str| -> Vec<(RuleId, usize)> {
        super::testkit::check_dialect(d.clone(), script, false)
            .into_iter()
            .map(|v| (v.rule, v.line.unwrap()))
            .collect()
    };
    let session = "C~ RAND\nS~ 5\nC~ SUB\nS~ SUBSCRIBED\nS~ EVT ad\nC~ ACK\nS~ EVT rnd\nC~ UNSUB\nS~ DONE\nC~ random?\nS~ NO unknown";
    assert_eq!(run(session), vec![]);
    assert_eq!(
        run("C: SUB\nS: SUBSCRIBED\nS: EVT ad\nS: EVT rnd"),
        vec![(RuleId::SNotifWindow, 4)]
    );
    assert_eq!(
        run("C: SUB\nS: SUBSCRIBED\nS: EVT weather"),
        vec![(RuleId::SNotifKind, 3)]
    );
    assert_eq!(
        run("C: SUB\nS: SUBSCRIBED\nC: ACK\nS: NO"),
        vec![(RuleId::CAckOnlyNotif, 3)]
    );
    assert_eq!(run("C: RAND\nS= 5"), vec![(RuleId::SFraming, 2)]);
    assert_eq!(
        run("C: UNSUB\nS: NO not subscribed"),
        vec![(RuleId::CStopOnlyInNotif, 1)]
    );
}

/// What `notifspec check` relies on to judge a transcript in one pass: knowing the publishes
/// only adds violations of `ITEMS_KNOWN_RULES`, and a report limit only turns the later ones
/// into counts.
#[test]
fn items_known_only_adds_the_items_known_rules() {
    let mut any_counted = false;
    for seed in 0..40u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let options = |items_known| Options {
            items_known,
            liveness_bound: Duration::from_millis(500),
        };
        let mut unknown = Checker::with_options(Dialect::default(), options(false));
        let mut known = Checker::with_options(Dialect::default(), options(true));
        let mut limited = Checker::with_options(Dialect::default(), options(true));
        limited.limit_items_known_reports(3);
        let (mut a, mut b, mut c) = (vec![], vec![], vec![]);
        for i in 0..5_000usize {
            let event = Event {
                at: None,
                source_line: Some(i + 1),
                kind: random_event(&mut rng),
            };
            unknown.feed_into(&event, &mut a);
            known.feed_into(&event, &mut b);
            limited.feed_into(&event, &mut c);
        }
        a.extend(unknown.finish(seed % 2 == 0));
        b.extend(known.finish(seed % 2 == 0));
        c.extend(limited.finish(seed % 2 == 0));
        let is_known = |v: &&Violation| ITEMS_KNOWN_RULES.contains(&v.rule);
        let filtered: Vec<_> = b.iter().filter(|v| !is_known(v)).cloned().collect();
        assert_eq!(a, filtered, "seed {seed}");
        // The limited checker reports the first 3 and counts the others, by rule.
        let mut first = 0;
        let mut counted = [0u64; 2];
        let expected: Vec<_> = b
            .iter()
            .filter(|v| {
                if !is_known(v) {
                    return true;
                }
                first += 1;
                if first > 3 {
                    counted[usize::from(v.rule == RuleId::SLiveness)] += 1;
                }
                first <= 3
            })
            .cloned()
            .collect();
        assert_eq!(c, expected, "seed {seed}");
        let unreported: Vec<_> = limited.unreported_items_known().collect();
        let want: Vec<_> = [
            (RuleId::SNoDup, counted[0]),
            (RuleId::SLiveness, counted[1]),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
        assert_eq!(unreported, want, "seed {seed}");
        any_counted |= !want.is_empty();
    }
    assert!(any_counted);
}

#[test]
fn feed_line_is_feed_without_the_event() {
    let lines = [
        (Party::Client, "random?"),
        (Party::Server, "x"),
        (Party::Client, "_notif_"),
        (Party::Server, "will send notifs"),
        (Party::Client, "OK"),
    ];
    let mut a = Checker::new(Dialect::default());
    let mut b = Checker::new(Dialect::default());
    let mut out = vec![];
    let mut expected = vec![];
    for (i, (from, text)) in lines.into_iter().enumerate() {
        let event = Event {
            at: None,
            source_line: Some(i + 1),
            kind: EventKind::Line {
                from,
                text: text.into(),
                terminator: Terminator::Lf,
            },
        };
        expected.extend(a.feed(&event));
        b.feed_line(from, text, Terminator::Lf, Some(i + 1), &mut out);
    }
    assert!(!expected.is_empty());
    assert_eq!(out, expected);
}

#[test]
fn a_mark_tells_never_from_at_no_line() {
    let mut m = Mark::At(None);
    assert!(m.is_set());
    assert_eq!(m.take(), Mark::At(None));
    assert!(!m.is_set());
    assert_eq!(m.take(), Mark::Unset);
}
