//! Scenarios: what a simulation runs, loaded from YAML.
//!
//! A scenario is data, not code, so an implementer can describe the mix of clients their
//! users have (and the faults their network has) without writing Rust. Every field is
//! checked while parsing — unknown keys, reversed ranges, shares outside 0..1 — and an error
//! names the file, line and column, because a typo in a 200-line scenario must not cost an
//! afternoon. The examples in `scenarios/` are commented and double as documentation.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use crate::dialect::{DEFAULT_DIALECT, Dialect, DialectError, ItemKind};
use crate::fsio::{self, AllowedPaths, FileError, FileKind};
use crate::rule::RuleId;
use crate::yaml::{self, YamlError};

/// Largest scenario file read; scenarios are a few kilobytes, so anything larger is a wrong path.
pub const MAX_SCENARIO_FILE: u64 = 1024 * 1024;

/// How a scenario file is read: its limit, and its name in errors.
pub const SCENARIO_FILE: FileKind = FileKind {
    what: "scenario",
    limit: MAX_SCENARIO_FILE,
};
/// Most simulated clients a scenario may ask for: beyond this a run would take minutes per
/// simulated second, which is never what the author meant.
pub const MAX_CLIENTS: u64 = 1_000_000;
/// Longest simulated run (30 days of virtual time).
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Highest publish rate per kind, per second of virtual time.
pub const MAX_RATE: f64 = 10_000.0;

/// A whole scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name for reports and saved transcripts (defaults to the file stem).
    #[serde(default)]
    pub name: Option<String>,
    /// What the scenario is meant to exercise.
    #[serde(default)]
    pub description: String,
    /// Virtual time during which clients act and items are published. A drain period
    /// follows, in which clients leave the mode and close gracefully.
    #[serde(deserialize_with = "de_duration")]
    pub duration: Duration,
    /// Dialect name or path (relative to the scenario file).
    #[serde(default = "default_dialect")]
    pub dialect: String,
    /// The seed used when `--seed` is not given.
    #[serde(default)]
    pub seed: Option<u64>,
    /// The simulated network between each client and the server.
    #[serde(default)]
    pub network: Network,
    /// Groups of clients with the same behaviour.
    pub clients: Vec<ClientGroup>,
    /// How items appear on the server.
    #[serde(default)]
    pub publishers: Publishers,
    /// Misbehaviour injected into a share of the clients, written `- garbage: {share: 0.1}`.
    #[serde(
        default,
        deserialize_with = "serde_yaml::with::singleton_map_recursive::deserialize"
    )]
    pub faults: Vec<Fault>,
    /// Which rules apply and the bounds of the end-to-end invariants.
    #[serde(default)]
    pub checks: Checks,
}

fn default_dialect() -> String {
    DEFAULT_DIALECT.to_string()
}

/// The in-memory links. Latency is what makes notifications and `stop_notif` cross on the
/// wire; the buffer is what a client that stops reading fills up.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// One-way latency, drawn per line from this range (lines never overtake each other).
    #[serde(default = "default_latency")]
    pub latency: Span,
    /// Bytes a link holds before the sender blocks (like a socket buffer).
    #[serde(default = "default_buffer")]
    pub buffer: usize,
}

fn default_latency() -> Span {
    Span::new(Duration::from_millis(1), Duration::from_millis(10))
}
fn default_buffer() -> usize {
    64 * 1024
}

impl Default for Network {
    fn default() -> Self {
        Network {
            latency: default_latency(),
            buffer: default_buffer(),
        }
    }
}

/// How a group of clients behaves. Every behaviour follows the protocol (it is built on the
/// reference client session); they differ in how they use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BehaviourKind {
    /// Like the seed's example: fetch, enter the mode, leave on an interesting notification,
    /// fetch it, enter again; answer `OK` to the others.
    #[default]
    Typical,
    /// Reacts at once to every notification and fetches everything it can.
    Greedy,
    /// Stays in the mode for long stretches answering `OK`, fetching only now and then.
    Lazy,
    /// Leaves the mode exactly when a notification is due, so `stop_notif` crosses it.
    Racy,
}

