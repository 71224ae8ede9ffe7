//! Parser, matcher and writer tests: every construct of the format, every error's location
//! and help, CRLF, round trips, and generated input that must never make the parser panic.

use std::time::Duration;

use pretty_assertions::assert_eq;
use rand::rngs::StdRng;
use rand::{Rng as _, RngExt as _, SeedableRng};

use super::*;
use crate::checker::{EventKind, Party};

fn lit(s: &str) -> Message {
    Message::literal_text(s)
}

fn err(text: &str) -> ParseError {
    parse(text, "t.txt").expect_err("should not parse")
}

const SEED: &str = include_str!("../../../../transcripts/seed-example.txt");

#[test]
fn seed_example_parses_as_it_stands() {
    let t = parse(SEED, "seed").unwrap();
    assert_eq!(t.front, FrontMatter::default());
    assert_eq!(t.entries.len(), 17);
    assert_eq!(t.entries[0].line, 2);
    assert_eq!(t.entries[0].kind, EntryKind::Client(lit("random?")));
    // `S:  89765234756  ` (double space, trailing spaces) is the number alone.
    assert_eq!(t.entries[12].kind, EntryKind::Server(lit("89765234756")));
    assert_eq!(t.entries[16].kind, EntryKind::Client(lit("OK")));
    assert!(!t.is_complete());
}

#[test]
fn every_construct() {
    let text = "---\ntitle: All of it\ndialect: seed-text\nexpect: [S-NOTIF-WINDOW, c-ack]\n---\n\
                # a comment\n\n   \nC: notif\nS: notif: OK\nS:\nS:   \n\
                ! publish random\n! publish random 42\n! publish classified Nice appart {x}\n\
                ! quiet 500ms\n! close\n! expect close\nS: {int}\nS: ad {text} {{int}}\n[...]\n# trailing comment\n";
    let t = parse(text, "t.txt").unwrap();
    assert_eq!(t.front.title.as_deref(), Some("All of it"));
    assert_eq!(t.front.dialect.as_deref(), Some("seed-text"));
    assert_eq!(
        t.front.expect,
        Expectation::Violates(vec![RuleId::SNotifWindow, RuleId::CAck])
    );
    let got: Vec<_> = t.entries.into_iter().map(|e| (e.line, e.kind)).collect();
    let empty = Message {
        raw: String::new(),
        segments: vec![],
    };
    assert_eq!(
        got,
        vec![
            (9, EntryKind::Client(lit("notif"))),
            (10, EntryKind::Server(lit("notif: OK"))),
            (11, EntryKind::Server(empty.clone())),
            (12, EntryKind::Server(empty)),
            (13, EntryKind::Directive(Directive::PublishRandom(None))),
            (
                14,
                EntryKind::Directive(Directive::PublishRandom(Some("42".into())))
            ),
            (
                15,
                EntryKind::Directive(Directive::PublishClassified("Nice appart {x}".into()))
            ),
            (
                16,
                EntryKind::Directive(Directive::Quiet(Duration::from_millis(500)))
            ),
            (17, EntryKind::Directive(Directive::Close)),
            (18, EntryKind::Directive(Directive::ExpectClose)),
            (
                19,
                EntryKind::Server(Message {
                    raw: "{int}".into(),
                    segments: vec![Segment::Int]
                })
            ),
            (
                20,
                EntryKind::Server(Message {
                    raw: "ad {text} {{int}}".into(),
                    segments: vec![
                        Segment::Literal("ad ".into()),
                        Segment::Text,
                        Segment::Literal(" {int}}".into()),
                    ]
                })
            ),
            (21, EntryKind::Unrecorded),
        ]
    );
}

#[test]
fn front_matter_expect_forms() {
    let expect = |v: &str| {
        parse(&format!("---\nexpect: {v}\n---\nC: OK\n"), "t")
            .unwrap()
            .front
            .expect
    };
    assert_eq!(expect("pass"), Expectation::Pass);
    assert_eq!(expect("[]"), Expectation::Pass);
    assert_eq!(
        expect("S-PROMISE"),
        Expectation::Violates(vec![RuleId::SPromise])
    );
    assert_eq!(
        expect("\n  - S-ERR\n  - S-ERR"),
        Expectation::Violates(vec![RuleId::SErr])
    );
    assert_eq!(parse("---\n---\nC: x\n", "t").unwrap().entries.len(), 1);
}

