//! The step vocabulary: every sentence a feature may use, one file per domain.
//!
//! A sentence is parsed once, when the suite is loaded, into a [`Step`]; the [`World`]
//! executes it. Parsing up front means a typo in a feature is reported before anything runs
//! (the `fail_on_skipped` rule: a step that matches nothing fails its scenario, it is never
//! silently skipped), and an ambiguous sentence (two patterns match) is an error too.
//!
//! [`World`]: super::world::World

use std::time::Duration;

use super::pattern::{Captures, matches};
use crate::dialect::ItemKind;

mod client;
mod errors;
mod mode;
mod publish;
mod requests;
mod transcripts;

/// What a received line must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Exactly this line (already translated to the dialect under test).
    Exact(String),
    /// A decimal integer.
    Integer,
    /// An empty line.
    Empty,
    /// A non-empty line that is not a protocol message: an ad.
    Ad,
    /// An error line (or, for a dialect that ignores errors, nothing at all).
    Error,
    /// A notification, of this kind when given.
    Notification(Option<ItemKind>),
    /// Any line (the step inspects it itself).
    Any,
}

/// Which peer a step talks about: a named client of the server under test.
pub type PeerName = String;

/// An item to publish through the control port (or the embedded server's API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A random number, chosen by the server unless given.
    Random(Option<u64>),
    /// A classified ad with this text.
    Classified(String),
}

/// One executable step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Only runs when the dialect under test has this name.
    Dialect(String),
    /// The server under test is running (a no-op that reads well in a Background).
    Server,
    /// Opens a connection for a peer.
    Connect(PeerName),
    /// Fetches every unread item so nothing is available for this peer.
    CatchUp(PeerName),
    /// Sends the enter command and expects the mode acknowledgement.
    InMode(PeerName),
    /// Sends one line (`None`: the dialect's terminator).
    Send {
        /// Who sends.
        peer: PeerName,
        /// The line (translated to the dialect).
        line: String,
        /// `Some(true)` for CRLF, `Some(false)` for LF.
        crlf: Option<bool>,
    },
    /// Sends several lines in one write, before reading any reply.
    SendPipelined(PeerName, Vec<String>),
    /// Sends a line longer than the dialect's limit.
    SendOversized(PeerName),
    /// Sends a line that is not UTF-8.
    SendInvalidUtf8(PeerName),
    /// Sends half a line, then closes the connection.
    DisconnectMidLine(PeerName),
    /// Closes the connection.
    Close(PeerName),
    /// Publishes an item.
    Publish(Item),
    /// Connects `n` more clients, and each sends the line at once.
    Crowd(u64, String),
    /// Each client of the crowd receives this.
    CrowdReceives(Expect),
    /// A peer receives a line, within the given time (default: the run's timeout).
    Receive(PeerName, Expect, Option<Duration>),
    /// A peer receives nothing for this long.
    Nothing(PeerName, Duration),
    /// A peer receives the stop's OK, possibly after one notification that crossed it.
    StopOkAfterCrossing(PeerName),
    /// The server closes the peer's connection.
    ClosedByServer(PeerName),
    /// The server's reaction to an oversized line has arrived: the connection closed, after an
    /// error line where the dialect has them; what the rules say of it is judged elsewhere.
    DealtWith(PeerName),
    /// The connection still works: a random request gets an integer.
    StillUsable(PeerName),
    /// Replays a conforming transcript against the server under test.
    Replay(String),
    /// The checker flags a negative transcript with exactly its expected rules.
    Flagged(String),
    /// Starts the client under test and accepts its connection.
    ClientConnects,
    /// Plays a conforming server until the client enters notification mode.
    ServeUntilMode,
    /// Sends a line to the client under test (translated to the dialect).
    ServerSends(String),
    /// The client answers the outstanding notification within this time.
    ClientAnswers(Duration),
    /// If the client left the mode, a notification crosses its stop before the OK.
    CrossTheStop,
    /// Plays a conforming server for this long, judging everything the client sends.
    PlayAlong(Duration),
}

