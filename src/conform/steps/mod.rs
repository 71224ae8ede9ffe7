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
    /// What `classified?` may answer with nothing unread: an empty line, or an ad this peer
    /// has read already (the seed does not say which).
    NoneUnread,
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
    /// Sends `classified?` once per ad and expects these ads, in any order (the seed allows
    /// oldest-first as well as newest-first).
    ReadAds(PeerName, Vec<String>),
    /// Answers every notification that arrives with the dialect's OK until this long has
    /// passed since the last one: the server may announce a pile of ads one by one or all at
    /// once (the seed does not say), and the checker then judges the quiet that follows.
    AnswerAll(PeerName, Duration),
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

/// The step files, one per domain, with the domain's title (`notifspec steps` groups by it).
const DOMAINS: &[(&str, &[StepDef])] = &[
    ("Connecting, requests and replies", requests::STEPS),
    ("Notification mode and the stop_notif race", mode::STEPS),
    ("Publishing items", publish::STEPS),
    ("Bad input and errors", errors::STEPS),
    ("Transcripts", transcripts::STEPS),
    ("The client under test", client::STEPS),
];

fn all_defs() -> impl Iterator<Item = &'static StepDef> {
    DOMAINS.iter().flat_map(|(_, defs)| defs.iter())
}

/// The vocabulary grouped by domain, in the order the step files list it.
pub fn by_domain() -> Vec<(&'static str, Vec<&'static str>)> {
    DOMAINS
        .iter()
        .map(|(title, defs)| (*title, defs.iter().map(|d| d.pattern).collect()))
        .collect()
}

/// The patterns closest to a sentence no pattern matches, best first: quoted text counts as
/// any `{string}`, then edit distance (`strsim`) on what is left.
pub fn closest(text: &str, n: usize) -> Vec<&'static str> {
    let mut normal = String::new();
    let mut quoted = false;
    for c in text.trim().chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                normal.push_str("{string}");
            }
            ('"', true) => quoted = false,
            (_, true) => {}
            (c, false) => normal.push(c),
        }
    }
    let mut scored: Vec<(f64, &'static str)> = patterns()
        .into_iter()
        .map(|p| (strsim::normalized_damerau_levenshtein(&normal, p), p))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(n).map(|(_, p)| p).collect()
}

/// What a hole of a pattern takes, for `notifspec steps`.
pub fn hole_help(hole: &str) -> Option<&'static str> {
    Some(match hole {
        "{string}" => "text in double quotes, e.g. \"random?\"",
        "{word}" => "a name without spaces, e.g. A (a client of the server under test)",
        "{int}" => "a whole number, e.g. 3",
        "{duration}" => "a number and a unit, e.g. 100 ms or 1 s",
        _ => return None,
    })
}

/// Every sentence pattern, for documentation and `--help`-like listings.
pub fn patterns() -> Vec<&'static str> {
    all_defs().map(|d| d.pattern).collect()
}

/// Why a step sentence is not a step: the feature file is broken (a JUnit `<error>` naming
/// the file and line), not the implementation under test.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepParseError {
    /// No sentence pattern matches; the nearest patterns are suggested.
    #[error(
        "no step matches `{text}`; closest: {} (`notifspec steps` lists them all)",
        listed(closest, ", ")
    )]
    NoMatch {
        /// The sentence.
        text: String,
        /// The patterns nearest to it.
        closest: Vec<&'static str>,
    },
    /// More than one sentence pattern matches.
    #[error("ambiguous step `{text}`: it matches {}", listed(patterns, " and "))]
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

/// Patterns in backquotes, joined by `sep`.
fn listed(patterns: &[&str], sep: &str) -> String {
    let names: Vec<String> = patterns.iter().map(|p| format!("`{p}`")).collect();
    names.join(sep)
}

/// Parses a step sentence (without its keyword).
pub fn parse(text: &str) -> Result<Step, StepParseError> {
    let mut found: Vec<(&'static str, Result<Step, String>)> = all_defs()
        .filter_map(|d| matches(d.pattern, text).map(|c| (d.pattern, (d.build)(&c))))
        .collect();
    match found.pop() {
        None => Err(StepParseError::NoMatch {
            text: text.to_string(),
            closest: closest(text, 3),
        }),
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
        assert!(
            e.to_string()
                .starts_with("no step matches `client A dances`; closest: "),
            "{e}"
        );
    }

    #[test]
    fn a_near_miss_names_the_closest_steps() {
        assert_eq!(
            closest("client B send \"stop_notif\"", 1),
            vec!["client {word} sends {string}"]
        );
        let e = parse("client A recieves an integer").unwrap_err();
        assert!(
            e.to_string()
                .contains("closest: `client {word} receives an integer`"),
            "{e}"
        );
        let domains = by_domain();
        assert_eq!(
            domains.iter().map(|(_, p)| p.len()).sum::<usize>(),
            patterns().len()
        );
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