#[test]
fn crlf_parses_like_lf() {
    let lf = "---\ntitle: x\n---\nC: random?\nS: 1\n# c\n! close\n";
    let crlf = lf.replace('\n', "\r\n");
    assert_eq!(parse(lf, "t").unwrap(), parse(&crlf, "t").unwrap());
    assert_eq!(
        parse(SEED, "t").unwrap(),
        parse(&SEED.replace('\n', "\r\n"), "t").unwrap()
    );
}

#[test]
fn reader_iterates_entries_and_notices_publishes() {
    let text = "---\ntitle: t\n---\nC: random?\n! publish random\nS: 1\n";
    let mut r = Reader::new(text.as_bytes(), "t").unwrap();
    assert_eq!(r.front().title.as_deref(), Some("t"));
    assert!(!r.saw_publish());
    let first = r.next().unwrap().unwrap();
    assert_eq!(
        (first.line, first.kind),
        (4, EntryKind::Client(lit("random?")))
    );
    assert!(r.next().unwrap().is_ok());
    assert!(r.saw_publish());
    assert_eq!(r.count(), 1);
    // After an error the reader stops instead of yielding more.
    let mut r = Reader::new("X\nC: OK\n".as_bytes(), "t").unwrap();
    assert!(r.next().unwrap().is_err());
    assert!(r.next().is_none());
}

#[test]
fn byte_order_mark_is_ignored() {
    let t = parse("\u{feff}---\ntitle: x\n---\nC: OK\n", "t").unwrap();
    assert_eq!(t.front.title.as_deref(), Some("x"));
    assert_eq!(t.entries.len(), 1);
}

#[test]
fn completeness_follows_the_last_entry() {
    assert!(
        parse("C: random?\n! close\n# bye\n", "t")
            .unwrap()
            .is_complete()
    );
    assert!(
        parse("C: random?\n! expect close\n", "t")
            .unwrap()
            .is_complete()
    );
    assert!(!parse("! close\nC: random?\n", "t").unwrap().is_complete());
    let mut r = Reader::new("! close\n[...]\n".as_bytes(), "t").unwrap();
    while r.next_event().unwrap().is_some() {}
    assert!(!r.is_complete());
}

#[test]
fn unknown_line_error_has_location_caret_and_help() {
    let e = err("C: random?\n  X: foo\n");
    assert_eq!((e.line, e.column), (2, 3));
    let shown = e.to_string();
    assert_eq!(
        shown,
        "t.txt:2:3: unrecognized line `X: foo`\n      X: foo\n      ^\n\
         help: a line starts with `C:` (client) or `S:` (server), `#` for a comment or `!` for a directive"
    );
}

#[test]
fn prefixes_are_case_sensitive() {
    let e = err("c: random?\n");
    assert_eq!(
        e.help.as_deref(),
        Some("prefixes are case-sensitive: write `C:`")
    );
}

#[test]
fn directive_errors_suggest_the_nearest() {
    let e = err("! pubish random\n");
    assert_eq!((e.line, e.column), (1, 1));
    assert!(e.message.contains("unknown directive `! pubish`"), "{e}");
    assert_eq!(e.help.as_deref(), Some("did you mean `! publish`?"));
    let e = err("C: x\n! expect closed\n");
    assert_eq!(e.help.as_deref(), Some("did you mean `! expect close`?"));
    assert!(
        err("! publish random abc\n")
            .message
            .contains("decimal integer")
    );
    assert!(
        err("! publish classified\n")
            .message
            .contains("needs the ad")
    );
    assert!(
        err("! publish news x\n")
            .message
            .contains("cannot publish `news`")
    );
    assert!(err("! quiet soon\n").message.contains("needs a duration"));
    assert!(err("! close now\n").message.contains("takes no argument"));
}

#[test]
fn unknown_placeholder_is_reported_at_its_column() {
    let e = err("# x\nS:  notif: {foo} x\n");
    assert_eq!((e.line, e.column), (2, 12));
    assert!(e.message.contains("unknown placeholder `{foo}`"), "{e}");
    let caret = format!("\n{}^\n", " ".repeat(4 + 11));
    assert!(e.to_string().contains(&caret), "{e}");
    let e = err("C: é{");
    assert_eq!(e.column, 5);
}

