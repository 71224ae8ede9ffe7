//! A registration round trip before a transcript's first publish.
//!
//! A server that accepts connections in the kernel first (an asyncio or thread-pool server)
//! may not have registered a new connection yet when a publish made right after connecting
//! reaches it; it then takes the item as published before the connection, which it legally
//! does not owe as news (docs/protocol.md, section 8). So where a transcript publishes before
//! the connection's first exchange, the replay first sends `random?` and waits for its reply:
//! the reply proves the server has registered the connection. Fetching the number current at
//! connect changes nothing a transcript may demand, since that number is never owed
//! (section 8.1, `connect-random`).

use crate::dialect::Dialect;
use crate::transcript::{Directive, Entry, EntryKind, Message};

/// Inserts `C: random?` / `S: {int}` before the first publish of `entries` when it comes before
/// any line; returns whether it did. The inserted lines carry the publish's line number.
pub(super) fn insert_round_trip(entries: &mut Vec<Entry>, dialect: &Dialect) -> bool {
    let is_publish = |k: &EntryKind| {
        matches!(
            k,
            EntryKind::Directive(Directive::PublishRandom(_) | Directive::PublishClassified(_))
        )
    };
    let first = entries.iter().position(|e| {
        matches!(e.kind, EntryKind::Client(_) | EntryKind::Server(_)) || is_publish(&e.kind)
    });
    let Some(i) = first.filter(|i| is_publish(&entries[*i].kind)) else {
        return false;
    };
    let Ok(any_int) = Message::parse("{int}") else {
        return false;
    };
    let line = entries[i].line;
    let request = Entry {
        line,
        kind: EntryKind::Client(Message::literal_text(&dialect.commands.random)),
    };
    let reply = Entry {
        line,
        kind: EntryKind::Server(any_int),
    };
    entries.splice(i..i, [request, reply]);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::parse;

    fn kinds(text: &str) -> (bool, Vec<String>) {
        let t = parse(text, "t").unwrap();
        let mut entries = t.entries.clone();
        let done = insert_round_trip(&mut entries, &Dialect::default());
        let shown = entries
            .iter()
            .map(|e| match &e.kind {
                EntryKind::Client(m) => format!("C: {}", m.raw),
                EntryKind::Server(m) => format!("S: {}", m.raw),
                EntryKind::Directive(_) => "!".into(),
                EntryKind::Unrecorded => "[...]".into(),
            })
            .collect();
        (done, shown)
    }

    #[test]
    fn only_a_publish_before_the_first_line_gets_a_round_trip() {
        let (done, got) = kinds("! publish random 5\nC: _notif_\nS: will send notifs\n");
        assert!(done);
        assert_eq!(
            got,
            [
                "C: random?",
                "S: {int}",
                "!",
                "C: _notif_",
                "S: will send notifs"
            ]
        );
        let (done, _) = kinds("C: random?\nS: 1\n! publish random 5\n");
        assert!(!done);
        let (done, _) = kinds("! quiet 1s\nC: random?\nS: 1\n");
        assert!(!done);
    }

    /// The runner publishes only once the round trip's reply is in.
    #[test]
    fn the_engine_publishes_after_the_reply() {
        use crate::checker::Terminator;
        use crate::replay::script::{Arrival, Role, ScriptConfig, ScriptRunner, Step};
        use std::time::Duration;
        let t = parse("! publish random 5\nC: _notif_\nS: will send notifs\n", "t").unwrap();
        let cfg = ScriptConfig {
            role: Role::Client,
            strict: false,
            timeout: Duration::from_secs(2),
            control: true,
            grace: Duration::ZERO,
            items_known: true,
        };
        let mut e = ScriptRunner::new(&t, Dialect::default(), cfg);
        let mut log = vec![];
        let now = Duration::from_millis(1);
        for _ in 0..10 {
            match e.step(now) {
                Step::Send(l) => log.push(format!("send {l}")),
                Step::Wait(_) if log.len() == 1 => {
                    log.push("reply".into());
                    e.receive(
                        Arrival::Line {
                            text: "42".into(),
                            terminator: Terminator::CrLf,
                        },
                        now,
                    );
                }
                Step::Publish(_) => {
                    log.push("publish".into());
                    break;
                }
                other => panic!("unexpected {other:?} after {log:?}"),
            }
        }
        assert_eq!(log, ["send random?", "reply", "publish"]);
    }
}
