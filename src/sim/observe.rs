//! The observer of one connection: feeds the checker and the invariants from the server's
//! seat and records the conversation when asked. The engine and the shrinker's replay both
//! use it, so a replayed script is judged exactly as the live run was.

use std::time::Duration;

use crate::checker::{Checker, Event, EventKind, Options, Party, Terminator};
use crate::dialect::{Dialect, ItemKind};

use super::invariants::{Broken, ClientLine, ServerLine, Source, Watch};
use super::{QUIET_MIN, Tick};

/// Longest conversation kept for a transcript (events); a longer one is judged but not saved,
/// so a connection that lives for hours cannot exhaust memory.
const MAX_RECORDED: usize = 200_000;

/// Watches one connection.
#[derive(Debug)]
pub(crate) struct Observer {
    checker: Checker,
    watch: Watch,
    last_event: Tick,
    /// The events fed, with their times, when recording.
    pub recording: Option<Vec<(Tick, Event)>>,
    /// The verdict is given: later events are ignored.
    pub finished: bool,
}

impl Observer {
    /// `items_known` says every publish is fed at the moment the server saw it (true in the
    /// embedded simulation; over TCP a notification may overtake the news of its publish, so
    /// availability rules cannot be judged from the client's seat).
    pub(crate) fn new(
        dialect: &Dialect,
        liveness: Tick,
        random_version: u64,
        now: Tick,
        record: bool,
        items_known: bool,
    ) -> Observer {
        let options = Options {
            items_known,
            liveness_bound: Duration::from_micros(liveness),
        };
        Observer {
            checker: Checker::with_options(dialect.clone(), options),
            watch: Watch::new(dialect, liveness, random_version, items_known),
            last_event: now,
            recording: record.then(Vec::new),
            finished: false,
        }
    }

    /// Advances the invariants' clock; a long silence becomes a `Quiet` event.
    fn tick(&mut self, now: Tick, blocked: bool, out: &mut Vec<Broken>) {
        self.watch.tick(now, blocked, out);
        let gap = now.saturating_sub(self.last_event);
        if gap >= QUIET_MIN {
            let duration = Duration::from_millis(gap / 1000);
            self.check(now, EventKind::Quiet { duration }, out);
        }
    }

    fn check(&mut self, now: Tick, kind: EventKind, out: &mut Vec<Broken>) {
        let event = Event {
            at: None,
            source_line: None,
            kind,
        };
        for v in self.checker.feed(&event) {
            out.push(Broken {
                rule: v.rule,
                at: now,
                message: v.message,
                source: Source::Checker,
            });
        }
        if let Some(r) = self.recording.as_mut() {
            if r.len() < MAX_RECORDED {
                r.push((now, event));
            } else {
                // Too long to keep: the verdict stands, the transcript is not saved.
                self.recording = None;
            }
        }
        self.last_event = now;
    }

    /// The server read a line from the client.
    pub(crate) fn client_line(
        &mut self,
        now: Tick,
        bytes: &[u8],
        class: ClientLine,
        blocked: bool,
        out: &mut Vec<Broken>,
    ) {
        if self.finished {
            return;
        }
        self.tick(now, blocked, out);
        self.watch.on_client(now, class);
        let text = String::from_utf8_lossy(bytes).into_owned();
        self.check(now, line(Party::Client, text), out);
    }

    /// The server wrote a line; returns the publish→notification latency of an announcement.
    pub(crate) fn server_line(
        &mut self,
        now: Tick,
        text: &str,
        class: ServerLine,
        random_version: u64,
        blocked: bool,
        out: &mut Vec<Broken>,
    ) -> Option<Tick> {
        if self.finished {
            return None;
        }
        self.tick(now, blocked, out);
        let latency = self.watch.on_server(now, class, text, random_version, out);
        self.check(now, line(Party::Server, text.to_string()), out);
        latency
    }

    /// An item was published while the connection was open.
    pub(crate) fn published(
        &mut self,
        now: Tick,
        kind: ItemKind,
        blocked: bool,
        out: &mut Vec<Broken>,
    ) {
        if self.finished {
            return;
        }
        self.tick(now, blocked, out);
        self.watch.on_publish(now, kind);
        self.check(now, EventKind::Published { kind }, out);
    }

    /// A side closed the connection (as the server saw it).
    pub(crate) fn closed(&mut self, now: Tick, by: Party, blocked: bool, out: &mut Vec<Broken>) {
        if self.finished {
            return;
        }
        self.tick(now, blocked, out);
        self.check(now, EventKind::Closed { by }, out);
    }

    /// The verdict: `complete` when a side closed the connection.
    pub(crate) fn finish(
        &mut self,
        end: Tick,
        complete: bool,
        blocked: bool,
        out: &mut Vec<Broken>,
    ) {
        if self.finished {
            return;
        }
        if !complete {
            self.tick(end, blocked, out);
        }
        self.finished = true;
        for v in self.checker.finish(complete) {
            out.push(Broken {
                rule: v.rule,
                at: end,
                message: v.message,
                source: Source::Checker,
            });
        }
    }
}

fn line(from: Party, text: String) -> EventKind {
    EventKind::Line {
        from,
        text,
        terminator: Terminator::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::super::invariants::{classify_client, classify_server};
    use super::*;
    use crate::rule::RuleId;

    /// `S-PROMISE` has one judge: the checker, fed the conversation by the observer.
    #[test]
    fn a_broken_promise_is_reported_once_by_the_checker() {
        let d = Dialect::default();
        let mut obs = Observer::new(&d, 5_000_000, 1, 0, false, true);
        let mut out = Vec::new();
        let mut t = 0;
        let client = |obs: &mut Observer, out: &mut Vec<Broken>, line: &str, t: Tick| {
            obs.client_line(
                t,
                line.as_bytes(),
                classify_client(&d, line.as_bytes()),
                false,
                out,
            );
        };
        let server = |obs: &mut Observer, out: &mut Vec<Broken>, line: &str, t: Tick| {
            obs.server_line(t, line, classify_server(&d, line), 1, false, out);
        };
        for (from_client, line) in [
            (true, "_notif_"),
            (false, "will send notifs"),
            (false, "notif: classified"),
            (true, "stop_notif"),
            (false, "OK"),
            (true, "classified?"),
            (false, ""),
        ] {
            t += 1;
            if from_client {
                client(&mut obs, &mut out, line, t);
            } else {
                server(&mut obs, &mut out, line, t);
            }
        }
        let promise: Vec<_> = out.iter().filter(|b| b.rule == RuleId::SPromise).collect();
        assert_eq!(promise.len(), 1, "{out:?}");
        assert_eq!(promise[0].source, Source::Checker);
    }
}