impl fmt::Display for BehaviourKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BehaviourKind::Typical => "typical",
            BehaviourKind::Greedy => "greedy",
            BehaviourKind::Lazy => "lazy",
            BehaviourKind::Racy => "racy",
        })
    }
}

/// A group of identical clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientGroup {
    /// A label for reports (defaults to the behaviour).
    #[serde(default)]
    pub name: Option<String>,
    /// How many clients.
    pub count: u64,
    /// How they behave.
    #[serde(default)]
    pub behaviour: BehaviourKind,
    /// The kinds they care about; notifications of other kinds are answered `OK`.
    #[serde(default = "default_interest")]
    pub interest: Vec<ItemKind>,
    /// Pause before each action (reading a reply, answering a notification).
    #[serde(default = "default_think")]
    pub think: Span,
    /// How long a stretch in notification mode lasts before the client leaves on its own.
    #[serde(default = "default_stay")]
    pub stay: Span,
    /// When, after the start, each client first connects (spreads a connection storm).
    #[serde(default = "default_start")]
    pub start: Span,
    /// How long a connection lives before the client closes it gracefully; absent: the
    /// whole run.
    #[serde(default)]
    pub lifetime: Option<Span>,
    /// What a client does when its connection ends before the run does.
    #[serde(default)]
    pub reconnect: Reconnect,
}

fn default_interest() -> Vec<ItemKind> {
    ItemKind::ALL.to_vec()
}
fn default_think() -> Span {
    Span::new(Duration::from_millis(50), Duration::from_millis(500))
}
fn default_stay() -> Span {
    Span::new(Duration::from_secs(10), Duration::from_secs(60))
}
fn default_start() -> Span {
    Span::new(Duration::ZERO, Duration::from_secs(1))
}

impl ClientGroup {
    /// The label used in reports.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.behaviour.to_string())
    }
}

/// Reconnection policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reconnect {
    /// Pause before reconnecting.
    #[serde(default = "default_reconnect_after")]
    pub after: Span,
    /// Most reconnections per client; absent: no limit. `0` never reconnects.
    #[serde(default)]
    pub max: Option<u32>,
}

fn default_reconnect_after() -> Span {
    Span::new(Duration::from_secs(1), Duration::from_secs(5))
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            after: default_reconnect_after(),
            max: None,
        }
    }
}

/// How items appear on the server.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publishers {
    /// New random numbers.
    #[serde(default)]
    pub random: Option<Stream>,
    /// New classified ads.
    #[serde(default)]
    pub classified: Option<Stream>,
    /// The ads published, in order (cycled); absent: a few built-in ones.
    #[serde(default)]
    pub ads: Option<Vec<String>>,
}

impl Publishers {
    /// The stream for `kind`, if any.
    pub fn stream(&self, kind: ItemKind) -> Option<&Stream> {
        match kind {
            ItemKind::Random => self.random.as_ref(),
            ItemKind::Classified => self.classified.as_ref(),
        }
    }
}

/// A stream of publishes: bursts arrive as a Poisson process at `rate` per second, each burst
/// publishing a number of items drawn from `burst`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stream {
    /// Bursts per second of virtual time.
    #[serde(deserialize_with = "de_rate")]
    pub rate: f64,
    /// Items per burst (`3` or `[1, 5]`); bursts are what make notifications pile up.
    #[serde(default = "one")]
    pub burst: Count,
}

fn one() -> Count {
    Count { lo: 1, hi: 1 }
}

/// The state a client is in when a `disconnect` fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultState {
    /// Nothing in flight.
    Idle,
    /// A request sent, its reply not received.
    AwaitingReply,
    /// In notification mode with nothing to answer.
    InMode,
    /// A notification received and not answered yet.
    Notified,
    /// `stop_notif` sent, its `OK` not received.
    Stopping,
}

impl fmt::Display for FaultState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultState::Idle => "idle",
            FaultState::AwaitingReply => "awaiting_reply",
            FaultState::InMode => "in_mode",
            FaultState::Notified => "notified",
            FaultState::Stopping => "stopping",
        })
    }
}

