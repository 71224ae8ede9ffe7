//! The reference client's protocol logic, sans-IO: what the client may send next, and what
//! each server line means.
//!
//! [`ClientSession`] is the single source of truth for the client's side of a conversation.
//! It refuses a request that would break a client rule *before* a line is produced (so a
//! program built on it cannot violate the C- rules, whatever order it calls things in), and it
//! judges every server line against the S- rules it can see from the client's seat, naming
//! the rule the server broke. No sockets, no clock: [`crate::net::client`] pumps it.
//!
//! Written from `docs/protocol.md`, independently of [`crate::checker`], which checks it.

use std::fmt;

use super::lines;
use crate::dialect::{Dialect, ItemKind};
use crate::rule::RuleId;

/// What a client can ask for outside notification mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Fetch an item: `random?` (newest number) or `classified?` (oldest unread ad).
    Fetch(ItemKind),
    /// Enter notification mode (`_notif_` / `notif`).
    EnterMode,
}

/// Where the client is in the conversation, as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Nothing in flight: a request may be sent.
    Idle,
    /// A fetch request was sent; its one reply line is awaited.
    AwaitingReply(ItemKind),
    /// The enter command was sent; the mode acknowledgement is awaited.
    EnteringMode,
    /// In notification mode. `outstanding` is the notification not answered yet (always
    /// `None` when the dialect requires no answers).
    InMode {
        /// The unanswered notification, if any.
        outstanding: Option<ItemKind>,
    },
    /// `stop_notif` was sent; the `OK` that completes it is awaited. Notifications that
    /// crossed the stop on the wire are collected here, never answered.
    Stopping {
        /// Notifications received since the stop was sent, in arrival order.
        crossed: Vec<ItemKind>,
        /// Whether the rules still allow a notification to cross (see [`ClientSession::stop`]).
        may_cross: bool,
    },
}

/// A server reply to a fetch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The random number, exactly as written (one or more ASCII digits; may exceed `u64`).
    Random(String),
    /// The oldest unread ad, or `None` when the server sent an empty line (nothing unread).
    Classified(Option<String>),
}

/// What a server line meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The reply to a fetch request.
    Reply(Reply),
    /// The server answered our request with an error line (e.g. `ERR too many connections`
    /// before closing). The request is over; the session is idle again.
    Refused(String),
    /// The mode acknowledgement: notifications may now arrive.
    ModeEntered,
    /// A notification the client must answer ([`ClientSession::ack`] or
    /// [`ClientSession::stop`]) when the dialect requires answers.
    Notification(ItemKind),
    /// A notification that crossed our `stop_notif` on the wire: legal, and not to be
    /// answered. It is also reported again in [`ClientEvent::Stopped`].
    Crossed(ItemKind),
    /// The `OK` completing `stop_notif`: the mode is over. `crossed` lists every
    /// notification that arrived after the stop was sent, so none is lost.
    Stopped {
        /// The crossed notifications, in arrival order (coalesced per kind when the dialect
        /// requires no answers, so memory stays bounded whatever the server sends).
        crossed: Vec<ItemKind>,
    },
}

/// The server broke a rule: which one, and the line that shows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("server broke {rule}: {message} (line `{line}`)")]
pub struct ProtocolError {
    /// The server rule broken.
    pub rule: RuleId,
    /// The offending line as received (lossy UTF-8).
    pub line: String,
    /// A sentence a user understands.
    pub message: String,
}

/// The caller asked for something the client rules forbid in the current state. Nothing was
/// sent: refusing early is how the reference client guarantees it never breaks a C- rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused before sending (it would break {rule}): {reason}")]
pub struct UsageError {
    /// The client rule the call would have broken.
    pub rule: RuleId,
    /// What to do instead.
    pub reason: String,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Idle => f.write_str("idle"),
            State::AwaitingReply(k) => write!(f, "awaiting the {k} reply"),
            State::EnteringMode => f.write_str("awaiting the mode acknowledgement"),
            State::InMode { outstanding: None } => f.write_str("in notification mode"),
            State::InMode {
                outstanding: Some(k),
            } => write!(f, "in notification mode, `{k}` notification unanswered"),
            State::Stopping { .. } => f.write_str("awaiting the OK that completes stop_notif"),
        }
    }
}

