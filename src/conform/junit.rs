//! JUnit XML, the format CI systems display: one `<testsuite>` per feature (and one more for
//! its offline checks of shipped transcripts, which do not test the target), one
//! `<testcase>` per scenario (classname = feature, with `file` and `line`). A broken rule is a
//! `<failure>` (rule ID, message, diff and conversation; a setup failure says which rules it
//! left unjudged), trouble reaching or driving the implementation is an `<error>`, and a
//! skipped scenario is `<skipped>` with its reason.
//! Serialised by `quick-junit`; this module only maps outcomes onto its model.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::outcome::{Outcome, RunReport, ScenarioReport, diff_of};

/// Makes characters XML 1.0 forbids (control characters a misbehaving server may have sent)
/// visible as `\u{..}`, instead of letting them vanish: the report must show what was sent.
/// Markup escaping is the serialiser's.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn body(step: &str, message: &str, diff: Option<String>, conversation: &[String]) -> String {
    let mut b = format!("step: {step}\n{message}\n");
    if let Some(d) = diff {
        b.push_str(&d);
        b.push('\n');
    }
    if !conversation.is_empty() {
        b.push_str("conversation:\n");
        for l in conversation {
            let _ = writeln!(b, "  {l}");
        }
    }
    b
}

fn status_of(s: &ScenarioReport) -> (TestCaseStatus, Option<String>) {
    match &s.outcome {
        Outcome::Passed => (TestCaseStatus::success(), None),
        Outcome::UnexpectedPass { rules } => (
            TestCaseStatus::success(),
            Some(format!(
                "NOW PASSING although --expect-fail lists {}",
                rules
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ),
        Outcome::Failed {
            step,
            failure,
            conversation,
        } => {
            let rule = failure
                .rule
                .map(|r| r.as_str().to_string())
                .unwrap_or_else(|| {
                    s.rules
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                });
            let setup = if failure.setup {
                let blocks: Vec<&str> = failure.blocks.iter().map(|r| r.as_str()).collect();
                if blocks.is_empty() {
                    "setup failure: ".to_string()
                } else {
                    format!("setup failure (blocks {}): ", blocks.join(", "))
                }
            } else {
                String::new()
            };
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_type(visible(&rule))
                .set_message(visible(&format!("{rule}: {setup}{}", failure.message)))
                .set_description(visible(&body(
                    step,
                    &failure.message,
                    diff_of(failure),
                    conversation,
                )));
            (st, None)
        }
        Outcome::Errored {
            step,
            message,
            conversation,
        } => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            st.set_type("error")
                .set_message(visible(message))
                .set_description(visible(&body(step, message, None, conversation)));
            (st, None)
        }
        Outcome::Skipped { reason } => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(visible(reason));
            (st, None)
        }
        Outcome::ExpectedFailure {
            failure, reason, ..
        } => {
            let rule = failure.rule.map(|r| r.as_str()).unwrap_or("-");
            let why = reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            let mut st = TestCaseStatus::skipped();
            st.set_message(visible(&format!(
                "expected failure ({rule}{why}): {}",
                failure.message
            )));
            (st, None)
        }
    }
}

fn testcase(s: &ScenarioReport) -> TestCase {
    let (status, out) = status_of(s);
    let mut tc = TestCase::new(visible(&s.name), status);
    tc.set_classname(visible(&s.feature))
        .set_time(Duration::from_millis(
            s.duration.as_millis().try_into().unwrap_or(u64::MAX),
        ));
    tc.extra.insert("file".into(), visible(&s.file).into());
    tc.extra.insert("line".into(), s.line.to_string().into());
    if let Some(out) = out {
        tc.set_system_out(visible(&out));
    }
    tc
}

fn xml(report: &Report) -> String {
    // Serialising into memory fails only on a bug in the serialiser.
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot serialise the report: {e} -->\n"))
}