/// A fault injected into a share of all clients (each client gets at most one fault; the
/// clients are chosen by the seed).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Drops the connection without a word the first time the client is in `when`.
    Disconnect {
        /// Share of all clients, 0..1.
        #[serde(deserialize_with = "de_share")]
        share: f64,
        /// The state in which the connection is dropped.
        when: FaultState,
    },
    /// Reads each line only after this delay (a slow consumer: notifications wait).
    SlowReader {
        /// Share of all clients, 0..1.
        #[serde(deserialize_with = "de_share")]
        share: f64,
        /// Delay per line read.
        delay: Span,
    },
    /// Stops reading altogether after a while, so the server's writes block.
    StopReading {
        /// Share of all clients, 0..1.
        #[serde(deserialize_with = "de_share")]
        share: f64,
        /// Time after connecting when reading stops.
        after: Span,
    },
    /// Sends a line that is no command of the dialect every so often.
    Garbage {
        /// Share of all clients, 0..1.
        #[serde(deserialize_with = "de_share")]
        share: f64,
        /// Interval between garbage lines.
        every: Span,
    },
    /// Sends one line longer than the dialect's limit (the server then closes).
    Oversized {
        /// Share of all clients, 0..1.
        #[serde(deserialize_with = "de_share")]
        share: f64,
        /// Time after connecting when it is sent.
        after: Span,
    },
    /// Sends `stop_notif` exactly when a notification is due (a race, legal on both sides).
    StopWhenDue {
        /// Share of all clients, 0..1.
        #[serde(deserialize_with = "de_share")]
        share: f64,
    },
}

impl Fault {
    /// Share of all clients affected.
    pub fn share(&self) -> f64 {
        match self {
            Fault::Disconnect { share, .. }
            | Fault::SlowReader { share, .. }
            | Fault::StopReading { share, .. }
            | Fault::Garbage { share, .. }
            | Fault::Oversized { share, .. }
            | Fault::StopWhenDue { share } => *share,
        }
    }

    /// The name used in YAML and reports.
    pub fn name(&self) -> String {
        match self {
            Fault::Disconnect { when, .. } => format!("disconnect when {when}"),
            Fault::SlowReader { .. } => "slow_reader".into(),
            Fault::StopReading { .. } => "stop_reading".into(),
            Fault::Garbage { .. } => "garbage".into(),
            Fault::Oversized { .. } => "oversized".into(),
            Fault::StopWhenDue { .. } => "stop_when_due".into(),
        }
    }

    /// Whether a client with this fault breaks client rules on purpose (its C- violations
    /// are explained, not reported as failures). A client that stops reading cannot answer
    /// what it never reads; a slow reader and a racing one still follow every rule.
    pub fn breaks_client_rules(&self) -> bool {
        matches!(
            self,
            Fault::Disconnect { .. }
                | Fault::Garbage { .. }
                | Fault::Oversized { .. }
                | Fault::StopReading { .. }
        )
    }

    /// Whether the fault stops the client from reading, so the server's notifications may
    /// legitimately go unannounced or unanswered for it.
    pub fn starves_reads(&self) -> bool {
        matches!(self, Fault::SlowReader { .. } | Fault::StopReading { .. })
    }
}

/// Which rules apply and the bounds of the end-to-end invariants.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    /// Rules not reported (e.g. a dialect's known deviation).
    #[serde(default)]
    pub ignore: Vec<RuleId>,
    /// An item published while a client is in the mode (and the window is free) must be
    /// announced within this bound (default: the checker's, 1s, which `check` applies to
    /// saved transcripts).
    #[serde(default = "default_liveness", deserialize_with = "de_duration")]
    pub liveness: Duration,
    /// A request unanswered this long counts as lost; the client gives up and closes.
    #[serde(default = "default_reply_timeout", deserialize_with = "de_duration")]
    pub reply_timeout: Duration,
    /// Most bytes the server may hold queued for one connection beyond the link buffer.
    #[serde(default = "default_memory")]
    pub memory: usize,
    /// After `duration`, how long clients get to leave the mode and close.
    #[serde(default = "default_drain", deserialize_with = "de_duration")]
    pub drain: Duration,
}

