//! JUnit XML, the format CI systems display: one `<testsuite>` per feature (and one more for
//! its offline checks of shipped transcripts, which do not test the target), one
//! `<testcase>` per scenario (classname = feature). A broken rule is a `<failure>` (rule ID,
//! message, diff and conversation; a setup failure says which rules it left unjudged),
//! trouble reaching or driving the implementation is an `<error>`, and a skipped scenario is
//! `<skipped>` with its reason. Written by hand: the
//! format is small, and escaping is the only subtle part.

use std::fmt::Write as _;

use super::outcome::{Outcome, RunReport, ScenarioReport, diff_of};

/// Escapes text for XML attributes and content, dropping characters XML 1.0 forbids
/// (control characters a misbehaving server may have sent).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn secs(s: &ScenarioReport) -> String {
    format!("{:.3}", s.duration.as_secs_f64())
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

fn testcase(out: &mut String, s: &ScenarioReport) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\" time=\"{}\"",
        escape(&s.feature),
        escape(&s.name),
        escape(&s.file),
        s.line,
        secs(s)
    );
    let inner = match &s.outcome {
        Outcome::Passed => None,
        Outcome::UnexpectedPass { rules } => Some(format!(
            "      <system-out>{}</system-out>\n",
            escape(&format!(
                "NOW PASSING although --expect-fail lists {}",
                rules
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        )),
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
            Some(format!(
                "      <failure type=\"{}\" message=\"{}\">{}</failure>\n",
                escape(&rule),
                escape(&format!("{rule}: {setup}{}", failure.message)),
                escape(&body(
                    step,
                    &failure.message,
                    diff_of(failure),
                    conversation
                ))
            ))
        }
        Outcome::Errored {
            step,
            message,
            conversation,
        } => Some(format!(
            "      <error type=\"error\" message=\"{}\">{}</error>\n",
            escape(message),
            escape(&body(step, message, None, conversation))
        )),
        Outcome::Skipped { reason } => {
            Some(format!("      <skipped message=\"{}\"/>\n", escape(reason)))
        }
        Outcome::ExpectedFailure {
            failure, reason, ..
        } => {
            let rule = failure.rule.map(|r| r.as_str()).unwrap_or("-");
            let why = reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            Some(format!(
                "      <skipped message=\"{}\"/>\n",
                escape(&format!(
                    "expected failure ({rule}{why}): {}",
                    failure.message
                ))
            ))
        }
    };
    match inner {
        None => out.push_str("/>\n"),
        Some(inner) => {
            out.push_str(">\n");
            out.push_str(&inner);
            out.push_str("    </testcase>\n");
        }
    }
}

#[derive(Default)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
    time: f64,
}

fn counts<'a>(it: impl Iterator<Item = &'a ScenarioReport>) -> Counts {
    let mut c = Counts::default();
    for s in it {
        c.tests += 1;
        c.time += s.duration.as_secs_f64();
        match s.outcome {
            Outcome::Failed { .. } => c.failures += 1,
            Outcome::Errored { .. } => c.errors += 1,
            Outcome::Skipped { .. } | Outcome::ExpectedFailure { .. } => c.skipped += 1,
            Outcome::Passed | Outcome::UnexpectedPass { .. } => {}
        }
    }
    c
}

/// The run as a JUnit XML document.
pub fn junit(r: &RunReport) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let all = counts(r.scenarios.iter());
    let _ = writeln!(
        out,
        "<testsuites name=\"notifspec conform: {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        escape(&r.target),
        all.tests,
        all.failures,
        all.errors,
        all.skipped,
        all.time
    );
    // Offline checks of the shipped transcripts get testsuites of their own, so a dashboard
    // never counts them as tests of the target.
    let mut features: Vec<(&str, bool)> = Vec::new();
    for s in &r.scenarios {
        if !features.contains(&(s.feature.as_str(), s.offline)) {
            features.push((&s.feature, s.offline));
        }
    }
    for (f, offline) in features {
        let of = || {
            r.scenarios
                .iter()
                .filter(move |s| s.feature == f && s.offline == offline)
        };
        let c = counts(of());
        let name = if offline {
            format!("{f} (offline: shipped transcripts, not the target)")
        } else {
            f.to_string()
        };
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            escape(&name),
            c.tests,
            c.failures,
            c.errors,
            c.skipped,
            c.time
        );
        for s in of() {
            testcase(&mut out, s);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// A JUnit document for a run that could not start because the target was unreachable:
/// one `<error>` test case, so a CI dashboard shows why nothing ran.
pub fn unreachable(target: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"notifspec conform: {t}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">\n\
         \x20 <testsuite name=\"notifspec conform\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">\n\
         \x20   <testcase classname=\"notifspec conform\" name=\"reach the implementation under test\">\n\
         \x20     <error type=\"unreachable\" message=\"{m}\">{m}</error>\n\
         \x20   </testcase>\n\
         \x20 </testsuite>\n\
         </testsuites>\n",
        t = escape(target),
        m = escape(message)
    )
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
            xml.contains("tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\""),
            "{xml}"
        );
        assert!(
            xml.contains("classname=\"Answers &amp; &lt;windows&gt;\""),
            "{xml}"
        );
        assert!(xml.contains("<failure type=\"S-NOTIF-WINDOW\" message=\"S-NOTIF-WINDOW: two notifications &lt;unanswered&gt; &amp; &quot;more&quot;\\u{1}\">"), "{xml}");
        assert!(xml.contains("- expected: &lt;nothing&gt;"), "{xml}");
        assert!(
            xml.contains("<error type=\"error\" message=\"cannot connect"),
            "{xml}"
        );
        assert!(
            xml.contains("<skipped message=\"needs a control port\"/>"),
            "{xml}"
        );
        assert!(!xml.contains('\u{1}'));
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
                 not the target)\" tests=\"1\" failures=\"0\""
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<testsuite name=\"Answers &amp; &lt;windows&gt;\" tests=\"1\" failures=\"1\""
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

    #[test]
    fn an_unreachable_target_is_one_error() {
        let xml = unreachable(
            "server 127.0.0.1:1",
            "cannot connect to 127.0.0.1:1: refused <x>",
        );
        well_formed(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        assert!(xml.contains("errors=\"1\""), "{xml}");
        assert!(xml.contains("<error type=\"unreachable\" message=\"cannot connect to 127.0.0.1:1: refused &lt;x&gt;\">"), "{xml}");
    }
}
