//! `conform --junit` output validated against the common JUnit schema (`tests/data/junit.xsd`).
//!
//! The schema is read here, not restated: each global `xs:element` gives the children it
//! allows (by `ref`), its attributes with their types, which are required, and whether it
//! holds text. The document must use only declared elements, in allowed places, with declared
//! attributes of the right type, the required ones present, and its counts must add up.

use std::collections::BTreeMap;
use std::time::Duration;

use notifspec::RuleId;
use notifspec::conform::junit;
use notifspec::conform::world::Failure;
use notifspec::conform::{Outcome, RunReport, ScenarioReport};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

#[derive(Debug, Default)]
struct ElementRule {
    children: Vec<String>,
    /// name → (type, required)
    attributes: BTreeMap<String, (String, bool)>,
    text: bool,
}

fn attr(e: &BytesStart, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name.as_bytes())
        .map(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .expect("attribute")
                .into_owned()
        })
}

/// The element rules of the vendored schema.
fn schema() -> BTreeMap<String, ElementRule> {
    let xsd = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/junit.xsd"))
        .unwrap();
    let mut reader = Reader::from_str(&xsd);
    let mut rules: BTreeMap<String, ElementRule> = BTreeMap::new();
    let mut depth = 0usize;
    let mut current: Option<String> = None;
    loop {
        let (e, empty) = match reader.read_event().expect("the schema parses") {
            Event::Eof => break,
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                depth -= 1;
                if depth == 1 {
                    current = None;
                }
                continue;
            }
            _ => continue,
        };
        let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
        if name == "xs:element" && depth == 1 {
            let n = attr(&e, "name").expect("global elements are named");
            let rule = rules.entry(n.clone()).or_default();
            rule.text = attr(&e, "type").as_deref() == Some("xs:string");
            current = Some(n);
        } else if let Some(cur) = &current {
            let rule = rules.get_mut(cur).unwrap();
            match name.as_str() {
                "xs:element" => rule
                    .children
                    .push(attr(&e, "ref").expect("children by ref")),
                "xs:attribute" => {
                    rule.attributes.insert(
                        attr(&e, "name").unwrap(),
                        (
                            attr(&e, "type").unwrap(),
                            attr(&e, "use").as_deref() == Some("required"),
                        ),
                    );
                }
                "xs:complexType" => rule.text |= attr(&e, "mixed").as_deref() == Some("true"),
                _ => {}
            }
        }
        if !empty {
            depth += 1;
        }
    }
    assert!(rules.len() >= 9, "{rules:?}");
    rules
}

fn check_value(ty: &str, v: &str) -> bool {
    match ty {
        "xs:string" => true,
        "xs:nonNegativeInteger" => !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()),
        "xs:decimal" => v.parse::<f64>().is_ok_and(f64::is_finite),
        other => panic!("type {other} is not handled"),
    }
}

/// Validates `xml`; on success returns, per element name, the number of occurrences.
fn validate(xml: &str) -> Result<BTreeMap<String, usize>, String> {
    let rules = schema();
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut roots = 0;
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("not well-formed: {e}"))?;
        let (e, empty) = match ev {
            Event::Eof => break,
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| e.to_string())?;
                if !text.trim().is_empty() {
                    let parent = stack.last().ok_or("text outside the root")?;
                    if !rules[parent].text {
                        return Err(format!("<{parent}> holds no text, found {text:?}"));
                    }
                }
                continue;
            }
            _ => continue,
        };
        let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
        let rule = rules
            .get(&name)
            .ok_or_else(|| format!("<{name}> is not in the schema"))?;
        match stack.last() {
            None => {
                roots += 1;
                if name != "testsuites" {
                    return Err(format!("the root is <{name}>, not <testsuites>"));
                }
            }
            Some(parent) if !rules[parent].children.contains(&name) => {
                return Err(format!("<{name}> is not allowed in <{parent}>"));
            }
            Some(_) => {}
        }
        let mut present = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|e| e.to_string())?;
            let key = String::from_utf8(a.key.as_ref().to_vec()).unwrap();
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| e.to_string())?;
            let (ty, _) = rule
                .attributes
                .get(&key)
                .ok_or_else(|| format!("<{name}> has no attribute `{key}`"))?;
            if !check_value(ty, &value) {
                return Err(format!("<{name} {key}=\"{value}\">: not an {ty}"));
            }
            present.push(key);
        }
        for (key, (_, required)) in &rule.attributes {
            if *required && !present.contains(key) {
                return Err(format!("<{name}> lacks the required `{key}`"));
            }
        }
        *seen.entry(name.clone()).or_default() += 1;
        if !empty {
            stack.push(name);
        }
    }
    if roots != 1 || !stack.is_empty() {
        return Err(format!("{roots} roots, unclosed {stack:?}"));
    }
    Ok(seen)
}