/// The run as a JUnit XML document.
pub fn junit(r: &RunReport) -> String {
    let mut report = Report::new(visible(&format!("notifspec conform: {}", r.target)));
    // Offline checks of the shipped transcripts get testsuites of their own, so a dashboard
    // never counts them as tests of the target.
    let mut features: Vec<(&str, bool)> = Vec::new();
    for s in &r.scenarios {
        if !features.contains(&(s.feature.as_str(), s.offline)) {
            features.push((&s.feature, s.offline));
        }
    }
    let mut total = Duration::ZERO;
    for (f, offline) in features {
        let name = if offline {
            format!("{f} (offline: shipped transcripts, not the target)")
        } else {
            f.to_string()
        };
        let mut suite = TestSuite::new(visible(&name));
        let mut time = Duration::ZERO;
        for s in r
            .scenarios
            .iter()
            .filter(|s| s.feature == f && s.offline == offline)
        {
            time += s.duration;
            suite.add_test_case(testcase(s));
        }
        suite.set_time(time);
        total += time;
        report.add_test_suite(suite);
    }
    report.set_time(total);
    xml(&report)
}

/// A JUnit document for a run that could not start because the target was unreachable:
/// one `<error>` test case, so a CI dashboard shows why nothing ran.
pub fn unreachable(target: &str, message: &str) -> String {
    let mut report = Report::new(visible(&format!("notifspec conform: {target}")));
    let mut suite = TestSuite::new("notifspec conform");
    let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
    st.set_type("unreachable")
        .set_message(visible(message))
        .set_description(visible(message));
    let mut tc = TestCase::new("reach the implementation under test", st);
    tc.set_classname("notifspec conform");
    suite.add_test_case(tc);
    report.add_test_suite(suite);
    xml(&report)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::conform::failure::Failure;
    use crate::rule::RuleId;

    fn scenario(name: &str, outcome: Outcome) -> ScenarioReport {
        ScenarioReport {
            feature: "Answers & <windows>".into(),
            file: "features/answers.feature".into(),
            name: name.into(),
            line: 7,
            rules: vec![RuleId::SNotifWindow],
            offline: false,
            outcome,
            duration: Duration::from_millis(12),
        }
    }

    /// A small well-formedness check: every tag closes in order, attributes are quoted,
    /// no raw `&` or `<` in text.
    fn well_formed(xml: &str) -> Result<(), String> {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = xml.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        while let Some(i) = rest.find('<') {
            let text = &rest[..i];
            if text.contains('>')
                || text
                    .replace("&amp;", "")
                    .replace("&lt;", "")
                    .replace("&gt;", "")
                    .replace("&quot;", "")
                    .replace("&apos;", "")
                    .contains('&')
            {
                return Err(format!("unescaped text: {text:?}"));
            }
            let end = rest[i..].find('>').ok_or("unclosed tag")? + i;
            let tag = &rest[i + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack.pop().ok_or("close without open")?;
                if open != name {
                    return Err(format!("</{name}> closes <{open}>"));
                }
            } else if !tag.ends_with('/') {
                stack.push(tag.split_whitespace().next().unwrap_or("").to_string());
            }
            if !tag.matches('"').count().is_multiple_of(2) {
                return Err(format!("unbalanced quotes in <{tag}>"));
            }
            rest = &rest[end + 1..];
        }
        if stack.is_empty() {
            Ok(())
        } else {
            Err(format!("unclosed: {stack:?}"))
        }
    }

    #[test]
    fn failures_errors_and_skips_are_distinct_and_escaped() {
        let failure = Failure::new(
            Some(RuleId::SNotifWindow),
            "two notifications <unanswered> & \"more\"\u{1}",
        )
        .diff("<nothing>", "notif: random");
        let report = RunReport {
            target: "server 127.0.0.1:1".into(),
            dialect: "seed-session".into(),
            scenarios: vec![
                scenario("passes", Outcome::Passed),
                scenario(
                    "fails",
                    Outcome::Failed {
                        step: "Then client A receives nothing for 200 ms".into(),
                        failure,
                        conversation: vec!["client A S: notif: random".into()],
                    },
                ),
                scenario(
                    "errs",
                    Outcome::Errored {
                        step: "Given client A is connected".into(),
                        message: "cannot connect to 127.0.0.1:1: refused".into(),
                        conversation: vec![],
                    },
                ),
                scenario(
                    "skips",
                    Outcome::Skipped {
                        reason: "needs a control port".into(),
                    },
                ),
            ],
        };
        let xml = junit(&report);
        well_formed(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        assert!(
            xml.contains("tests=\"4\" skipped=\"1\" failures=\"1\" errors=\"1\""),
            "{xml}"
        );
        assert!(
            xml.contains("classname=\"Answers &amp; &lt;windows&gt;\""),
            "{xml}"
        );
        assert!(xml.contains("<failure message=\"S-NOTIF-WINDOW: two notifications &lt;unanswered&gt; &amp; &quot;more&quot;\\u{1}\" type=\"S-NOTIF-WINDOW\">"), "{xml}");
        assert!(xml.contains("- expected: &lt;nothing&gt;"), "{xml}");
        assert!(
            xml.contains(
                "<error message=\"cannot connect to 127.0.0.1:1: refused\" type=\"error\">"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("file=\"features/answers.feature\" line=\"7\""),
            "{xml}"
        );
        assert!(
            xml.contains("<skipped message=\"needs a control port\"/>"),
            "{xml}"
        );
        assert!(!xml.contains('\u{1}'));
    }

    #[test]
    fn an_unreachable_target_is_one_error() {
        let xml = unreachable(
            "server 127.0.0.1:1",
            "cannot connect to 127.0.0.1:1: refused <x>",
        );
        well_formed(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        assert!(xml.contains("errors=\"1\""), "{xml}");
        assert!(xml.contains("<error message=\"cannot connect to 127.0.0.1:1: refused &lt;x&gt;\" type=\"unreachable\">"), "{xml}");
    }

    #[test]
    fn offline_checks_get_their_own_testsuite_and_setup_failures_say_what_they_block() {
        let mut failure = Failure::new(Some(RuleId::SModeAck), "no ack");
        failure.setup = true;
        failure.blocks = vec![RuleId::SNotifWindow];
        let mut offline = scenario("a negative transcript is flagged", Outcome::Passed);
        offline.offline = true;
        let report = RunReport {
            target: "server 127.0.0.1:1".into(),
            dialect: "seed-session".into(),
            scenarios: vec![
                scenario(
                    "window",
                    Outcome::Failed {
                        step: "And client A is in notification mode".into(),
                        failure,
                        conversation: vec![],
                    },
                ),
                offline,
            ],
        };
        let xml = junit(&report);
        well_formed(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        assert!(
            xml.contains("message=\"S-MODE-ACK: setup failure (blocks S-NOTIF-WINDOW): no ack\""),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<testsuite name=\"Answers &amp; &lt;windows&gt; (offline: shipped transcripts, \
                 not the target)\" tests=\"1\" skipped=\"0\" errors=\"0\" failures=\"0\""
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<testsuite name=\"Answers &amp; &lt;windows&gt;\" tests=\"1\" skipped=\"0\" errors=\"0\" failures=\"1\""
            ),
            "{xml}"
        );
        let t = report.totals();
        assert_eq!((t.passed, t.failed, t.setup_failures), (0, 1, 1));
        assert_eq!((t.offline_passed, t.offline_failed), (1, 0));
        let text = crate::conform::render::text(&report);
        assert!(text.contains("FAIL (setup) [S-MODE-ACK] window"), "{text}");
        assert!(
            text.ends_with("0 passed, 1 failed (1 in setup), 0 skipped\n"),
            "{text}"
        );
    }
}
