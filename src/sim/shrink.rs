//! Shrinking a failing conversation to the shortest one that still breaks the same rule.
//!
//! A violation found after ten simulated minutes sits in a conversation of hundreds of lines;
//! what a developer needs is the five that matter. The server's view of a connection is
//! fully determined by what reached it (the client's lines, the publishes, a close), so that
//! is the *script* we shrink: delta debugging drops chunks of steps, replays the rest against
//! a fresh server, and keeps any smaller script that still shows the rule.

use crate::checker::{Event, EventKind, Party};
use crate::dialect::{Dialect, ItemKind};
use crate::rule::RuleId;

use super::Tick;
use super::invariants::{self, Broken};
use super::observe::Observer;
use super::server::{Item, ServerFactory};

/// What reached the server, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A line from the client.
    Line(Vec<u8>),
    /// An item was published.
    Publish(ItemKind),
    /// The client closed the connection.
    Close,
}

/// A connection's inputs with their times (relative to the connection's start).
#[derive(Debug, Clone)]
pub(crate) struct Script {
    pub steps: Vec<(Tick, Step)>,
    /// When observation stopped (the last silence counts for liveness).
    pub end: Tick,
}

impl Script {
    /// The inputs of a recorded conversation (server lines and silences are outputs).
    pub(crate) fn from_events(events: &[(Tick, Event)], start: Tick, end: Tick) -> Script {
        let steps = events
            .iter()
            .filter_map(|(t, e)| {
                let step = match &e.kind {
                    EventKind::Line {
                        from: Party::Client,
                        text,
                        ..
                    } => Step::Line(text.as_bytes().to_vec()),
                    EventKind::Published { kind } => Step::Publish(*kind),
                    EventKind::Closed { by: Party::Client } => Step::Close,
                    _ => return None,
                };
                Some((t - start, step))
            })
            .collect();
        Script {
            steps,
            end: end - start,
        }
    }
}

/// Replays scripts against fresh servers, judged exactly as the live run was.
pub(crate) struct Replayer<'a> {
    pub dialect: &'a Dialect,
    pub factory: &'a ServerFactory,
    pub initial_random: u64,
    pub initial_ad: &'a str,
    pub liveness: Tick,
}

/// What a replay produced.
pub(crate) struct Replay {
    pub broken: Vec<Broken>,
    pub events: Vec<(Tick, Event)>,
}

