use std::time::Duration;

use super::build::conversation_diagram;
use super::*;
use crate::conform::failure::Failure;
use crate::dialect::Dialect;
use crate::rule::Party;

fn arrow(from: Party, text: &str) -> Step {
    Step::new(What::Arrow(Arrow {
        client: 0,
        from,
        text: text.into(),
        style: diagram::ArrowStyle::Sent,
    }))
}

fn failing_case(name: &str, lines: usize) -> Case {
    let mut d = Diagram::default();
    d.lane("client");
    for i in 0..lines {
        let mut s = arrow(
            if i % 2 == 0 {
                Party::Client
            } else {
                Party::Server
            },
            "random?",
        );
        s.line = Some(i + 1);
        s.at = Some(Duration::from_millis(i as u64));
        d.steps.push(s);
    }
    d.mark_line(
        Some(lines),
        Mark {
            kind: MarkKind::Violation,
            rule: Some(RuleId::SRandomInt),
            message: "the reply to random? is `seven`, not an integer".into(),
        },
    );
    let mut c = Case::new(name, Status::Fail);
    c.messages
        .push("S-RANDOM-INT: the reply is not an integer".into());
    c.diagram = Some(d);
    c
}

fn page(cases: Vec<Case>) -> Page {
    Page {
        command: "check".into(),
        verdict: "FAIL".into(),
        summary: "1 passed, 1 failed".into(),
        facts: vec![("dialect".into(), "seed".into())],
        rule_columns: vec!["passed".into(), "failed".into()],
        rules: vec![RuleLine {
            rule: RuleId::SRandomInt,
            cells: vec!["0".into(), "1".into()],
            bad: true,
            note: "first failure".into(),
        }],
        coverage: Some(("1 of 2 rules exercised.".into(), vec!["C-ACK: no".into()])),
        cases,
    }
}

#[test]
fn a_failure_shows_rule_id_sentence_message_and_a_red_arrow() {
    let html = page(vec![
        failing_case("bad.txt", 4),
        Case::new("good.txt", Status::Pass),
    ])
    .render();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("<table class=\"rules\">"));
    assert!(html.contains("<tr class=\"bad\" id=\"rule-S-RANDOM-INT\">"));
    // The offending line is red, carries its rule ID, and the list under the drawing gives the
    // catalog's sentence and the checker's message.
    assert!(
        html.contains("<g class=\"arrow bad\" data-rule=\"S-RANDOM-INT\">"),
        "{html}"
    );
    assert!(html.contains("stroke=\"#c62828\""));
    assert!(html.contains(&escape::escape(RuleId::SRandomInt.statement())));
    assert!(html.contains("the reply to random? is `seven`, not an integer"));
    assert!(html.contains("<span class=\"line\">line 4</span>"));
    // Times and transcript lines in the gutter.
    assert!(html.contains(">+3.0ms<") && html.contains(">L4<"), "{html}");
    // The passing case is collapsed.
    assert!(html.contains("<details>\n<summary>Passed (1)</summary>\n<ul>\n<li>good.txt"));
    // Self-contained: nothing is fetched, nothing runs.
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    for banned in ["<script", " src=", " href=", "url(", "@import"] {
        assert!(!html.contains(banned), "{banned}");
    }
}

