//! The rule catalog: stable IDs for every normative statement of `docs/protocol.md`.
//!
//! Rule IDs are names, not numbers, so reports, features (`@S-NOTIF-WINDOW`), negative
//! transcripts (`expect: [S-NOTIF-WINDOW]`) and a team's `--expect-fail` list stay valid as the
//! catalog grows. This module is vocabulary only: the checker decides whether a rule holds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which party a rule binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Party {
    /// The client: the peer that connects and sends requests.
    Client,
    /// The server: the peer that accepts and sends notifications.
    Server,
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Party::Client => "client",
            Party::Server => "server",
        })
    }
}

/// How a rule can be judged, which tells a user what a run without a control port (or an
/// offline transcript) can and cannot prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Checkable {
    /// From a transcript alone.
    Offline,
    /// Needs live traffic (terminators, timing, closing behaviour).
    Live,
    /// Needs a way to make items appear (a control port or `! publish` directives).
    Control,
}

macro_rules! rules {
    ($( $variant:ident = $id:literal, $party:ident, $how:ident, $text:literal; )*) => {
        /// A rule of the notif protocol, by its stable ID.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RuleId { $( #[doc = $text] $variant, )* }

        impl RuleId {
            /// Every rule, in catalog order.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant,)*];

            /// The stable ID, e.g. `S-NOTIF-WINDOW`.
            pub fn as_str(self) -> &'static str {
                match self { $(RuleId::$variant => $id,)* }
            }

            /// The party the rule binds.
            pub fn party(self) -> Party {
                match self { $(RuleId::$variant => Party::$party,)* }
            }

            /// How the rule can be judged.
            pub fn checkable(self) -> Checkable {
                match self { $(RuleId::$variant => Checkable::$how,)* }
            }

            /// The rule's statement, as in `docs/protocol.md`.
            pub fn statement(self) -> &'static str {
                match self { $(RuleId::$variant => $text,)* }
            }
        }
    };
}

rules! {
    SFraming = "S-FRAMING", Server, Live,
        "The server accepts LF and CRLF terminators (a bare LF ends a line) and terminates every line it sends with the dialect's line ending.";
    SReplyOne = "S-REPLY-ONE", Server, Offline,
        "Each request gets exactly one reply line, in the order the requests were sent.";
    SRandomInt = "S-RANDOM-INT", Server, Offline,
        "The reply to the random request is a decimal integer: one or more ASCII digits and nothing else.";
    SClassifiedLine = "S-CLASSIFIED-LINE", Server, Offline,
        "The reply to the classified request is one line: an ad, or, when none is unread, an empty line or an ad already read; never a protocol message.";
    SModeAck = "S-MODE-ACK", Server, Offline,
        "The enter command is acknowledged by the dialect's mode acknowledgement, spelled exactly, before any notification.";
    SNotifInMode = "S-NOTIF-IN-MODE", Server, Offline,
        "Notifications are sent only between the mode acknowledgement and the OK that completes stop_notif.";
    SNotifWindow = "S-NOTIF-WINDOW", Server, Offline,
        "Where answers are required, the server never has more than one unanswered notification outstanding: nothing crosses a stop_notif that answered a notification, and at most one notification crosses a stop_notif sent with none outstanding.";
    SStopOk = "S-STOP-OK", Server, Offline,
        "Each stop_notif is answered by exactly one OK, which completes the enter command.";
    SNoNotifAfterOk = "S-NO-NOTIF-AFTER-OK", Server, Offline,
        "After the OK that answers stop_notif, no notification is sent until the mode is entered again.";
    SNotifKind = "S-NOTIF-KIND", Server, Offline,
        "A notification is one of the dialect's notification lines (notif: random, notif: classified).";
    SPromise = "S-PROMISE", Server, Offline,
        "After notif: classified, the next classified request returns a non-empty ad (a promise of availability is kept).";
    SNoDup = "S-NO-DUP", Server, Offline,
        "No item is announced twice in one notification session, and no kind is announced when no item of it is available.";
    SLiveness = "S-LIVENESS", Server, Control,
        "An item published while a client is in notification mode is announced to it within a bound, unless an announcement is already outstanding.";
    SErr = "S-ERR", Server, Offline,
        "An unknown or out-of-state command gets the dialect's error behaviour (one error line, or nothing); the state does not change and the connection stays usable.";
    SRobust = "S-ROBUST", Server, Live,
        "An oversized or malformed line is refused (an error line, then close, for an oversized one) without harming the server or other clients.";
    CFraming = "C-FRAMING", Client, Live,
        "The client sends complete lines, each with a terminator.";
    COneAtATime = "C-ONE-AT-A-TIME", Client, Offline,
        "The client sends no new request before the reply to the previous one.";
    CAck = "C-ACK", Client, Offline,
        "Where answers are required, each notification is answered by exactly one OK or stop_notif, unless stop_notif was already sent.";
    CNoReqInNotif = "C-NO-REQ-IN-NOTIF", Client, Offline,
        "In notification mode the client sends no request other than answers and stop_notif.";
    CStopOnlyInNotif = "C-STOP-ONLY-IN-NOTIF", Client, Offline,
        "The client sends stop_notif only in notification mode, and only once per session.";
    CNoAckAfterStop = "C-NO-ACK-AFTER-STOP", Client, Offline,
        "After sending stop_notif the client answers no notification (one may cross the stop on the wire).";
    CAckOnlyNotif = "C-ACK-ONLY-NOTIF", Client, Offline,
        "The client sends OK only to answer an outstanding notification.";
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown rule ID, with the closest known one as a suggestion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rule ID `{given}`{}", suggestion.map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
pub struct UnknownRule {
    /// What was given.
    pub given: String,
    /// The nearest known ID, if any is close.
    pub suggestion: Option<&'static str>,
}

impl FromStr for RuleId {
    type Err = UnknownRule;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_uppercase();
        if let Some(r) = RuleId::ALL.iter().find(|r| r.as_str() == wanted) {
            return Ok(*r);
        }
        let suggestion = RuleId::ALL
            .iter()
            .map(|r| (edit_distance(r.as_str(), &wanted), r.as_str()))
            .min()
            .filter(|(d, _)| *d <= 3)
            .map(|(_, s)| s);
        Err(UnknownRule {
            given: s.to_string(),
            suggestion,
        })
    }
}

impl Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RuleId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Levenshtein distance, for "did you mean" suggestions on short IDs (`strsim`'s).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in RuleId::ALL {
            assert!(seen.insert(r.as_str()));
            assert_eq!(r.as_str().parse::<RuleId>().unwrap(), *r);
            let party_prefix = if r.party() == Party::Server {
                "S-"
            } else {
                "C-"
            };
            assert!(r.as_str().starts_with(party_prefix));
        }
        assert_eq!(RuleId::ALL.len(), 22);
    }

    #[test]
    fn unknown_id_suggests_nearest() {
        let e = "S-NOTIF-WINDOWS".parse::<RuleId>().unwrap_err();
        assert_eq!(e.suggestion, Some("S-NOTIF-WINDOW"));
        assert!(e.to_string().contains("did you mean"));
    }
}
