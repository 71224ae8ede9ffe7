//! What a simulation found, for people (text) and machines (JSON).
//!
//! The report holds only virtual-time figures and counts, in a fixed order, so the same
//! scenario and seed give a byte-identical report: a CI job can diff two runs. Wall-clock
//! time goes to stderr, never into the report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::escape::printable;

/// A whole run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SimReport {
    /// Scenario name.
    pub scenario: String,
    /// The seed that reproduces the run.
    pub seed: u64,
    /// `embedded` (reference server, virtual time) or `external` (real time over TCP).
    pub mode: String,
    /// What was simulated against: `reference server` or the external address.
    pub server: String,
    /// Dialect name.
    pub dialect: String,
    /// Virtual (or real, for external runs) seconds simulated, drain included.
    pub seconds: f64,
    /// Simulated clients, by group label.
    pub clients: BTreeMap<String, u64>,
    /// Connections opened (reconnections included).
    pub connections: u64,
    /// Clients given each fault.
    pub faults: BTreeMap<String, u64>,
    /// Traffic counts.
    pub traffic: Traffic,
    /// Publish→notification latency.
    pub latency: Latency,
    /// Rule violations that count (not explained by an injected fault), by rule ID.
    pub violations: BTreeMap<String, RuleCount>,
    /// Violations an injected fault explains (e.g. a client sending garbage breaks C- rules).
    pub explained: BTreeMap<String, u64>,
    /// The first violations found, in connection order.
    pub findings: Vec<Finding>,
    /// Transcripts written under `--out`.
    pub saved: Vec<Saved>,
    /// Largest number of bytes the server held for one connection beyond the link buffer.
    pub peak_queued_bytes: u64,
    /// `pass` or `fail`.
    pub verdict: String,
}

/// Message counts.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Traffic {
    /// `random?` and `classified?`.
    pub requests: u64,
    /// Enter commands.
    pub mode_entries: u64,
    /// Notifications sent by the server.
    pub notifications: u64,
    /// `OK` answers to notifications.
    pub answers: u64,
    /// `stop_notif` lines.
    pub stops: u64,
    /// Error lines sent by the server.
    pub errors: u64,
    /// Other client lines (garbage, oversized).
    pub other_client_lines: u64,
    /// Random numbers published.
    pub published_random: u64,
    /// Ads published.
    pub published_classified: u64,
    /// Lines in both directions.
    pub lines: u64,
    /// Lines per second of simulated time.
    pub lines_per_second: f64,
    /// Bytes client→server.
    pub bytes_to_server: u64,
    /// Bytes server→client.
    pub bytes_to_client: u64,
    /// Requests a client stopped waiting for (reply timeout).
    pub gave_up: u64,
    /// Notifications that crossed a client's `stop_notif` on the wire (races exercised).
    pub crossed: u64,
    /// Connections a client dropped because the server broke the protocol.
    pub dropped_on_server_error: u64,
    /// Connections still open when the drain period ended.
    pub unfinished: u64,
    /// Connections the server closed (after an oversized line, for instance).
    pub server_closes: u64,
    /// Connections the clients closed (lifetimes, faults, the end of the run).
    pub client_closes: u64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    /// Announcements measured.
    pub count: u64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Maximum, ms.
    pub max_ms: f64,
}

pub use crate::histogram::{Decimal3, Histogram};

/// The simulator's view of a [`Decimal3`] histogram: samples in microseconds, a summary in
/// milliseconds at three significant digits (constant memory however long the run).
impl Histogram<Decimal3> {
    /// Adds one sample (microseconds).
    pub fn record(&mut self, micros: u64) {
        self.record_value(micros);
    }

    /// The report's summary.
    pub fn summary(&self) -> Latency {
        if self.count() == 0 {
            return Latency::default();
        }
        Latency {
            count: self.count(),
            p50_ms: self.value_at(0.50) as f64 / 1000.0,
            p99_ms: self.value_at(0.99) as f64 / 1000.0,
            max_ms: self.max_value() as f64 / 1000.0,
        }
    }
}

/// How often a rule was broken.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RuleCount {
    /// Occurrences.
    pub count: u64,
    /// Connections where it happened.
    pub connections: u64,
}

/// One violation, as first seen on its connection.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    /// Connection number.
    pub connection: u32,
    /// Client number.
    pub client: u32,
    /// Rule ID.
    pub rule: String,
    /// Seconds since the start of the run.
    pub at: f64,
    /// `checker` or `invariant`.
    pub found_by: String,
    /// What happened.
    pub message: String,
}

/// A saved transcript pair.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Saved {
    /// Connection number.
    pub connection: u32,
    /// The rule the transcripts show.
    pub rule: String,
    /// The whole conversation.
    pub original: String,
    /// The shrunk one (absent when the violation did not reproduce in isolation).
    pub shrunk: Option<String>,
    /// Client steps before shrinking.
    pub steps: usize,
    /// Client steps after shrinking.
    pub shrunk_steps: Option<usize>,
    /// Why there is no shrunk transcript, when there is none.
    pub not_shrunk: Option<String>,
    /// Whether checking the written file offline shows the rule again.
    pub check_reproduces: bool,
}

/// How many findings the report lists (all are counted).
pub const MAX_FINDINGS: usize = 20;