#[test]
fn front_matter_errors() {
    let e = err("---\ntitle: x\ncolour: red\n---\n");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("unknown field `colour`"), "{e}");
    let e = err("---\ntitel: x\n---\n");
    assert_eq!(e.help.as_deref(), Some("did you mean `title`?"));
    let e = err("---\nexpect: [S-NOTIF-WINDOWS]\n---\n");
    assert_eq!((e.line, e.column), (2, 10));
    assert_eq!(e.help.as_deref(), Some("did you mean `S-NOTIF-WINDOW`?"));
    let e = err("---\ntitle: x\nC: random?\n");
    assert_eq!(e.line, 1);
    assert!(e.message.contains("never closed"), "{e}");
}

#[test]
fn binary_input_is_a_located_error() {
    let e = parse_bytes(b"C: ok\nS: a\0b\n", "t").unwrap_err();
    assert_eq!((e.line, e.column), (2, 5));
    assert!(e.message.contains("NUL"), "{e}");
    let e = parse_bytes(b"C: \xc3\xa9\xff\n", "t").unwrap_err();
    assert_eq!((e.line, e.column), (1, 5));
    assert!(e.message.contains("UTF-8"), "{e}");
}

#[test]
fn nothing_may_follow_unrecorded() {
    let e = err("C: random?\n[...]\n\n# fine\nS: 1\n");
    assert_eq!(e.line, 5);
    assert!(e.message.contains("`[...]` (line 2)"), "{e}");
}

#[test]
fn overlong_line_is_refused() {
    let mut text = "C: ".to_string();
    text.push_str(&"x".repeat(MAX_LINE_LEN));
    let e = err(&text);
    assert_eq!(e.line, 1);
    assert!(e.message.contains("longer than"), "{e}");
}

#[test]
fn matcher() {
    let m = |raw: &str| Message::parse(raw).unwrap();
    assert!(m("{int}").matches("89765234756"));
    assert!(!m("{int}").matches(""));
    assert!(!m("{int}").matches("12a"));
    assert!(m("{text}").matches(""));
    assert!(m("ad: {text}!").matches("ad: a!b!"));
    assert!(m("{int}{int}").matches("12"));
    assert!(!m("{int}{int}").matches("1"));
    assert!(m("{{int}").matches("{int}"));
    assert!(!m("{{int}").matches("3"));
    assert!(m("").matches(""));
    assert_eq!(m("a {{b").literal(), Some("a {b"));
    assert_eq!(m("a {int}").literal(), None);
    assert_eq!(m("a {int} {text}").sample(), "a 1 some text");
    assert_eq!(m("a {{b").to_string(), "a {{b");
    assert_eq!(Message::literal_text(" {x} ").raw, "{{x}");
}

#[test]
fn entries_become_checker_events() {
    let t = parse("C: random?\nS: {int}\n! publish classified x\n! quiet 1s\n! close\n! expect close\n[...]\n", "t").unwrap();
    let ev: Vec<_> = t.entries.iter().map(Entry::to_event).collect();
    let Some(Some(e)) = ev.get(1) else { panic!() };
    assert_eq!(e.source_line, Some(2));
    assert!(matches!(&e.kind, EventKind::Line { from: Party::Server, text, .. } if text == "1"));
    assert!(matches!(
        ev[2].as_ref().unwrap().kind,
        EventKind::Published {
            kind: crate::ItemKind::Classified
        }
    ));
    assert!(matches!(
        ev[3].as_ref().unwrap().kind,
        EventKind::Quiet { .. }
    ));
    assert!(matches!(
        ev[4].as_ref().unwrap().kind,
        EventKind::Closed { by: Party::Client }
    ));
    assert!(matches!(
        ev[5].as_ref().unwrap().kind,
        EventKind::Closed { by: Party::Server }
    ));
    assert!(ev[6].is_none());
    // The streaming reader yields the same events.
    let mut r = Reader::new("C: random?\nS: {int}\n".as_bytes(), "t").unwrap();
    assert_eq!(r.next_event().unwrap(), ev[0]);
    assert_eq!(r.next_event().unwrap(), ev[1]);
    assert_eq!(r.next_event().unwrap(), None);
}