fn scenario(feature: &str, name: &str, outcome: Outcome) -> ScenarioReport {
    ScenarioReport {
        feature: feature.into(),
        file: "features/answers.feature".into(),
        name: name.into(),
        line: 7,
        rules: vec![RuleId::SNotifWindow],
        offline: false,
        outcome,
        duration: Duration::from_millis(12),
    }
}

#[test]
fn every_outcome_gives_schema_valid_junit() {
    let failure = Failure {
        rule: Some(RuleId::SNotifWindow),
        message: "two <notifications> & \"quotes\" \u{1b}[31m\u{0}".into(),
        expected: Some("<nothing>".into()),
        got: Some("notif: random".into()),
        setup: false,
        blocks: Vec::new(),
    };
    let report = RunReport {
        target: "server 127.0.0.1:1 & <co>".into(),
        dialect: "seed-session".into(),
        scenarios: vec![
            scenario("A", "passes", Outcome::Passed),
            scenario(
                "A",
                "fails",
                Outcome::Failed {
                    step: "Then client A receives nothing for 200 ms".into(),
                    failure: failure.clone(),
                    conversation: vec!["+0.001s client A S: notif: random\u{7}".into()],
                },
            ),
            scenario(
                "B",
                "errs",
                Outcome::Errored {
                    step: "Given client A is connected".into(),
                    message: "cannot connect".into(),
                    conversation: Vec::new(),
                },
            ),
            scenario(
                "B",
                "skips",
                Outcome::Skipped {
                    reason: "needs a control port".into(),
                },
            ),
            scenario(
                "B",
                "known",
                Outcome::ExpectedFailure {
                    step: "s".into(),
                    failure,
                    reason: Some("later".into()),
                },
            ),
            scenario(
                "C",
                "now passes",
                Outcome::UnexpectedPass {
                    rules: vec![RuleId::SNotifWindow],
                },
            ),
        ],
    };
    let xml = junit::junit(&report);
    let seen = validate(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert_eq!(seen["testsuite"], 3, "{xml}");
    assert_eq!(seen["testcase"], 6, "{xml}");
    assert_eq!(seen["failure"], 1, "{xml}");
    assert_eq!(seen["error"], 1, "{xml}");
    assert_eq!(seen["skipped"], 2, "{xml}");
    assert_eq!(seen["system-out"], 1, "{xml}");
    // Control characters are shown, not dropped: the report must show what was sent.
    assert!(xml.contains("\\u{1b}[31m\\u{0}"), "{xml}");
    assert!(
        xml.contains("tests=\"6\" skipped=\"2\" failures=\"1\" errors=\"1\""),
        "{xml}"
    );

    let xml = junit::unreachable("server <x>", "refused & gone");
    let seen = validate(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert_eq!(seen["error"], 1);
}

#[test]
fn the_validator_rejects_what_the_schema_forbids() {
    let ok = "<testsuites><testsuite name=\"a\" tests=\"1\"><testcase name=\"t\"/></testsuite></testsuites>";
    validate(ok).unwrap();
    for (bad, why) in [
        ("<testsuite name=\"a\" tests=\"1\"/>", "root"),
        (
            "<testsuites><testcase name=\"t\"/></testsuites>",
            "not allowed",
        ),
        (
            "<testsuites><testsuite tests=\"1\"/></testsuites>",
            "required",
        ),
        (
            "<testsuites><testsuite name=\"a\" tests=\"x\"/></testsuites>",
            "not an",
        ),
        (
            "<testsuites><testsuite name=\"a\" tests=\"1\" colour=\"red\"/></testsuites>",
            "no attribute",
        ),
        (
            "<testsuites><testsuite name=\"a\" tests=\"1\">text</testsuite></testsuites>",
            "no text",
        ),
        ("<testsuites><bogus/></testsuites>", "not in the schema"),
        (
            "<testsuites><testsuite name=\"a\" tests=\"1\"></testsuites>",
            "well-formed",
        ),
    ] {
        let e = validate(bad).unwrap_err();
        assert!(e.contains(why), "{bad}: {e}");
    }
}