impl Replayer<'_> {
    pub(crate) fn run(&self, steps: &[(Tick, Step)], end: Tick, record: bool) -> Replay {
        const CONN: u32 = 0;
        let d = self.dialect;
        let mut server = (self.factory)(d, self.initial_random, self.initial_ad);
        server.open(CONN);
        let mut version = 1;
        let mut obs = Observer::new(d, self.liveness, version, 0, record, true);
        let mut broken = Vec::new();
        let mut complete = false;
        let mut last = 0;
        let mut published = 0u64;
        for (t, step) in steps {
            let t = *t;
            last = t;
            match step {
                Step::Line(bytes) => {
                    let class = invariants::classify_client(d, bytes);
                    obs.client_line(t, bytes, class, false, &mut broken);
                    if bytes.len() > d.max_line {
                        server.handle_too_long(CONN);
                    } else {
                        server.handle_line(CONN, bytes);
                    }
                }
                Step::Publish(kind) => {
                    published += 1;
                    let item = match kind {
                        ItemKind::Random => Item::Random(1000 + published),
                        ItemKind::Classified => {
                            Item::Classified(format!("Simulated ad #{published}"))
                        }
                    };
                    server.publish(&item);
                    if *kind == ItemKind::Random {
                        version += 1;
                    }
                    obs.published(t, *kind, false, &mut broken);
                    if server.wants_items(CONN) {
                        server.handle_items_changed(CONN);
                    }
                }
                Step::Close => {
                    obs.closed(t, Party::Client, false, &mut broken);
                    complete = true;
                    break;
                }
            }
            while let Some(line) = server.poll_transmit(CONN) {
                let class = invariants::classify_server(d, &line);
                obs.server_line(t, &line, class, version, false, &mut broken);
            }
            if server.is_closing(CONN) {
                obs.closed(t, Party::Server, false, &mut broken);
                complete = true;
                break;
            }
        }
        let end = if complete { last } else { end.max(last) };
        obs.finish(end, complete, false, &mut broken);
        Replay {
            broken,
            events: obs.recording.take().unwrap_or_default(),
        }
    }

    /// The shortest script found that still breaks `rule`, and how many replays it took:
    /// first fewer steps (delta debugging), then less time (silences that do not matter are
    /// squeezed out, so the transcript is not padded with `! quiet 22m`).
    pub(crate) fn shrink(&self, script: &Script, rule: RuleId, budget: usize) -> (Script, usize) {
        let mut tries = 0;
        let mut fails = |steps: &[(Tick, Step)], end: Tick| {
            tries += 1;
            self.run(steps, end, false)
                .broken
                .iter()
                .any(|b| b.rule == rule)
        };
        let mut steps = ddmin(script.steps.clone(), budget, |c| fails(c, script.end));
        let mut end = script.end;
        // Close each gap between steps (the first one too) where that keeps the violation.
        for i in 0..steps.len() {
            let prev = if i == 0 { 0 } else { steps[i - 1].0 };
            let gap = steps[i].0 - prev;
            if gap == 0 {
                continue;
            }
            let candidate: Vec<(Tick, Step)> = steps
                .iter()
                .enumerate()
                .map(|(j, (t, st))| (if j >= i { t - gap } else { *t }, st.clone()))
                .collect();
            if fails(&candidate, end - gap) {
                steps = candidate;
                end -= gap;
            }
        }
        // The final silence: the shortest that still shows it (binary search).
        let last = steps.last().map_or(0, |(t, _)| *t);
        let (mut lo, mut hi) = (last, end);
        while hi > lo + 1_000 {
            let mid = lo + (hi - lo) / 2;
            if fails(&steps, mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        end = hi;
        (Script { steps, end }, tries)
    }
}

/// Delta debugging (Zeller's ddmin, complement-removal variant, then single steps): the
/// smallest sub-sequence of `items` for which `fails` still holds, within `budget` calls.
/// `fails(items)` is assumed true; order is kept.
pub fn ddmin<T: Clone>(
    items: Vec<T>,
    budget: usize,
    mut fails: impl FnMut(&[T]) -> bool,
) -> Vec<T> {
    let mut current = items;
    let mut calls = 0;
    let mut n = 2usize;
    while current.len() >= 2 && calls < budget {
        let chunk = current.len().div_ceil(n);
        let mut reduced = false;
        let mut start = 0;
        while start < current.len() && calls < budget {
            let end = (start + chunk).min(current.len());
            let candidate: Vec<T> = current[..start]
                .iter()
                .chain(&current[end..])
                .cloned()
                .collect();
            calls += 1;
            if fails(&candidate) {
                current = candidate;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
            start = end;
        }
        if !reduced {
            if n >= current.len() {
                break;
            }
            n = (n * 2).min(current.len());
        }
    }
    // A last pass over single steps catches what chunking missed.
    let mut i = 0;
    while i < current.len() && calls < budget {
        let mut candidate = current.clone();
        candidate.remove(i);
        calls += 1;
        if fails(&candidate) {
            current = candidate;
        } else {
            i += 1;
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::server::ReferenceServer;

    #[test]
    fn ddmin_finds_the_minimal_subsequence() {
        let items: Vec<u32> = (0..100).collect();
        let got = ddmin(items, 10_000, |s| s.contains(&17) && s.contains(&63));
        assert_eq!(got, vec![17, 63]);
        let got = ddmin((0..10).collect(), 10_000, |s: &[u32]| s.len() >= 3);
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn ddmin_respects_its_budget() {
        let mut calls = 0;
        ddmin((0..1000).collect::<Vec<u32>>(), 50, |s| {
            calls += 1;
            s.contains(&500)
        });
        assert!(calls <= 50);
    }

    #[test]
    fn replay_judges_like_the_run() {
        let d = Dialect::default();
        let factory = ReferenceServer::factory();
        let r = Replayer {
            dialect: &d,
            factory: &factory,
            initial_random: 5,
            initial_ad: "first",
            liveness: 5_000_000,
        };
        let steps = vec![
            (0, Step::Line(b"_notif_".to_vec())),
            (10, Step::Line(b"OK".to_vec())),
            (20, Step::Publish(ItemKind::Random)),
            (30, Step::Line(b"stop_notif".to_vec())),
            (40, Step::Close),
        ];
        let out = r.run(&steps, 50, true);
        assert!(matches!(
            out.events.last(),
            Some((
                40,
                Event {
                    kind: EventKind::Closed { by: Party::Client },
                    ..
                }
            ))
        ));
        let lines: Vec<String> = out
            .events
            .iter()
            .filter_map(|(_, e)| match &e.kind {
                EventKind::Line { from, text, .. } => Some(format!("{from}: {text}")),
                _ => None,
            })
            .collect();
        assert_eq!(
            lines,
            [
                "client: _notif_",
                "server: will send notifs",
                "server: notif: classified",
                "client: OK",
                "server: notif: random",
                "client: stop_notif",
                "server: OK",
            ]
        );
        assert!(
            out.broken
                .iter()
                .all(|b| b.rule.party() == crate::rule::Party::Client),
            "{:?}",
            out.broken
                .iter()
                .map(|b| (&b.rule, &b.message))
                .collect::<Vec<_>>()
        );
    }
}