fn random_message(rng: &mut StdRng) -> Message {
    const PIECES: &[&str] = &[
        "a", "notif: ", "{", "}", "{int}", "é", " ", "OK", "{text}", "#", "!", "C:",
    ];
    let n = rng.random_range(0..6);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(PIECES[rng.random_range(0..PIECES.len())]);
    }
    // Recorded lines are literal: the writer escapes `{`; patterns go through `parse`.
    if rng.random_bool(0.5) {
        Message::literal_text(&s)
    } else {
        Message::parse(s.trim()).unwrap_or_else(|_| Message::literal_text(&s))
    }
}

fn random_transcript(rng: &mut StdRng) -> Transcript {
    let mut entries = Vec::new();
    for line in 0..rng.random_range(0..20) {
        let kind = match rng.random_range(0..8) {
            0 | 1 => EntryKind::Client(random_message(rng)),
            2 | 3 => EntryKind::Server(random_message(rng)),
            4 => EntryKind::Directive(Directive::PublishRandom(
                rng.random_bool(0.5)
                    .then(|| rng.random_range(0..1000u32).to_string()),
            )),
            5 => EntryKind::Directive(Directive::PublishClassified("ad {1} é".into())),
            6 => EntryKind::Directive(Directive::Quiet(Duration::from_millis(
                rng.random_range(1..100_000),
            ))),
            _ => EntryKind::Directive(if rng.random_bool(0.5) {
                Directive::Close
            } else {
                Directive::ExpectClose
            }),
        };
        entries.push(Entry { line, kind });
    }
    if rng.random_bool(0.2) {
        entries.push(Entry {
            line: 0,
            kind: EntryKind::Unrecorded,
        });
    }
    let front = FrontMatter {
        title: rng
            .random_bool(0.5)
            .then(|| "a: {title} #1 é \"q\"".to_string()),
        dialect: rng.random_bool(0.5).then(|| "dialects/x.yaml".to_string()),
        expect: if rng.random_bool(0.5) {
            Expectation::Pass
        } else {
            Expectation::Violates(vec![RuleId::CAck, RuleId::SNotifWindow])
        },
    };
    Transcript {
        path: None,
        front,
        entries,
    }
}

#[test]
fn write_then_parse_round_trips() {
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..500 {
        let t = random_transcript(&mut rng);
        let text = write(&t);
        let back = parse(&text, "w").unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
        assert_eq!(back.front.title, t.front.title);
        assert_eq!(back.front.dialect, t.front.dialect);
        let mut expect = t.front.expect.clone();
        if let Expectation::Violates(v) = &mut expect {
            v.sort();
        }
        assert_eq!(back.front.expect, expect);
        let kinds = |t: &Transcript| t.entries.iter().map(|e| e.kind.clone()).collect::<Vec<_>>();
        assert_eq!(kinds(&back), kinds(&t), "{text}");
        // Once written, the layout (and so the line numbers) is a fixed point.
        assert_eq!(parse(&write(&back), "w").unwrap(), back);
    }
}

#[test]
fn writer_streams_recordings_with_comments() {
    let mut w = TranscriptWriter::new(
        Vec::new(),
        &FrontMatter {
            title: Some("recorded".into()),
            dialect: Some("seed-text".into()),
            expect: Expectation::Pass,
        },
    )
    .unwrap();
    w.timestamp(Duration::from_millis(12)).unwrap();
    w.client("classified?").unwrap();
    w.server("ad {1}\nsecond").unwrap();
    w.server("").unwrap();
    w.comment("multi\nline").unwrap();
    w.directive(&Directive::Close).unwrap();
    let text = String::from_utf8(w.into_inner()).unwrap();
    assert!(
        text.contains("# +0.012s\nC: classified?\nS: ad {{1}"),
        "{text}"
    );
    let t = parse(&text, "w").unwrap();
    assert_eq!(t.front.dialect.as_deref(), Some("seed-text"));
    let EntryKind::Server(m) = &t.entries[1].kind else {
        panic!()
    };
    assert!(m.matches("ad {1} second"));
    assert_eq!(t.entries[2].kind, EntryKind::Server(lit("")));
    assert!(t.is_complete());
}