/// The client's side of one connection.
#[derive(Debug, Clone)]
pub struct ClientSession {
    dialect: Dialect,
    state: State,
    /// A `classified` notification was received and no `classified?` reply since: the next
    /// one must be a non-empty ad (S-PROMISE).
    classified_promised: bool,
    /// A notification mode was completed by `OK` and not entered again: a notification now
    /// breaks S-NO-NOTIF-AFTER-OK rather than S-NOTIF-IN-MODE.
    mode_completed: bool,
}

impl ClientSession {
    /// A fresh session, idle, speaking `dialect`.
    pub fn new(dialect: Dialect) -> Self {
        ClientSession {
            dialect,
            state: State::Idle,
            classified_promised: false,
            mode_completed: false,
        }
    }

    /// The dialect spoken.
    pub fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The notification waiting for an answer, if any.
    pub fn outstanding(&self) -> Option<ItemKind> {
        match self.state {
            State::InMode { outstanding } => outstanding,
            _ => None,
        }
    }

    /// The line that sends `req`, if the state allows it (only when idle).
    pub fn request(&mut self, req: Request) -> Result<String, UsageError> {
        match &self.state {
            State::Idle => {}
            State::AwaitingReply(_) | State::EnteringMode => {
                return Err(usage(
                    RuleId::COneAtATime,
                    format!("a request is already in flight ({})", self.state),
                ));
            }
            State::InMode { .. } | State::Stopping { .. } => {
                return Err(usage(
                    RuleId::CNoReqInNotif,
                    format!(
                        "requests are not allowed in notification mode ({}); stop it first",
                        self.state
                    ),
                ));
            }
        }
        let (line, next) = match req {
            Request::Fetch(kind) => (self.dialect.request(kind), State::AwaitingReply(kind)),
            Request::EnterMode => (self.dialect.commands.enter.as_str(), State::EnteringMode),
        };
        let line = line.to_string();
        self.state = next;
        Ok(line)
    }

    /// The line that answers the outstanding notification with `OK` (stay in the mode).
    ///
    /// With `answers.policy: none` the server reads no answers, so there is nothing to send:
    /// `Ok(None)` while in the mode, which lets one program run against every dialect.
    pub fn ack(&mut self) -> Result<Option<String>, UsageError> {
        let required = self.dialect.answers_required();
        match &mut self.state {
            State::InMode { .. } if !required => Ok(None),
            State::InMode { outstanding } if outstanding.is_some() => {
                *outstanding = None;
                Ok(Some(self.dialect.answers.ok.clone()))
            }
            State::InMode { .. } => Err(usage(
                RuleId::CAckOnlyNotif,
                "no notification is waiting for an answer".into(),
            )),
            State::Stopping { .. } => Err(usage(
                RuleId::CNoAckAfterStop,
                "stop_notif was sent: notifications that cross it are not answered".into(),
            )),
            _ => Err(usage(
                RuleId::CAckOnlyNotif,
                format!("not in notification mode ({})", self.state),
            )),
        }
    }

    /// The line that leaves notification mode (`stop_notif`).
    ///
    /// If a notification is outstanding, the stop is its answer: the server, which must wait
    /// for that answer before notifying again, can send no notification after it. With
    /// nothing outstanding, at most one notification may cross the stop (the server may have
    /// sent it before reading the stop). Without required answers any number may cross.
    pub fn stop(&mut self) -> Result<String, UsageError> {
        let State::InMode { outstanding } = self.state else {
            let rule = if matches!(self.state, State::Stopping { .. }) {
                "stop_notif was already sent"
            } else {
                "not in notification mode"
            };
            return Err(usage(
                RuleId::CStopOnlyInNotif,
                format!("{rule} ({})", self.state),
            ));
        };
        self.state = State::Stopping {
            crossed: Vec::new(),
            may_cross: outstanding.is_none(),
        };
        Ok(self.dialect.commands.stop.clone())
    }

