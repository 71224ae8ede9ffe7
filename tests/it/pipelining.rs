//! A client that pipelines (sends several lines in one write without waiting for the replies)
//! breaks `C-ONE-AT-A-TIME`, and only that: the reference server, which handles lines in
//! order, must not be blamed for answering each line as the state it meets when it reads it
//! requires. Each case drives the reference [`ServerSession`] exactly so and asks the checker,
//! which knows every publish, for its verdict.

use std::sync::Arc;

use notifspec::checker::{Options, Terminator};
use notifspec::proto::{Items, ServerSession};
use notifspec::{Checker, Dialect, Event, EventKind, Party, RuleId, Violation};

const FIRST_AD: &str = "first ad";

/// A reference session and a checker watching its conversation.
struct Watched {
    session: ServerSession,
    items: Items,
    checker: Checker,
    violations: Vec<Violation>,
}

impl Watched {
    fn new(dialect: Dialect) -> Self {
        let items = Items::new(7, FIRST_AD, 100);
        let session = ServerSession::new(Arc::new(dialect.clone()), &items);
        let options = Options {
            items_known: true,
            ..Default::default()
        };
        Watched {
            session,
            items,
            checker: Checker::with_options(dialect, options),
            violations: vec![],
        }
    }

    fn feed(&mut self, kind: EventKind) {
        let event = Event {
            at: None,
            source_line: None,
            kind,
        };
        self.violations.extend(self.checker.feed(&event));
    }

    /// The client writes `lines` at once; the server then reads them one by one, in order.
    /// Returns everything the server sent.
    fn pipeline(&mut self, lines: &[&str]) -> Vec<String> {
        for line in lines {
            self.feed(EventKind::Line {
                from: Party::Client,
                text: line.to_string(),
                terminator: Terminator::CrLf,
            });
        }
        let mut sent = vec![];
        for line in lines {
            self.session.handle_line(line.as_bytes(), &self.items);
            self.drain(&mut sent);
        }
        sent
    }

    /// Shows the checker what the session has to send, and appends it to `sent`.
    fn drain(&mut self, sent: &mut Vec<String>) {
        while let Some(line) = self.session.poll_transmit() {
            self.feed(EventKind::Line {
                from: Party::Server,
                text: line.clone(),
                terminator: Terminator::CrLf,
            });
            sent.push(line);
        }
    }

    /// Ends the conversation (the client closes) and returns the rules broken, in order.
    fn verdict(mut self) -> Vec<RuleId> {
        self.feed(EventKind::Closed { by: Party::Client });
        let end = self.checker.finish(true);
        self.violations.extend(end);
        self.violations.iter().map(|v| v.rule).collect()
    }
}

fn watched() -> Watched {
    Watched::new(Dialect::default())
}

#[test]
fn enter_and_stop_in_one_write() {
    let mut w = watched();
    // The connect-time ad is announced right after the ack, before the server reads the stop:
    // it crosses the stop, and the client (rightly) does not answer it.
    assert_eq!(
        w.pipeline(&["_notif_", "stop_notif"]),
        ["will send notifs", "notif: classified", "OK"]
    );
    assert_eq!(w.pipeline(&["classified?"]), [FIRST_AD]);
    assert_eq!(w.verdict(), [RuleId::COneAtATime]);
}

/// `_notif_` and `stop_notif` in one write, once the connect-time ad is read: nothing crosses.
fn enter_and_stop_with_nothing_to_announce(dialect: Dialect) -> Vec<RuleId> {
    let mut w = Watched::new(dialect);
    assert_eq!(w.pipeline(&["classified?"]), [FIRST_AD]);
    assert_eq!(
        w.pipeline(&["_notif_", "stop_notif"]),
        ["will send notifs", "OK"]
    );
    w.verdict()
}

#[test]
fn enter_and_stop_in_one_write_with_nothing_to_announce() {
    let got = enter_and_stop_with_nothing_to_announce(Dialect::default());
    assert_eq!(got, [RuleId::COneAtATime]);
}

#[test]
fn enter_and_stop_in_one_write_when_errors_are_ignored() {
    // The stop, read outside the mode, would call for nothing; read in the mode, its OK.
    let yaml = Dialect::default()
        .to_yaml()
        .replace("policy: error", "policy: ignore");
    let ignore = Dialect::from_yaml_str(&yaml, "ignore").unwrap();
    let got = enter_and_stop_with_nothing_to_announce(ignore);
    assert_eq!(got, [RuleId::COneAtATime]);
}