#[test]
fn generated_input_never_panics() {
    const LINES: &[&str] = &[
        "C: random?",
        "S: 1",
        "S:",
        "---",
        "title: x",
        "expect: [S-ERR]",
        "expect: {",
        "[...]",
        "! publish random",
        "! quiet",
        "! quiet 1s",
        "! expect",
        "!",
        "{",
        "S: {in",
        "S: {{",
        "# c",
        "",
        "  ",
        "dialect: [",
        "é",
        "C:{text}",
        "\r",
        "expect:\n - X",
    ];
    let mut rng = StdRng::seed_from_u64(42);
    for i in 0..5000 {
        let mut bytes = Vec::new();
        for _ in 0..rng.random_range(0..12) {
            if i % 3 == 0 {
                let mut junk = vec![0u8; rng.random_range(0..8)];
                rng.fill_bytes(&mut junk);
                bytes.extend(junk);
            } else {
                bytes.extend(LINES[rng.random_range(0..LINES.len())].as_bytes());
            }
            bytes.extend(if rng.random_bool(0.3) {
                &b"\r\n"[..]
            } else {
                b"\n"
            });
        }
        match parse_bytes(&bytes, "gen") {
            Ok(t) => assert_eq!(
                parse(&write(&t), "w").map(|b| b.entries.len()),
                Ok(t.entries.len())
            ),
            Err(e) => {
                // Every error is located and renders without panicking.
                let _ = e.to_string();
                assert!(e.line >= 1 && e.column >= 1, "{e:?}");
            }
        }
    }
}

/// Hands out its bytes `step` at a time, so lines straddle every read.
struct Trickle<'a>(&'a [u8], usize);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// Events through the streaming fast path (whole blocks at once).
fn pushed(input: impl std::io::Read) -> Result<Vec<crate::checker::Event>, ParseError> {
    let mut r = Reader::new(input, "t")?;
    let mut events = vec![];
    r.for_each_kind(|line, kind| events.extend(events::line_kind_event(line, &kind)))?;
    Ok(events)
}

/// Events entry by entry.
fn pulled(bytes: &[u8]) -> Result<Vec<crate::checker::Event>, ParseError> {
    let mut r = Reader::new(bytes, "t")?;
    let mut events = vec![];
    while let Some(e) = r.next_event()? {
        events.push(e);
    }
    Ok(events)
}

/// A transcript larger than the reader's block, with CRLF, placeholders, directives, a
/// comment longer than a block and a last line without a newline.
fn big_transcript() -> Vec<u8> {
    let mut t = Vec::new();
    generate_conforming(30_000, &mut t).unwrap();
    let mut text = String::from_utf8(t).unwrap();
    text.push_str("C: random?\r\nS: {int}\r\n! publish classified an ad\n# ");
    text.push_str(&"long comment ".repeat(30_000));
    text.push_str("\nC: classified?\nS: {text} and {{braces}}\n  S:   indented  \nC: OK");
    text.into_bytes()
}

#[test]
fn streaming_and_entry_by_entry_read_the_same_events() {
    let big = big_transcript();
    let expected = pulled(&big).unwrap();
    assert!(expected.len() > 25_000);
    assert_eq!(pushed(&big[..]).unwrap(), expected);
    assert_eq!(pushed(Trickle(&big, 7)).unwrap(), expected);
    assert_eq!(pushed(Trickle(&big, 100_003)).unwrap(), expected);
    // The whole-transcript parser agrees too.
    let parsed = parse(std::str::from_utf8(&big).unwrap(), "t").unwrap();
    let from_entries: Vec<_> = parsed.entries.iter().filter_map(Entry::to_event).collect();
    assert_eq!(from_entries, expected);
}

#[test]
fn streaming_reports_bad_bytes_where_entry_by_entry_does() {
    let big = big_transcript();
    // Bad bytes in the middle of a block, after many good lines.
    let at = big.len() / 3;
    let line_start = big[..at].iter().rposition(|b| *b == b'\n').unwrap() + 1;
    for bad in [&b"\xff\xfe"[..], b"\0", b"C: a\xc3"] {
        let mut input = big[..line_start].to_vec();
        input.extend_from_slice(b"C: ok");
        input.extend_from_slice(bad);
        input.extend_from_slice(b"\n");
        input.extend_from_slice(&big[line_start..]);
        let want = pulled(&input).unwrap_err();
        assert!(want.line > 1000, "{want}");
        for got in [pushed(&input[..]), pushed(Trickle(&input, 4096))] {
            let got = got.unwrap_err();
            assert_eq!((got.line, got.column), (want.line, want.column));
            assert_eq!(got.message, want.message);
        }
    }
    // A line over the limit is refused in both paths, with bounded memory.
    let mut input = b"C: random?\n# ".to_vec();
    input.resize(MAX_LINE_LEN + 100, b'x');
    input.extend_from_slice(b"\nS: 1\n");
    let want = pulled(&input).unwrap_err();
    assert_eq!(want.line, 2);
    assert_eq!(pushed(&input[..]).unwrap_err().line, 2);
}