    /// Interprets one line from the server. On `Err` the line is rejected and the state is
    /// unchanged; the server is not following the protocol and the connection should go.
    pub fn handle_line(&mut self, line: &str) -> Result<ClientEvent, ProtocolError> {
        match self.state.clone() {
            State::Idle => Err(self.unsolicited(line)),
            State::AwaitingReply(kind) => self.on_reply(kind, line),
            State::EnteringMode => self.on_mode_ack(line),
            State::InMode { outstanding } => self.on_in_mode(outstanding, line),
            State::Stopping { crossed, may_cross } => self.on_stopping(crossed, may_cross, line),
        }
    }

    fn unsolicited(&self, line: &str) -> ProtocolError {
        if lines::announced_kind(&self.dialect, line).is_some() {
            if self.mode_completed {
                return broke(
                    RuleId::SNoNotifAfterOk,
                    line,
                    "a notification after the OK that completed stop_notif",
                );
            }
            return broke(
                RuleId::SNotifInMode,
                line,
                "a notification outside notification mode",
            );
        }
        broke(
            RuleId::SReplyOne,
            line,
            "a line when no request was waiting for a reply",
        )
    }

    fn on_reply(&mut self, kind: ItemKind, line: &str) -> Result<ClientEvent, ProtocolError> {
        if lines::is_error_reply(&self.dialect, line) {
            self.state = State::Idle;
            return Ok(ClientEvent::Refused(line.to_string()));
        }
        let reply = match kind {
            ItemKind::Random => {
                if lines::announced_kind(&self.dialect, line).is_some() {
                    return Err(self.unsolicited(line));
                }
                if line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(broke(
                        RuleId::SRandomInt,
                        line,
                        "the reply to the random request is not a decimal integer",
                    ));
                }
                Reply::Random(line.to_string())
            }
            ItemKind::Classified => {
                let d = &self.dialect;
                if lines::announced_kind(d, line).is_some() || line == d.replies.mode_ack {
                    return Err(broke(
                        RuleId::SClassifiedLine,
                        line,
                        "the reply to the classified request is a protocol message, not an ad",
                    ));
                }
                if line.is_empty() && self.classified_promised {
                    return Err(broke(
                        RuleId::SPromise,
                        line,
                        "an empty classified reply after `notif: classified` announced an ad",
                    ));
                }
                self.classified_promised = false;
                Reply::Classified((!line.is_empty()).then(|| line.to_string()))
            }
        };
        self.state = State::Idle;
        Ok(ClientEvent::Reply(reply))
    }

    fn on_mode_ack(&mut self, line: &str) -> Result<ClientEvent, ProtocolError> {
        if line == self.dialect.replies.mode_ack {
            self.state = State::InMode { outstanding: None };
            self.mode_completed = false;
            return Ok(ClientEvent::ModeEntered);
        }
        if lines::is_error_reply(&self.dialect, line) {
            self.state = State::Idle;
            return Ok(ClientEvent::Refused(line.to_string()));
        }
        let ack = &self.dialect.replies.mode_ack;
        let message = if lines::announced_kind(&self.dialect, line).is_some() {
            format!("a notification before the mode acknowledgement `{ack}`")
        } else {
            format!("expected the mode acknowledgement `{ack}`")
        };
        Err(broke(RuleId::SModeAck, line, &message))
    }

    fn on_in_mode(
        &mut self,
        outstanding: Option<ItemKind>,
        line: &str,
    ) -> Result<ClientEvent, ProtocolError> {
        let Some(kind) = lines::announced_kind(&self.dialect, line) else {
            if line == self.dialect.replies.stop_ok {
                return Err(broke(
                    RuleId::SStopOk,
                    line,
                    "the OK completing stop_notif, but stop_notif was not sent",
                ));
            }
            return Err(broke(
                RuleId::SNotifKind,
                line,
                "in notification mode the server sends only the dialect's notification lines",
            ));
        };
        if let Some(previous) = outstanding {
            return Err(broke(
                RuleId::SNotifWindow,
                line,
                &format!("a second notification while `{previous}` is still unanswered"),
            ));
        }
        self.note_announced(kind);
        if self.dialect.answers_required() {
            self.state = State::InMode {
                outstanding: Some(kind),
            };
        }
        Ok(ClientEvent::Notification(kind))
    }

    fn on_stopping(
        &mut self,
        mut crossed: Vec<ItemKind>,
        may_cross: bool,
        line: &str,
    ) -> Result<ClientEvent, ProtocolError> {
        if line == self.dialect.replies.stop_ok {
            self.state = State::Idle;
            self.mode_completed = true;
            return Ok(ClientEvent::Stopped { crossed });
        }
        let Some(kind) = lines::announced_kind(&self.dialect, line) else {
            return Err(broke(
                RuleId::SStopOk,
                line,
                &format!(
                    "stop_notif must be answered by `{}`",
                    self.dialect.replies.stop_ok
                ),
            ));
        };
        let required = self.dialect.answers_required();
        if required && !may_cross {
            return Err(broke(
                RuleId::SNotifWindow,
                line,
                "a notification after stop_notif while an earlier one was unanswered \
                 (at most one notification may cross the stop, and only if none was outstanding)",
            ));
        }
        self.note_announced(kind);
        // Unanswered dialects may send any number: one entry per kind says what to fetch.
        if required || !crossed.contains(&kind) {
            crossed.push(kind);
        }
        self.state = State::Stopping {
            crossed,
            may_cross: !required,
        };
        Ok(ClientEvent::Crossed(kind))
    }

    fn note_announced(&mut self, kind: ItemKind) {
        if kind == ItemKind::Classified {
            self.classified_promised = true;
        }
    }
}