#[test]
fn two_requests_in_one_write() {
    let mut w = watched();
    w.items.publish_random(42);
    w.feed(EventKind::Published {
        kind: notifspec::ItemKind::Random,
    });
    assert_eq!(w.pipeline(&["random?", "random?"]), ["42", "42"]);
    assert_eq!(w.pipeline(&["classified?", "classified?"]), [FIRST_AD, ""]);
    assert_eq!(w.verdict(), [RuleId::COneAtATime, RuleId::COneAtATime]);
}

#[test]
fn enter_and_request_in_one_write() {
    let mut w = watched();
    let sent = w.pipeline(&["_notif_", "random?"]);
    assert_eq!(sent[..2], ["will send notifs", "notif: classified"]);
    assert!(sent[2].starts_with("ERR "), "{sent:?}");
    assert_eq!(sent.len(), 3);
    assert_eq!(w.pipeline(&["stop_notif"]), ["OK"]);
    assert_eq!(w.verdict(), [RuleId::COneAtATime]);
}

#[test]
fn stop_and_request_in_one_write_in_the_mode() {
    let mut w = watched();
    assert_eq!(w.pipeline(&["classified?"]), [FIRST_AD]);
    assert_eq!(w.pipeline(&["_notif_"]), ["will send notifs"]);
    assert_eq!(
        publish(&mut w, notifspec::ItemKind::Random),
        ["notif: random"]
    );
    // The stop answers the notification; the request is read outside the mode.
    assert_eq!(w.pipeline(&["stop_notif", "random?"]), ["OK", "99"]);
    assert_eq!(w.verdict(), [RuleId::COneAtATime]);
}

#[test]
fn enter_stop_and_request_in_one_write() {
    let mut w = watched();
    assert_eq!(
        w.pipeline(&["_notif_", "stop_notif", "classified?"]),
        ["will send notifs", "notif: classified", "OK", FIRST_AD]
    );
    assert_eq!(w.verdict(), [RuleId::COneAtATime, RuleId::COneAtATime]);
}

/// Publishes an item of `kind` and lets the session announce it; returns what it sent.
fn publish(w: &mut Watched, kind: notifspec::ItemKind) -> Vec<String> {
    match kind {
        notifspec::ItemKind::Random => w.items.publish_random(99),
        notifspec::ItemKind::Classified => w.items.publish_classified("new ad"),
    };
    w.feed(EventKind::Published { kind });
    w.session.handle_items_changed(&w.items);
    let mut sent = vec![];
    w.drain(&mut sent);
    sent
}

/// Found by running the differential target with pipelined client lines: the `OK` sent with
/// `_notif_` answers the ad announced right after the ack (the server reads the OK after
/// sending it), so the server may announce the next item at once.
#[test]
fn enter_and_ok_in_one_write() {
    let mut w = watched();
    assert_eq!(
        w.pipeline(&["_notif_", "OK"]),
        ["will send notifs", "notif: classified"]
    );
    assert_eq!(
        publish(&mut w, notifspec::ItemKind::Random),
        ["notif: random"]
    );
    assert_eq!(w.pipeline(&["OK"]), Vec::<String>::new());
    assert_eq!(w.pipeline(&["stop_notif"]), ["OK"]);
    assert_eq!(w.verdict(), [RuleId::COneAtATime]);
}

/// The same when bad commands get no reply (`errors.policy: ignore`), where nothing shows
/// when the server read the OK; found the same way, with the stop answering the last one.
#[test]
fn enter_and_two_oks_in_one_write_when_errors_are_ignored() {
    let yaml = Dialect::default()
        .to_yaml()
        .replace("policy: error", "policy: ignore");
    let mut w = Watched::new(Dialect::from_yaml_str(&yaml, "ignore").unwrap());
    w.items.publish_random(98);
    w.feed(EventKind::Published {
        kind: notifspec::ItemKind::Random,
    });
    assert_eq!(
        w.pipeline(&["_notif_", "OK", "OK"]),
        ["will send notifs", "notif: classified", "notif: random"]
    );
    assert_eq!(
        publish(&mut w, notifspec::ItemKind::Random),
        ["notif: random"]
    );
    assert_eq!(w.pipeline(&["OK", "stop_notif"]), ["OK"]);
    assert_eq!(w.verdict(), [RuleId::COneAtATime, RuleId::COneAtATime]);
}

/// A stop pipelined behind `_notif_` after an earlier stop: it is read in the new session.
#[test]
fn stop_enter_and_stop_in_one_write() {
    let mut w = watched();
    assert_eq!(w.pipeline(&["classified?"]), [FIRST_AD]);
    assert_eq!(w.pipeline(&["_notif_"]), ["will send notifs"]);
    assert_eq!(
        w.pipeline(&["stop_notif", "_notif_", "stop_notif"]),
        ["OK", "will send notifs", "OK"]
    );
    assert_eq!(w.verdict(), [RuleId::COneAtATime, RuleId::CStopOnlyInNotif]);
}