#[test]
fn hostile_text_is_escaped_everywhere() {
    let evil = "</title><script>alert(1)</script>\u{202e}";
    let mut c = failing_case(evil, 2);
    c.messages.push(evil.into());
    c.detail = Some(evil.into());
    c.location = evil.into();
    if let Some(d) = &mut c.diagram {
        d.steps.push(arrow(Party::Server, evil));
        d.steps.push(Step::new(What::Note(evil.into())));
        d.loose.push(Mark {
            kind: MarkKind::Violation,
            rule: None,
            message: evil.into(),
        });
        d.lane(evil);
    }
    let mut p = page(vec![c, Case::new(evil, Status::Pass)]);
    p.facts.push((evil.into(), evil.into()));
    p.summary = evil.into();
    let html = p.render();
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains('\u{202e}'));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[test]
fn a_notification_crossing_stop_notif_is_drawn_overlapping_it() {
    let dialect = Dialect::default();
    let lines: Vec<String> = [
        "+0.000s client A C: notif_on",
        "+0.001s client A S: OK",
        "+0.050s client A C: stop_notif",
        "+0.050s client A S: notif: random",
        "+0.051s client A S: OK",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let d = conversation_diagram(&lines, None, &dialect);
    assert_eq!(d.clients, vec!["client A".to_string()]);
    assert_eq!(d.steps[2].crossed_by, 1);
    assert_eq!(d.steps[3].at, Some(Duration::from_millis(50)));
    let mut html = String::new();
    d.render_into(&mut html);
    // Two crossing arrows: the stop goes down a row to the server while the notification
    // goes down the same row to the client, so their segments intersect.
    let crossing: Vec<&str> = html.matches("<g class=\"arrow crossing\">").collect();
    assert_eq!(crossing.len(), 2, "{html}");
    let coords = |g: &str| -> [f64; 4] {
        let at = html.find(g).unwrap();
        let line = &html[at..];
        let line = &line[line.find("<line ").unwrap()..];
        let num = |k: &str| -> f64 {
            let i = line.find(&format!("{k}=\"")).unwrap() + k.len() + 2;
            line[i..i + line[i..].find('"').unwrap()].parse().unwrap()
        };
        [num("x1"), num("y1"), num("x2"), num("y2")]
    };
    let first = html.find("<g class=\"arrow crossing\">").unwrap();
    let stop = coords("<g class=\"arrow crossing\"><title>C: stop_notif");
    let notif = coords("<g class=\"arrow crossing\"><title>S: notif: random");
    assert!(html[first..].starts_with("<g class=\"arrow crossing\"><title>C: stop_notif"));
    // Same rows, opposite directions.
    assert_eq!((stop[1], stop[3]), (notif[1], notif[3]));
    assert_eq!((stop[0], stop[2]), (notif[2], notif[0]));
    assert!(stop[3] > stop[1]);
}

#[test]
fn a_conform_failure_is_marked_on_the_line_it_got() {
    let dialect = Dialect::default();
    let lines: Vec<String> = [
        "+0.000s client A C: random?",
        "+0.002s client A S: seven",
        "+0.003s ! publish random 5",
        "+0.004s client B C: random?",
        "+0.100s client B <closed by the server>",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let failure = Failure {
        rule: Some(RuleId::SRandomInt),
        message: "client A: `seven` is not an integer".into(),
        expected: Some("an integer".into()),
        got: Some("seven".into()),
        setup: false,
        blocks: Vec::new(),
    };
    let mark = Mark {
        kind: MarkKind::Violation,
        rule: failure.rule,
        message: failure.message.clone(),
    };
    let d = conversation_diagram(&lines, Some((mark, &failure)), &dialect);
    assert_eq!(
        d.clients,
        vec!["client A".to_string(), "client B".to_string()]
    );
    assert_eq!(d.steps[1].marks.len(), 1, "{d:?}");
    assert!(d.loose.is_empty());
    assert_eq!(d.steps[2].what, What::Note("! publish random 5".into()));
    assert_eq!(
        d.steps[4].what,
        What::Note("client B <closed by the server>".into())
    );
    let What::Arrow(a) = &d.steps[3].what else {
        panic!("{d:?}")
    };
    assert_eq!((a.client, a.from), (1, Party::Client));
}

#[test]
fn a_thousand_cases_stay_small() {
    let mut cases: Vec<Case> = (0..900)
        .map(|i| {
            let mut c = Case::new(format!("scenario number {i}"), Status::Pass);
            c.location = format!("features/area.feature:{i}");
            c
        })
        .collect();
    cases.extend((0..100).map(|i| failing_case(&format!("failing {i}"), 40)));
    let size = page(cases.clone()).render().len();
    eprintln!("1000 cases, 100 failing: {size} bytes");
    assert!(size < 3_000_000, "{size} bytes");
    // Even if every case fails, only the first MAX_DIAGRAMS are drawn.
    cases.extend((0..900).map(|i| failing_case(&format!("also failing {i}"), 40)));
    let size = page(cases).render().len();
    assert!(size < 6_000_000, "{size} bytes");
}

#[test]
fn the_report_file_is_never_overwritten_silently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.html");
    write_file(&path, "one", false).unwrap();
    let args = HtmlArgs {
        html: Some(path.clone()),
        html_overwrite: false,
    };
    let e = args.precheck().unwrap_err();
    assert!(
        e.contains("exists") && e.contains("--html-overwrite"),
        "{e}"
    );
    assert!(write_file(&path, "two", false).is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "one");
    let args = HtmlArgs {
        html_overwrite: true,
        ..args
    };
    args.precheck().unwrap();
    args.write(|| page(Vec::new())).unwrap();
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
}