/// The checker's default, so that `check` judges a saved transcript as the run did.
fn default_liveness() -> Duration {
    crate::checker::DEFAULT_LIVENESS_BOUND
}
fn default_reply_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_memory() -> usize {
    16 * 1024
}
fn default_drain() -> Duration {
    Duration::from_secs(60)
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            ignore: Vec::new(),
            liveness: default_liveness(),
            reply_timeout: default_reply_timeout(),
            memory: default_memory(),
            drain: default_drain(),
        }
    }
}

/// A range of durations: `2s` (exactly) or `[100ms, 2s]` (uniformly drawn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Smallest value.
    pub lo: Duration,
    /// Largest value.
    pub hi: Duration,
}

impl Span {
    /// A range; callers guarantee `lo <= hi`.
    pub const fn new(lo: Duration, hi: Duration) -> Span {
        Span { lo, hi }
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Span;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration (`2s`) or a range (`[100ms, 2s]`)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Span, E> {
                let d = Duration::from_secs(v);
                check_span(Span::new(d, d))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Span, E> {
                let d = parse_duration_text(v)?;
                check_span(Span::new(d, d))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Span, A::Error> {
                let mut bounds = Vec::with_capacity(2);
                while let Some(b) = seq.next_element::<DurationText>()? {
                    bounds.push(b.0);
                }
                match bounds[..] {
                    [lo, hi] => check_span(Span::new(lo, hi)),
                    _ => Err(de::Error::custom(format!(
                        "a range has exactly two bounds, `[low, high]`; got {}",
                        bounds.len()
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

fn check_span<E: de::Error>(span: Span) -> Result<Span, E> {
    if span.lo > span.hi {
        return Err(E::custom(format!(
            "range [{}, {}] is reversed; write the smaller bound first",
            humantime::format_duration(span.lo),
            humantime::format_duration(span.hi)
        )));
    }
    if span.hi > MAX_DURATION {
        return Err(E::custom("duration longer than 30 days"));
    }
    Ok(span)
}

fn parse_duration_text<E: de::Error>(t: &str) -> Result<Duration, E> {
    humantime::parse_duration(t).map_err(|e| {
        E::custom(format!(
            "`{t}` is not a duration ({e}); try `500ms`, `2s` or `10m`"
        ))
    })
}

/// A range of counts: `3` or `[1, 5]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Smallest value (at least 1).
    pub lo: u32,
    /// Largest value.
    pub hi: u32,
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(u32),
            Two(Vec<u32>),
        }
        let (lo, hi) = match Raw::deserialize(d)
            .map_err(|_| de::Error::custom("expected a count (`3`) or a range (`[1, 5]`)"))?
        {
            Raw::One(n) => (n, n),
            Raw::Two(v) if v.len() == 2 => (v[0], v[1]),
            Raw::Two(v) => {
                return Err(de::Error::custom(format!(
                    "a range has exactly two bounds, `[low, high]`; got {}",
                    v.len()
                )));
            }
        };
        if lo == 0 || lo > hi || hi > 10_000 {
            return Err(de::Error::custom(format!(
                "count range [{lo}, {hi}] must satisfy 1 <= low <= high <= 10000"
            )));
        }
        Ok(Count { lo, hi })
    }
}

/// A duration as written in YAML: `500ms`, `2s`, `10m`, or a bare number of seconds.
struct DurationText(Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like `2s`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationText, E> {
                Ok(DurationText(Duration::from_secs(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                parse_duration_text(v).map(DurationText)
            }
        }
        d.deserialize_any(V)
    }
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = DurationText::deserialize(d)?.0;
    if v > MAX_DURATION {
        return Err(de::Error::custom("duration longer than 30 days"));
    }
    Ok(v)
}

fn de_share<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !(0.0..=1.0).contains(&v) {
        return Err(de::Error::custom(format!(
            "share {v} is not between 0 and 1 (it is a fraction of all clients)"
        )));
    }
    Ok(v)
}

fn de_rate<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !v.is_finite() || !(0.0..=MAX_RATE).contains(&v) {
        return Err(de::Error::custom(format!(
            "rate {v} must be between 0 and {MAX_RATE} per second"
        )));
    }
    Ok(v)
}

/// Why a scenario could not be loaded; each variant names the place.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read: missing, not a regular file, or over
    /// [`MAX_SCENARIO_FILE`].
    #[error(transparent)]
    File(#[from] FileError),
    /// YAML syntax, a wrong type, an unknown key, a bad value or a file that is not text.
    #[error(transparent)]
    Syntax(#[from] YamlError),
    /// The scenario parsed but cannot run; `field` is the path to the culprit.
    #[error("{origin}: {field}: {message}")]
    Invalid {
        /// File path.
        origin: String,
        /// E.g. `clients[1].count`.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The dialect it names could not be loaded.
    #[error("{origin}: dialect: {source}")]
    Dialect {
        /// File path.
        origin: String,
        /// Why.
        source: DialectError,
    },
}

/// A scenario together with what it refers to, ready to run.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    /// The scenario as written.
    pub scenario: Scenario,
    /// Its dialect, loaded.
    pub dialect: Dialect,
    /// How a saved transcript names that dialect: the built-in name, or the file's absolute
    /// path (a transcript resolves a relative one against its own folder, not ours).
    pub dialect_ref: String,
    /// The name used in reports and transcripts.
    pub name: String,
}

impl LoadedScenario {
    /// Reads, parses and validates a scenario file.
    pub fn from_file(path: &Path) -> Result<LoadedScenario, ScenarioError> {
        LoadedScenario::from_file_allowing(path, &AllowedPaths::none())
    }

    /// [`LoadedScenario::from_file`], where the dialect path the scenario names may also
    /// reach `allowed` (it must otherwise stay in the scenario's folder tree).
    pub fn from_file_allowing(
        path: &Path,
        allowed: &AllowedPaths,
    ) -> Result<LoadedScenario, ScenarioError> {
        let bytes = fsio::read_bounded(path, SCENARIO_FILE)?;
        let origin = path.display().to_string();
        let text = yaml::decode(bytes, &origin, "a scenario")?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into());
        let base = path.parent().unwrap_or(Path::new("."));
        LoadedScenario::load_str(&text, &origin, &stem, Some(base), allowed)
    }

    /// Parses and validates scenario YAML. `origin` names the source in errors, `stem` is
    /// the default name, `base` resolves a relative dialect path.
    pub fn from_yaml_str(
        text: &str,
        origin: &str,
        stem: &str,
        base: Option<&Path>,
    ) -> Result<LoadedScenario, ScenarioError> {
        LoadedScenario::load_str(text, origin, stem, base, &AllowedPaths::none())
    }

    fn load_str(
        text: &str,
        origin: &str,
        stem: &str,
        base: Option<&Path>,
        allowed: &AllowedPaths,
    ) -> Result<LoadedScenario, ScenarioError> {
        let scenario: Scenario = yaml::from_str(text, origin)?;
        let dialect =
            Dialect::load_allowing(&scenario.dialect, base, allowed).map_err(|source| {
                ScenarioError::Dialect {
                    origin: origin.to_string(),
                    source,
                }
            })?;
        scenario
            .validate(&dialect)
            .map_err(|(field, message)| ScenarioError::Invalid {
                origin: origin.to_string(),
                field,
                message,
            })?;
        let name = scenario.name.clone().unwrap_or_else(|| stem.to_string());
        let dialect_ref = if Dialect::builtin(&scenario.dialect).is_some() {
            scenario.dialect.clone()
        } else {
            let path = base.map_or_else(
                || PathBuf::from(&scenario.dialect),
                |b| b.join(&scenario.dialect),
            );
            std::path::absolute(&path)
                .unwrap_or(path)
                .display()
                .to_string()
        };
        Ok(LoadedScenario {
            scenario,
            dialect,
            name,
            dialect_ref,
        })
    }
}

impl Scenario {
    /// Checks what single fields cannot: totals, sums of shares, ads against the dialect.
    /// The error is `(field path, message)`.
    pub fn validate(&self, dialect: &Dialect) -> Result<(), (String, String)> {
        if self.duration.is_zero() {
            return Err(("duration".into(), "must be longer than zero".into()));
        }
        self.validate_clients()?;
        self.validate_faults()?;
        if self.network.buffer < 2 * (dialect.max_line + 2) {
            return Err((
                "network.buffer".into(),
                format!(
                    "{} bytes cannot hold two lines of the dialect's {} bytes",
                    self.network.buffer, dialect.max_line
                ),
            ));
        }
        if self.checks.liveness.is_zero() || self.checks.reply_timeout.is_zero() {
            return Err((
                "checks".into(),
                "liveness and reply_timeout must be longer than zero".into(),
            ));
        }
        self.validate_ads(dialect)
    }

    /// Each client group, and the total.
    fn validate_clients(&self) -> Result<(), (String, String)> {
        if self.clients.is_empty() {
            return Err((
                "clients".into(),
                "no client group; add at least one (`- count: 5`)".into(),
            ));
        }
        let mut total: u64 = 0;
        for (i, g) in self.clients.iter().enumerate() {
            if g.count == 0 {
                return Err((format!("clients[{i}].count"), "must be at least 1".into()));
            }
            if g.interest.is_empty() {
                return Err((
                    format!("clients[{i}].interest"),
                    "must name at least one kind (`[random, classified]`)".into(),
                ));
            }
            if g.stay.hi.is_zero() {
                return Err((
                    format!("clients[{i}].stay"),
                    "must be longer than zero".into(),
                ));
            }
            if let Some(l) = g.lifetime
                && l.lo.is_zero()
            {
                return Err((
                    format!("clients[{i}].lifetime"),
                    "must be longer than zero".into(),
                ));
            }
            total = total.saturating_add(g.count);
        }
        if total > MAX_CLIENTS {
            return Err((
                "clients".into(),
                format!("{total} clients in all; at most {MAX_CLIENTS} are supported"),
            ));
        }
        Ok(())
    }

    /// The fault shares, and each fault's own fields.
    fn validate_faults(&self) -> Result<(), (String, String)> {
        let shares: f64 = self.faults.iter().map(Fault::share).sum();
        if shares > 1.0 + 1e-9 {
            return Err((
                "faults".into(),
                format!(
                    "the shares add up to {shares:.3}; each client gets at most one fault, so they must add up to at most 1"
                ),
            ));
        }
        for (i, f) in self.faults.iter().enumerate() {
            let every = match f {
                Fault::Garbage { every, .. } => Some(every),
                _ => None,
            };
            if every.is_some_and(|e| e.lo.is_zero()) {
                return Err((
                    format!("faults[{i}].garbage.every"),
                    "must be longer than zero".into(),
                ));
            }
        }
        Ok(())
    }

    /// The ads, when the scenario names its own: lines the dialect can carry.
    fn validate_ads(&self, dialect: &Dialect) -> Result<(), (String, String)> {
        if let Some(ads) = &self.publishers.ads {
            if ads.is_empty() {
                return Err((
                    "publishers.ads".into(),
                    "the list is empty; remove it to use the built-in ads".into(),
                ));
            }
            for (i, ad) in ads.iter().enumerate() {
                if ad.trim().is_empty() || ad.contains(['\r', '\n']) || ad.len() > dialect.max_line
                {
                    return Err((
                        format!("publishers.ads[{i}]"),
                        format!(
                            "an ad is one non-empty line of at most {} bytes",
                            dialect.max_line
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Total number of simulated clients.
    pub fn client_count(&self) -> u64 {
        self.clients.iter().map(|g| g.count).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<LoadedScenario, ScenarioError> {
        LoadedScenario::from_yaml_str(text, "s.yaml", "s", None)
    }

    const MINIMAL: &str = "duration: 1m\nclients:\n  - count: 5\n";

    #[test]
    fn minimal_scenario_gets_defaults() {
        let s = load(MINIMAL).unwrap();
        assert_eq!(s.name, "s");
        assert_eq!(s.scenario.duration, Duration::from_secs(60));
        assert_eq!(s.dialect.name, "seed-session");
        assert_eq!(s.scenario.clients[0].behaviour, BehaviourKind::Typical);
        assert_eq!(s.scenario.client_count(), 5);
        assert_eq!(s.dialect_ref, "seed-session");
    }

    #[test]
    fn dialect_file_is_relative_to_the_scenario() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = Dialect::default().to_yaml().replace("seed-session", "mine");
        std::fs::write(dir.path().join("mine.yaml"), yaml).unwrap();
        let path = dir.path().join("s.yaml");
        std::fs::write(
            &path,
            "duration: 1m\ndialect: mine.yaml\nclients:\n  - count: 1\n",
        )
        .unwrap();
        let s = LoadedScenario::from_file(&path).unwrap();
        assert_eq!(s.dialect.name, "mine");
        assert!(Path::new(&s.dialect_ref).is_absolute(), "{}", s.dialect_ref);
        assert!(Dialect::load(&s.dialect_ref, None).is_ok());
    }

    #[test]
    fn full_scenario_parses() {
        let text = r#"
name: mixed
duration: 10m
dialect: seed-text
seed: 7
network: { latency: [1ms, 30ms], buffer: 8192 }
clients:
  - { name: readers, count: 10, behaviour: lazy, interest: [classified], think: 1s }
  - { count: 3, behaviour: racy, reconnect: { after: [1s, 2s], max: 2 }, lifetime: [1m, 2m] }
publishers:
  random: { rate: 0.5 }
  classified: { rate: 0.1, burst: [1, 4] }
  ads: ["Nice appart in the 11e."]
faults:
  - disconnect: { share: 0.1, when: notified }
  - slow_reader: { share: 0.1, delay: [100ms, 1s] }
  - stop_when_due: { share: 0.05 }
checks: { liveness: 2s, ignore: [S-LIVENESS] }
"#;
        let s = load(text).unwrap();
        assert_eq!(s.name, "mixed");
        assert_eq!(s.dialect.name, "seed-text");
        let g = &s.scenario.clients[0];
        assert_eq!(
            g.think,
            Span::new(Duration::from_secs(1), Duration::from_secs(1))
        );
        assert_eq!(g.interest, vec![ItemKind::Classified]);
        assert_eq!(s.scenario.faults.len(), 3);
        assert_eq!(s.scenario.checks.ignore, vec![RuleId::SLiveness]);
        let c = s.scenario.publishers.classified.as_ref().unwrap();
        assert_eq!((c.burst.lo, c.burst.hi), (1, 4));
    }

    fn err(text: &str) -> String {
        load(text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_key_is_named_with_position() {
        let e = err("duration: 1m\nclients:\n  - count: 5\n    behavior: lazy\n");
        assert!(e.starts_with("s.yaml:4:"), "{e}");
        assert!(e.contains("behavior"), "{e}");
    }

    #[test]
    fn bad_values_are_named_with_position() {
        let e = err("duration: 1m\nclients:\n  - count: 5\n    think: [2s, 1s]\n");
        assert!(e.starts_with("s.yaml:4:"), "{e}");
        assert!(e.contains("reversed"), "{e}");
        let e = err("duration: soon\nclients:\n  - count: 5\n");
        assert!(e.starts_with("s.yaml:1:"), "{e}");
        assert!(e.contains("not a duration"), "{e}");
        let e = err(
            "duration: 1m\nclients:\n  - count: 5\nfaults:\n  - garbage: { share: 1.5, every: 1s }\n",
        );
        assert!(e.starts_with("s.yaml:5:"), "{e}");
        assert!(e.contains("between 0 and 1"), "{e}");
        let e = err("duration: 1m\nclients:\n  - count: 5\n    behaviour: sneaky\n");
        assert!(e.starts_with("s.yaml:4:"), "{e}");
        assert!(e.contains("sneaky"), "{e}");
    }

    #[test]
    fn cross_field_errors_name_the_field() {
        let e = err(
            "duration: 1m\nclients:\n  - count: 5\nfaults:\n  - stop_when_due: { share: 0.7 }\n  - garbage: { share: 0.7, every: 1s }\n",
        );
        assert!(e.contains("faults:"), "{e}");
        assert!(e.contains("add up to 1.400"), "{e}");
        let e = err("duration: 1m\nclients:\n  - count: 0\n");
        assert!(e.contains("clients[0].count"), "{e}");
        let e = err("duration: 1m\ndialect: nope\nclients:\n  - count: 1\n");
        assert!(e.contains("unknown dialect `nope`"), "{e}");
        let e = err("duration: 0s\nclients:\n  - count: 1\n");
        assert!(e.contains("duration"), "{e}");
    }
}