impl SimReport {
    /// Whether no violation counts.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// The report as text. Names and paths from the scenario file are escaped ([`printable`]): a newline in a
    /// scenario's name must not forge a report line.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        self.text_setup(&mut s);
        self.text_traffic(&mut s);
        self.text_violations(&mut s);
        self.text_saved(&mut s);
        let _ = writeln!(s, "verdict      {}", self.verdict.to_uppercase());
        s
    }

    /// What ran: scenario, seed, mode, clients and faults.
    fn text_setup(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "notifspec simulate: scenario {}, seed {}, {} ({}), dialect {}",
            printable(&self.scenario),
            self.seed,
            self.mode,
            self.server,
            printable(&self.dialect)
        );
        let clients: Vec<String> = self
            .clients
            .iter()
            .map(|(g, n)| format!("{n} {}", printable(g)))
            .collect();
        let _ = writeln!(
            s,
            "clients      {} ({}), {} connections, {:.1}s simulated",
            self.clients.values().sum::<u64>(),
            clients.join(", "),
            self.connections,
            self.seconds
        );
        if !self.faults.is_empty() {
            let faults: Vec<String> = self
                .faults
                .iter()
                .map(|(f, n)| format!("{f}: {n}"))
                .collect();
            let _ = writeln!(s, "faults       {}", faults.join(", "));
        }
    }

    /// What went over the wire: items, requests, notifications, latency, throughput.
    fn text_traffic(&self, s: &mut String) {
        let t = &self.traffic;
        let _ = writeln!(
            s,
            "published    {} random, {} classified",
            t.published_random, t.published_classified
        );
        let _ = writeln!(
            s,
            "requests     {} fetches, {} mode entries, {} error replies",
            t.requests, t.mode_entries, t.errors
        );
        let _ = writeln!(
            s,
            "notifs       {} notifications, {} OK answers, {} stop_notif, {} crossed a stop_notif",
            t.notifications, t.answers, t.stops, t.crossed
        );
        let _ = writeln!(
            s,
            "latency      publish->notification p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} measured)",
            self.latency.p50_ms, self.latency.p99_ms, self.latency.max_ms, self.latency.count
        );
        let _ = writeln!(
            s,
            "throughput   {} lines ({:.1}/s), {} bytes to server, {} bytes to clients",
            t.lines, t.lines_per_second, t.bytes_to_server, t.bytes_to_client
        );
        let _ = writeln!(
            s,
            "other        {} garbage/oversized client lines, {} gave up waiting, {} dropped on a server error, {} open at the end, peak queued {} bytes",
            t.other_client_lines,
            t.gave_up,
            t.dropped_on_server_error,
            t.unfinished,
            self.peak_queued_bytes
        );
    }

    /// What was explained by injected faults, and what broke a rule.
    fn text_violations(&self, s: &mut String) {
        if !self.explained.is_empty() {
            let ex: Vec<String> = self
                .explained
                .iter()
                .map(|(r, n)| format!("{r} x{n}"))
                .collect();
            let _ = writeln!(s, "explained    by injected faults: {}", ex.join(", "));
        }
        if self.violations.is_empty() {
            let _ = writeln!(s, "violations   none");
        } else {
            let _ = writeln!(s, "violations");
            for (rule, c) in &self.violations {
                let _ = writeln!(
                    s,
                    "  {rule:<22} {} times on {} connections",
                    c.count, c.connections
                );
            }
            for f in &self.findings {
                let _ = writeln!(
                    s,
                    "  conn {} (client {}) at {:.3}s: {} [{}]: {}",
                    f.connection, f.client, f.at, f.rule, f.found_by, f.message
                );
            }
        }
    }

    /// The conversations saved for replay, and whether shrinking worked.
    fn text_saved(&self, s: &mut String) {
        for saved in &self.saved {
            let shrunk = match (&saved.shrunk, saved.shrunk_steps) {
                (Some(p), Some(n)) => format!(", shrunk to {n} steps: {}", printable(p)),
                _ => format!(
                    ", not shrunk: {}",
                    saved.not_shrunk.as_deref().unwrap_or("unknown reason")
                ),
            };
            let _ = writeln!(
                s,
                "saved        {} {} ({} steps){}{}",
                saved.rule,
                printable(&saved.original),
                saved.steps,
                shrunk,
                if saved.check_reproduces {
                    ""
                } else {
                    " [check does not show the rule offline]"
                }
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut h = Histogram::<Decimal3>::default();
        for i in 1..=100 {
            h.record(i * 1000);
        }
        let l = h.summary();
        assert_eq!(
            (l.p50_ms, l.p99_ms, l.max_ms, l.count),
            (50.0, 99.0, 100.0, 100)
        );
        assert_eq!(
            Histogram::<Decimal3>::default().summary(),
            Latency::default()
        );
    }

    #[test]
    fn histogram_keeps_three_digits() {
        let mut a = Histogram::<Decimal3>::default();
        a.record(5);
        let mut b = Histogram::<Decimal3>::default();
        b.record(2_000_000);
        a.merge(&b);
        assert_eq!(a.summary().max_ms, 2000.0);
        assert_eq!(a.summary().count, 2);
    }
}