#[test]
fn generated_transcripts_conform_on_both_paths() {
    for lines in [0, 1, 7, 8, 9, 100, 5_000] {
        let mut bytes = Vec::new();
        generate_conforming(lines, &mut bytes).unwrap();
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), lines);
        let t = parse(std::str::from_utf8(&bytes).unwrap(), "gen").unwrap();
        assert_eq!(t.front.expect, Expectation::Pass);
        let whole = crate::transcript::check_transcript(&t, &crate::dialect::Dialect::default());
        assert_eq!(whole, vec![], "{lines} lines");
        let mut reader = Reader::new(&bytes[..], "gen").unwrap();
        let mut checker = crate::checker::Checker::for_transcript(Default::default(), false);
        let mut streamed = vec![];
        reader.feed(&mut checker, |v| streamed.push(v)).unwrap();
        streamed.extend(checker.finish(reader.is_complete()));
        assert_eq!(streamed, whole, "{lines} lines");
    }
    // The generator is deterministic: a benchmark measures the same file everywhere.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    generate_conforming(1_000, &mut a).unwrap();
    generate_conforming(1_000, &mut b).unwrap();
    assert_eq!(a, b);
}

/// The streaming check takes the dialect's fixed lines whole (the checker's line table)
/// before splitting them; every other line goes the general way. Both must judge exactly as
/// [`check_transcript`](crate::checker::check_transcript) does on the parsed file, also on
/// broken conversations: generated ones with lines swapped, dropped, repeated, ended with
/// CRLF or spaces, cut by `[...]`, in both built-in dialects and one with an oversized line
/// limit of odd spellings.
#[test]
fn streaming_check_with_the_line_table_judges_like_the_whole_transcript() {
    let mut odd = crate::dialect::Dialect::default();
    odd.commands.random = "OK?".into();
    odd.answers.ok = "OK".into();
    odd.replies.stop_ok = "notif: OK".into();
    odd.notifications.random = "notif: r".into();
    let dialects = [
        crate::dialect::Dialect::default(),
        crate::dialect::Dialect::builtin("seed-text").unwrap(),
        odd,
    ];
    let mut rng = StdRng::seed_from_u64(14);
    let mut base = Vec::new();
    generate_conforming(400, &mut base).unwrap();
    let base = String::from_utf8(base).unwrap();
    // The body: the front matter is the first four lines.
    let lines: Vec<&str> = base.lines().skip(4).collect();
    let mut judged_violations = 0;
    for round in 0..300 {
        let mut out: Vec<String> = Vec::new();
        let start = rng.random_range(0..lines.len());
        for line in &lines[start..lines.len().min(start + 60)] {
            let mut l = line.to_string();
            match rng.random_range(0..24) {
                0 => continue,
                1 => out.push(l.clone()),
                2 => l.push('\r'),
                3 => l.push(' '),
                4 => l = l.replacen(": ", ":", 1),
                5 => l = l.replace("notif: ", "notif: OK"),
                6 if !out.is_empty() => {
                    let prev = out.pop().unwrap_or_default();
                    out.push(l.clone());
                    l = prev;
                }
                _ => {}
            }
            out.push(l);
        }
        match rng.random_range(0..4) {
            0 => out.push("! close".into()),
            1 => out.push("[...]\n# after".into()),
            _ => {}
        }
        let mut text = out.join("\n");
        if rng.random_bool(0.8) {
            text.push('\n');
        }
        let dialect = &dialects[round % dialects.len()];
        let t = parse(&text, "t").unwrap();
        let whole = crate::transcript::check_transcript(&t, dialect);
        let mut reader = Reader::new(text.as_bytes(), "t").unwrap();
        let mut checker = crate::checker::Checker::for_transcript(dialect.clone(), false);
        let mut streamed = vec![];
        reader.feed(&mut checker, |v| streamed.push(v)).unwrap();
        streamed.extend(checker.finish(reader.is_complete()));
        assert_eq!(streamed, whole, "round {round}:\n{text}");
        judged_violations += whole.len();
    }
    // The comparison covered broken conversations, not only conforming ones.
    assert!(judged_violations > 300, "{judged_violations}");
}
