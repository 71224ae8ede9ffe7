//! `notifspec steps [SENTENCE]`: the step vocabulary a `.feature` file may use (for
//! `conform --features`), grouped by domain, each sentence with its parameters and a real
//! example from the embedded features. Given a sentence, says which step it is, or names the
//! closest ones.

use std::io::Write as _;

use serde::Serialize;

use crate::cmd::{OutputFormat, Status};
use crate::conform::pattern::matches;
use crate::conform::steps::{self, by_domain, closest, hole_help};

/// Arguments of `notifspec steps`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A step sentence (without `Given`/`When`/`Then`) to look up: exit 0 when a step matches
    /// it, 1 (naming the closest steps) when none does.
    #[arg(value_name = "SENTENCE")]
    pub sentence: Option<String>,
    /// Output format: `text` or `json`.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// One sentence of the vocabulary.
#[derive(Debug, Serialize)]
pub struct StepInfo {
    /// The pattern, with its holes (`client {word} sends {string}`).
    pub pattern: &'static str,
    /// Each hole and what it takes.
    pub params: Vec<Param>,
    /// A use of it, with its keyword.
    pub example: String,
    /// Where the example comes from (`features/requests.feature:12`), when it is real.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example_at: Option<String>,
}

/// One hole of a pattern.
#[derive(Debug, Serialize)]
pub struct Param {
    /// `{word}`, `{string}`, `{int}` or `{duration}`.
    pub hole: &'static str,
    /// What it takes.
    pub help: &'static str,
}

/// One domain.
#[derive(Debug, Serialize)]
pub struct Domain {
    /// Its title.
    pub domain: &'static str,
    /// Its sentences.
    pub steps: Vec<StepInfo>,
}

/// The vocabulary, with an example of each sentence (from the embedded features when one
/// uses it, else made up).
pub fn vocabulary() -> Vec<Domain> {
    by_domain()
        .into_iter()
        .map(|(domain, patterns)| Domain {
            domain,
            steps: patterns.into_iter().map(info).collect(),
        })
        .collect()
}

fn info(pattern: &'static str) -> StepInfo {
    let mut params: Vec<Param> = Vec::new();
    for hole in ["{word}", "{string}", "{int}", "{duration}"] {
        if pattern.contains(hole)
            && let Some(help) = hole_help(hole)
        {
            params.push(Param { hole, help });
        }
    }
    params.sort_by_key(|p| pattern.find(p.hole));
    let (example, example_at) = match real_example(pattern) {
        Some((line, at)) => (line, Some(at)),
        None => (
            format!(
                "When {}",
                pattern
                    .replace("{string}", "\"random?\"")
                    .replace("{word}", "A")
                    .replace("{int}", "3")
                    .replace("{duration}", "100 ms")
            ),
            None,
        ),
    };
    StepInfo {
        pattern,
        params,
        example,
        example_at,
    }
}

/// The first step line of the embedded features that uses `pattern` (outline lines with
/// `<placeholders>` are skipped), with where it is.
fn real_example(pattern: &str) -> Option<(String, String)> {
    for (file, text) in crate::conform::suite::FEATURES {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            let Some((keyword, rest)) = line.split_once(' ') else {
                continue;
            };
            if !matches!(keyword, "Given" | "When" | "Then" | "And" | "But") || rest.contains('<') {
                continue;
            }
            if matches(pattern, rest).is_some() {
                return Some((line.to_string(), format!("{file}:{}", i + 1)));
            }
        }
    }
    None
}

/// Runs the command.
pub fn run(args: Args) -> Status {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Some(sentence) = &args.sentence {
        let sentence = strip_keyword(sentence);
        let (status, found) = match steps::parse(sentence) {
            Ok(_) => {
                let p = steps::patterns()
                    .into_iter()
                    .find(|p| matches(p, sentence).is_some());
                (Status::Pass, p.into_iter().collect::<Vec<_>>())
            }
            // A sentence that matches but has a bad value (an unknown item kind): say why.
            Err(e) if !matches!(e, steps::StepParseError::NoMatch { .. }) => {
                eprintln!("notifspec steps: {e}");
                return Status::Fail;
            }
            Err(_) => (Status::Fail, closest(sentence, 3)),
        };
        let written = match args.format {
            OutputFormat::Json => writeln!(
                out,
                "{}",
                serde_json::json!({ "sentence": sentence, "matches": status == Status::Pass,
                    if status == Status::Pass { "step" } else { "closest" }: found })
            ),
            OutputFormat::Text if status == Status::Pass => {
                writeln!(out, "matches: {}", found.join(""))
            }
            OutputFormat::Text => {
                let mut r = writeln!(out, "no step matches `{sentence}`; the closest are:");
                for p in found {
                    r = r.and_then(|_| writeln!(out, "  {p}"));
                }
                r
            }
        };
        return match super::printed("steps", written) {
            Status::Pass => status,
            failed => failed,
        };
    }
    let vocab = vocabulary();
    let written = match args.format {
        OutputFormat::Json => serde_json::to_string_pretty(&vocab)
            .map_err(std::io::Error::other)
            .and_then(|s| writeln!(out, "{s}")),
        OutputFormat::Text => write_text(&mut out, &vocab),
    };
    super::printed("steps", written)
}

fn write_text(out: &mut impl std::io::Write, vocab: &[Domain]) -> std::io::Result<()> {
    writeln!(
        out,
        "Step sentences for .feature files (after Given/When/Then/And), by domain.\n"
    )?;
    for d in vocab {
        writeln!(out, "{}", d.domain)?;
        for s in &d.steps {
            writeln!(out, "  {}", s.pattern)?;
            for p in &s.params {
                writeln!(out, "      {}: {}", p.hole, p.help)?;
            }
            match &s.example_at {
                Some(at) => writeln!(out, "      e.g. {}   ({at})", s.example)?,
                None => writeln!(out, "      e.g. {}", s.example)?,
            }
        }
        writeln!(out)?;
    }
    Ok(())
}

/// `Given client A is connected` → `client A is connected`.
fn strip_keyword(s: &str) -> &str {
    let s = s.trim();
    for k in ["Given ", "When ", "Then ", "And ", "But ", "* "] {
        if let Some(rest) = s.strip_prefix(k) {
            return rest.trim_start();
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_has_an_example_that_parses() {
        let vocab = vocabulary();
        assert!(vocab.len() >= 5);
        for s in vocab.iter().flat_map(|d| &d.steps) {
            let sentence = strip_keyword(&s.example);
            assert!(
                matches(s.pattern, sentence).is_some(),
                "{}: {}",
                s.pattern,
                s.example
            );
            for hole in ["{word}", "{string}", "{int}", "{duration}"] {
                assert_eq!(
                    s.pattern.contains(hole),
                    s.params.iter().any(|p| p.hole == hole),
                    "{}",
                    s.pattern
                );
            }
        }
        // Most examples are real uses in the embedded features.
        let real = vocab
            .iter()
            .flat_map(|d| &d.steps)
            .filter(|s| s.example_at.is_some())
            .count();
        assert!(real * 2 > vocab.iter().map(|d| d.steps.len()).sum::<usize>());
    }
}