fn usage(rule: RuleId, reason: String) -> UsageError {
    UsageError { rule, reason }
}

fn broke(rule: RuleId, line: &str, message: &str) -> ProtocolError {
    ProtocolError {
        rule,
        line: line.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::AnswerPolicy;
    use ItemKind::{Classified, Random};

    fn session(name: &str) -> ClientSession {
        ClientSession::new(Dialect::builtin(name).expect("built-in dialect"))
    }

    fn unanswered() -> ClientSession {
        let mut d = Dialect::default();
        d.answers.policy = AnswerPolicy::None;
        ClientSession::new(d)
    }

    fn ev(s: &mut ClientSession, line: &str) -> ClientEvent {
        s.handle_line(line)
            .unwrap_or_else(|e| panic!("`{line}` rejected: {e}"))
    }

    fn violation(s: &mut ClientSession, line: &str) -> RuleId {
        let before = s.state().clone();
        let err = s.handle_line(line).expect_err("a violation");
        assert_eq!(err.line, line);
        assert_eq!(s.state(), &before, "a rejected line leaves the state alone");
        err.rule
    }

    fn enter(s: &mut ClientSession) {
        let line = s.request(Request::EnterMode).unwrap();
        assert_eq!(line, s.dialect().commands.enter);
        let ack = s.dialect().replies.mode_ack.clone();
        assert_eq!(ev(s, &ack), ClientEvent::ModeEntered);
    }

    #[test]
    fn seed_example_session_both_dialects() {
        for name in ["seed-session", "seed-text"] {
            let mut s = session(name);
            assert_eq!(s.request(Request::Fetch(Random)).unwrap(), "random?");
            assert_eq!(
                ev(&mut s, "456902234"),
                ClientEvent::Reply(Reply::Random("456902234".into()))
            );
            assert_eq!(
                s.request(Request::Fetch(Classified)).unwrap(),
                "classified?"
            );
            assert_eq!(
                ev(&mut s, "Nice appart in the 11e."),
                ClientEvent::Reply(Reply::Classified(Some("Nice appart in the 11e.".into())))
            );
            enter(&mut s);
            assert_eq!(
                ev(&mut s, "notif: classified"),
                ClientEvent::Notification(Classified)
            );
            assert_eq!(s.outstanding(), Some(Classified));
            assert_eq!(s.ack().unwrap().as_deref(), Some("OK"));
            assert_eq!(
                ev(&mut s, "notif: random"),
                ClientEvent::Notification(Random)
            );
            assert_eq!(s.stop().unwrap(), "stop_notif");
            assert_eq!(ev(&mut s, "OK"), ClientEvent::Stopped { crossed: vec![] });
            assert_eq!(s.state(), &State::Idle);
            s.request(Request::Fetch(Random)).unwrap();
            ev(&mut s, "89765234756");
            enter(&mut s);
            ev(&mut s, "notif: classified");
            assert_eq!(s.ack().unwrap().as_deref(), Some("OK"));
        }
    }

    #[test]
    fn client_rules_are_enforced_before_sending() {
        let mut s = session("seed-session");
        assert_eq!(s.ack().unwrap_err().rule, RuleId::CAckOnlyNotif);
        assert_eq!(s.stop().unwrap_err().rule, RuleId::CStopOnlyInNotif);
        s.request(Request::Fetch(Random)).unwrap();
        let e = s.request(Request::Fetch(Classified)).unwrap_err();
        assert_eq!(e.rule, RuleId::COneAtATime);
        assert_eq!(s.state(), &State::AwaitingReply(Random));
        ev(&mut s, "1");
        s.request(Request::EnterMode).unwrap();
        assert_eq!(
            s.request(Request::EnterMode).unwrap_err().rule,
            RuleId::COneAtATime
        );
        ev(&mut s, "will send notifs");
        assert_eq!(
            s.request(Request::Fetch(Random)).unwrap_err().rule,
            RuleId::CNoReqInNotif
        );
        assert_eq!(s.ack().unwrap_err().rule, RuleId::CAckOnlyNotif);
        ev(&mut s, "notif: random");
        s.ack().unwrap();
        assert_eq!(s.ack().unwrap_err().rule, RuleId::CAckOnlyNotif);
        s.stop().unwrap();
        assert_eq!(s.stop().unwrap_err().rule, RuleId::CStopOnlyInNotif);
        assert_eq!(s.ack().unwrap_err().rule, RuleId::CNoAckAfterStop);
        assert_eq!(
            s.request(Request::Fetch(Random)).unwrap_err().rule,
            RuleId::CNoReqInNotif
        );
    }

    #[test]
    fn race_notification_crossing_stop_is_reported_not_answered() {
        let mut s = session("seed-session");
        enter(&mut s);
        s.stop().unwrap();
        assert_eq!(ev(&mut s, "notif: random"), ClientEvent::Crossed(Random));
        assert_eq!(s.ack().unwrap_err().rule, RuleId::CNoAckAfterStop);
        assert_eq!(violation(&mut s, "notif: classified"), RuleId::SNotifWindow);
        assert_eq!(
            ev(&mut s, "OK"),
            ClientEvent::Stopped {
                crossed: vec![Random]
            }
        );
        assert_eq!(violation(&mut s, "notif: random"), RuleId::SNoNotifAfterOk);
    }

    #[test]
    fn stop_answering_a_notification_allows_no_crossing() {
        let mut s = session("seed-text");
        enter(&mut s);
        ev(&mut s, "notif: classified");
        s.stop().unwrap();
        assert_eq!(violation(&mut s, "notif: random"), RuleId::SNotifWindow);
        assert_eq!(ev(&mut s, "OK"), ClientEvent::Stopped { crossed: vec![] });
    }

    #[test]
    fn server_violations_map_to_rules() {
        let mut s = session("seed-session");
        assert_eq!(violation(&mut s, "12"), RuleId::SReplyOne);
        assert_eq!(violation(&mut s, "notif: random"), RuleId::SNotifInMode);
        s.request(Request::Fetch(Random)).unwrap();
        assert_eq!(violation(&mut s, "12a"), RuleId::SRandomInt);
        assert_eq!(violation(&mut s, ""), RuleId::SRandomInt);
        assert_eq!(violation(&mut s, "-3"), RuleId::SRandomInt);
        assert_eq!(violation(&mut s, "notif: random"), RuleId::SNotifInMode);
        ev(&mut s, "007");
        s.request(Request::Fetch(Classified)).unwrap();
        assert_eq!(
            violation(&mut s, "notif: classified"),
            RuleId::SClassifiedLine
        );
        assert_eq!(
            violation(&mut s, "will send notifs"),
            RuleId::SClassifiedLine
        );
        assert_eq!(ev(&mut s, ""), ClientEvent::Reply(Reply::Classified(None)));
        s.request(Request::EnterMode).unwrap();
        assert_eq!(violation(&mut s, "notif: random"), RuleId::SModeAck);
        assert_eq!(violation(&mut s, "notif: OK"), RuleId::SModeAck);
        ev(&mut s, "will send notifs");
        assert_eq!(violation(&mut s, "notif: weather"), RuleId::SNotifKind);
        assert_eq!(violation(&mut s, "OK"), RuleId::SStopOk);
        ev(&mut s, "notif: random");
        assert_eq!(violation(&mut s, "notif: classified"), RuleId::SNotifWindow);
        s.stop().unwrap();
        assert_eq!(violation(&mut s, "ERR nope"), RuleId::SStopOk);
    }

    #[test]
    fn promise_of_classified_is_checked() {
        let mut s = session("seed-session");
        enter(&mut s);
        ev(&mut s, "notif: classified");
        s.stop().unwrap();
        ev(&mut s, "OK");
        s.request(Request::Fetch(Classified)).unwrap();
        assert_eq!(violation(&mut s, ""), RuleId::SPromise);
        ev(&mut s, "Bike, 50 EUR");
        s.request(Request::Fetch(Classified)).unwrap();
        assert_eq!(
            ev(&mut s, ""),
            ClientEvent::Reply(Reply::Classified(None)),
            "the promise is kept once"
        );
    }

    #[test]
    fn error_replies_end_the_request() {
        let mut s = session("seed-session");
        s.request(Request::Fetch(Random)).unwrap();
        assert_eq!(
            ev(&mut s, "ERR too many connections"),
            ClientEvent::Refused("ERR too many connections".into())
        );
        assert_eq!(s.state(), &State::Idle);
        s.request(Request::EnterMode).unwrap();
        ev(&mut s, "ERR busy");
        assert_eq!(s.state(), &State::Idle);
    }

    #[test]
    fn policy_none_needs_no_answers_and_coalesces_crossings() {
        let mut s = unanswered();
        enter(&mut s);
        assert_eq!(
            ev(&mut s, "notif: random"),
            ClientEvent::Notification(Random)
        );
        assert_eq!(s.outstanding(), None);
        assert_eq!(
            ev(&mut s, "notif: random"),
            ClientEvent::Notification(Random)
        );
        assert_eq!(s.ack().unwrap(), None, "nothing to send");
        s.stop().unwrap();
        for line in ["notif: classified", "notif: random", "notif: classified"] {
            ev(&mut s, line);
        }
        assert_eq!(
            ev(&mut s, "OK"),
            ClientEvent::Stopped {
                crossed: vec![Classified, Random]
            }
        );
        assert_eq!(s.ack().unwrap_err().rule, RuleId::CAckOnlyNotif);
    }
}