/// One sentence pattern and how to build its step.
pub(crate) struct StepDef {
    /// The sentence, with typed holes.
    pub pattern: &'static str,
    /// Builds the step from the captures; an error explains a bad value.
    pub build: fn(&Captures) -> Result<Step, String>,
}

fn all_defs() -> impl Iterator<Item = &'static StepDef> {
    [
        requests::STEPS,
        mode::STEPS,
        publish::STEPS,
        errors::STEPS,
        transcripts::STEPS,
        client::STEPS,
    ]
    .into_iter()
    .flatten()
}

/// Every sentence pattern, for documentation and `--help`-like listings.
pub fn patterns() -> Vec<&'static str> {
    all_defs().map(|d| d.pattern).collect()
}

/// Why a step sentence is not a step: the feature file is broken (a JUnit `<error>` naming
/// the file and line), not the implementation under test.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepParseError {
    /// No sentence pattern matches.
    #[error("no step matches `{0}`")]
    NoMatch(String),
    /// More than one sentence pattern matches.
    #[error("ambiguous step `{text}`: it matches {}", quoted(patterns))]
    Ambiguous {
        /// The sentence.
        text: String,
        /// The patterns it matches.
        patterns: Vec<&'static str>,
    },
    /// A pattern matched but its captures do not make a step (a bad number, say).
    #[error("{0}")]
    Invalid(String),
}

fn quoted(patterns: &[&str]) -> String {
    let names: Vec<String> = patterns.iter().map(|p| format!("`{p}`")).collect();
    names.join(" and ")
}

/// Parses a step sentence (without its keyword).
pub fn parse(text: &str) -> Result<Step, StepParseError> {
    let mut found: Vec<(&'static str, Result<Step, String>)> = all_defs()
        .filter_map(|d| matches(d.pattern, text).map(|c| (d.pattern, (d.build)(&c))))
        .collect();
    match found.pop() {
        None => Err(StepParseError::NoMatch(text.to_string())),
        Some((_, step)) if found.is_empty() => step.map_err(StepParseError::Invalid),
        Some(last) => {
            found.push(last);
            Err(StepParseError::Ambiguous {
                text: text.to_string(),
                patterns: found.iter().map(|(p, _)| *p).collect(),
            })
        }
    }
}

/// Parses an expected-line phrase shared by several sentences.
fn expect_of(c: &Captures, i: usize) -> Expect {
    Expect::Exact(c.text(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_is_unambiguous_on_an_example() {
        for p in patterns() {
            let example = p
                .replace("{string}", "\"x\"")
                .replace("{word}", "A")
                .replace("{int}", "3")
                .replace("{duration}", "1 s");
            // A value may be refused (`A` is no item kind), but the sentence must match
            // exactly one pattern.
            if let Err(e) = parse(&example) {
                assert!(matches!(e, StepParseError::Invalid(_)), "{p}: {e}");
            }
        }
    }

    #[test]
    fn an_ambiguous_sentence_names_every_pattern_it_matches() {
        let e = StepParseError::Ambiguous {
            text: "client A waits".into(),
            patterns: vec!["client {word} waits", "{word} A waits"],
        };
        assert_eq!(
            e.to_string(),
            "ambiguous step `client A waits`: it matches `client {word} waits` and `{word} A waits`"
        );
    }

    #[test]
    fn unknown_sentence_is_an_error() {
        let e = parse("client A dances").unwrap_err();
        assert_eq!(e.to_string(), "no step matches `client A dances`");
    }

    #[test]
    fn sentences_build_their_steps() {
        assert_eq!(
            parse("within 1 s client A receives \"notif: classified\"").unwrap(),
            Step::Receive(
                "A".into(),
                Expect::Exact("notif: classified".into()),
                Some(Duration::from_secs(1))
            )
        );
        assert_eq!(
            parse("client B receives nothing for 200 ms").unwrap(),
            Step::Nothing("B".into(), Duration::from_millis(200))
        );
    }
}
