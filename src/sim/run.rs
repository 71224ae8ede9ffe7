//! One simulation from scenario to report: run, then (for violations) re-run recording the
//! guilty connections, shrink each one and save both transcripts.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use crate::checker::{Event, EventKind, Party};
use crate::dialect::ItemKind;
use crate::rule::RuleId;
use crate::transcript::{Directive, FrontMatter, TranscriptWriter};

use super::engine::{Engine, Found, Outcome, Recording, RunSpec};
use super::invariants::Source;
use super::report::{Finding, MAX_FINDINGS, RuleCount, Saved, SimReport, Traffic};
use super::scenario::LoadedScenario;
use super::server::{ConnId, ReferenceServer, ServerFactory};
use super::shrink::{Replayer, Script};
use super::{Tick, fmt_tick, to_tick};

/// How many violating connections get transcripts by default (the first of each rule come
/// first): enough to show every rule broken, few enough that shrinking stays quick.
pub const MAX_SAVED: usize = 10;
/// Replays the shrinker may spend on one connection.
const SHRINK_BUDGET: usize = 2_000;

/// How to run a simulation.
pub struct SimOptions {
    /// The seed (the scenario's, or 0, when the user gives none).
    pub seed: u64,
    /// Where to save violating transcripts.
    pub out: Option<PathBuf>,
    /// How many violating connections to save (default [`MAX_SAVED`]).
    pub max_saved: usize,
    /// The server to simulate against.
    pub factory: ServerFactory,
    /// Told the fraction of virtual time done, now and then (a progress bar).
    pub progress: Option<Box<dyn FnMut(f64)>>,
}

impl SimOptions {
    /// Against the reference server, no output directory, no progress.
    pub fn new(seed: u64) -> SimOptions {
        SimOptions {
            seed,
            out: None,
            max_saved: MAX_SAVED,
            factory: ReferenceServer::factory(),
            progress: None,
        }
    }
}

/// Why a simulation could not complete (a violation is not an error: it is in the report).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The external server or its control port failed.
    #[error("{0}")]
    External(String),
    /// Saving transcripts failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
}

/// What [`simulate`] returns.
pub type SimResult = Result<SimReport, SimError>;

/// Runs `loaded` against the embedded server (virtual time) and builds the report.
pub fn simulate(loaded: &LoadedScenario, mut opts: SimOptions) -> SimResult {
    let spec = RunSpec {
        scenario: &loaded.scenario,
        dialect: &loaded.dialect,
        seed: opts.seed,
        factory: &opts.factory,
    };
    let mut progress = opts.progress.take();
    let mut tell = |now: Tick, end: Tick| {
        if let Some(p) = progress.as_mut() {
            p(now as f64 / end.max(1) as f64);
        }
    };
    let mut outcome = Engine::new(&spec, BTreeSet::new()).run(&mut tell);
    let mut saved = Vec::new();
    if let Some(dir) = &opts.out {
        let chosen = choose(&outcome.findings.found, opts.max_saved, |f| {
            counts(loaded, f)
        });
        if !chosen.is_empty() {
            std::fs::create_dir_all(dir).map_err(|source| SimError::Io {
                path: dir.clone(),
                source,
            })?;
            let record: BTreeSet<ConnId> = chosen.iter().map(|(c, _)| *c).collect();
            let again = Engine::new(&spec, record).run(&mut |_, _| {});
            for (conn, rule) in &chosen {
                if let Some((_, rec)) = again.recordings.iter().find(|(c, _)| c == conn) {
                    saved.push(save(loaded, &opts, &again, dir, *conn, *rule, rec)?);
                }
            }
        }
    }
    Ok(build_report(loaded, opts.seed, &mut outcome, saved))
}

/// Whether a violation counts against the server (or the reference client): not explained
/// by an injected fault, not ignored by the scenario.
fn counts(loaded: &LoadedScenario, f: &Found) -> bool {
    !f.explained && !loaded.scenario.checks.ignore.contains(&f.rule)
}

/// The connections to save: one per rule first, then more, in connection order.
fn choose(found: &[Found], max: usize, counts: impl Fn(&Found) -> bool) -> Vec<(ConnId, RuleId)> {
    let mut chosen: Vec<(ConnId, RuleId)> = Vec::new();
    let mut rules = BTreeSet::new();
    for f in found.iter().filter(|f| counts(f)) {
        if rules.insert(f.rule) && !chosen.iter().any(|(c, _)| *c == f.conn) {
            chosen.push((f.conn, f.rule));
        }
    }
    for f in found.iter().filter(|f| counts(f)) {
        if chosen.len() >= max {
            break;
        }
        if !chosen.iter().any(|(c, _)| *c == f.conn) {
            chosen.push((f.conn, f.rule));
        }
    }
    chosen.truncate(max);
    chosen.sort();
    chosen
}

fn save(
    loaded: &LoadedScenario,
    opts: &SimOptions,
    outcome: &Outcome,
    dir: &Path,
    conn: ConnId,
    rule: RuleId,
    rec: &Recording,
) -> Result<Saved, SimError> {
    let replayer = Replayer {
        dialect: &loaded.dialect,
        factory: &opts.factory,
        initial_random: outcome.initial_random,
        initial_ad: &outcome.initial_ad,
        liveness: to_tick(loaded.scenario.checks.liveness),
    };
    let script = Script::from_events(&rec.events, rec.started, rec.ended);
    let header = Header {
        scenario: &loaded.name,
        seed: opts.seed,
        conn,
        rec,
        rule,
        dialect: &loaded.dialect_ref,
    };
    let original = dir.join(format!("conn-{conn}.txt"));
    let relative: Vec<(Tick, Event)> = rec
        .events
        .iter()
        .map(|(t, e)| (t - rec.started, e.clone()))
        .collect();
    write_transcript(&original, &header, None, &relative)?;
    let reproduces_alone = replayer
        .run(&script.steps, script.end, false)
        .broken
        .iter()
        .any(|b| b.rule == rule);
    let not_shrunk = (!reproduces_alone).then(|| {
        "the violation does not reproduce with this connection alone against a fresh server (it depends on the others)".to_string()
    });
    let (shrunk, shrunk_steps) = if reproduces_alone {
        let (small, _) = replayer.shrink(&script, rule, SHRINK_BUDGET);
        let replay = replayer.run(&small.steps, small.end, true);
        let path = dir.join(format!("conn-{conn}.shrunk.txt"));
        let note = format!(
            "shrunk from {} to {} steps (client lines, publishes, close) by replaying against a fresh server; recorded at the server",
            script.steps.len(),
            small.steps.len()
        );
        write_transcript(&path, &header, Some(&note), &replay.events)?;
        (Some(path), Some(small.steps.len()))
    } else {
        (None, None)
    };
    let check_reproduces = checks_offline(&original, rule, loaded);
    Ok(Saved {
        connection: conn,
        rule: rule.to_string(),
        original: original.display().to_string(),
        shrunk: shrunk.map(|p| p.display().to_string()),
        steps: script.steps.len(),
        shrunk_steps,
        not_shrunk,
        check_reproduces,
    })
}

/// What a saved transcript's front matter and comments say.
pub(crate) struct Header<'a> {
    pub scenario: &'a str,
    pub seed: u64,
    pub conn: ConnId,
    pub rec: &'a Recording,
    pub rule: RuleId,
    pub dialect: &'a str,
}

/// Writes a conversation with the transcript writer: front matter naming the scenario, seed
/// and connection, then the server's view with time comments and `!` directives.
/// Whether a file name is one `simulate --out` writes (`conn-N.txt`, `conn-N.shrunk.txt`):
/// what `--force` may delete.
pub fn is_ours(name: &str) -> bool {
    name.strip_prefix("conn-")
        .and_then(|n| n.strip_suffix(".txt"))
        .map(|n| n.strip_suffix(".shrunk").unwrap_or(n))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

pub(crate) fn write_transcript(
    path: &Path,
    h: &Header<'_>,
    note: Option<&str>,
    events: &[(Tick, Event)],
) -> Result<(), SimError> {
    let io_err = |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    };
    let front = FrontMatter {
        title: Some(format!(
            "notifspec simulate: scenario {}, seed {}, connection {}: {}",
            h.scenario, h.seed, h.conn, h.rule
        )),
        dialect: Some(h.dialect.to_string()),
        ..FrontMatter::default()
    };
    // Never over an earlier file or through a link (the folder was checked for earlier
    // results before the run: see `is_ours`).
    let file = crate::fsio::create_new(path).map_err(io_err)?;
    let mut w = TranscriptWriter::new(io::BufWriter::new(file), &front).map_err(io_err)?;
    let mut body = || -> io::Result<()> {
        w.comment(&format!("scenario: {}", h.scenario))?;
        w.comment(&format!("seed: {}", h.seed))?;
        w.comment(&format!(
            "connection: {} (client {}, group {}, fault {}), opened at +{}",
            h.conn,
            h.rec.client,
            h.rec.group,
            h.rec.fault.as_deref().unwrap_or("none"),
            fmt_tick(h.rec.started)
        ))?;
        w.comment(&format!("shows: {} ({})", h.rule, h.rule.statement()))?;
        w.comment(
            note.unwrap_or(
                "recorded at the server: what it read, what it wrote, what was published",
            ),
        )?;
        let mut last: Option<Tick> = None;
        for (t, e) in events {
            if last != Some(*t) {
                w.timestamp(std::time::Duration::from_micros(*t))?;
                last = Some(*t);
            }
            match &e.kind {
                EventKind::Line {
                    from: Party::Client,
                    text,
                    ..
                } => w.client(text)?,
                EventKind::Line {
                    from: Party::Server,
                    text,
                    ..
                } => w.server(text)?,
                EventKind::Published { kind } => w.directive(&match kind {
                    ItemKind::Random => Directive::PublishRandom(None),
                    ItemKind::Classified => {
                        Directive::PublishClassified("Simulated ad".to_string())
                    }
                })?,
                EventKind::Closed { by: Party::Client } => w.directive(&Directive::Close)?,
                EventKind::Closed { by: Party::Server } => w.directive(&Directive::ExpectClose)?,
                EventKind::Quiet { duration } => w.directive(&Directive::Quiet(*duration))?,
                EventKind::Oversized { from } => {
                    w.comment(&format!("an oversized line from the {from}"))?
                }
            }
        }
        w.flush()
    };
    body().map_err(io_err)
}

/// Checks a written transcript as `notifspec check` would and says whether `rule` shows.
pub(crate) fn checks_offline(path: &Path, rule: RuleId, loaded: &LoadedScenario) -> bool {
    // The saved transcript names the scenario's dialect file by its absolute path.
    let dialect_dir: Vec<_> = Path::new(&loaded.dialect_ref)
        .parent()
        .filter(|_| crate::dialect::Dialect::builtin(&loaded.dialect_ref).is_none())
        .map(Path::to_path_buf)
        .into_iter()
        .collect();
    let allowed = crate::fsio::AllowedPaths::new(&dialect_dir).unwrap_or_default();
    let result = crate::check_files::check_file_allowing(path, &loaded.dialect, &allowed);
    result.violations.iter().any(|v| v.rule == rule) || result.unexpected.contains(&rule)
}

pub(crate) fn build_report(
    loaded: &LoadedScenario,
    seed: u64,
    outcome: &mut Outcome,
    saved: Vec<Saved>,
) -> SimReport {
    let st = &mut outcome.stats;
    let ignore = &loaded.scenario.checks.ignore;
    let mut violations: BTreeMap<String, RuleCount> = BTreeMap::new();
    let mut explained: BTreeMap<String, u64> = BTreeMap::new();
    let all = &outcome.findings;
    for ((rule, was_explained), n) in &all.occurrences {
        if ignore.contains(rule) {
            continue;
        }
        if *was_explained {
            *explained.entry(rule.to_string()).or_default() += n;
        } else {
            let entry = violations.entry(rule.to_string()).or_default();
            entry.count += n;
            entry.connections += all.connections.get(&(*rule, false)).copied().unwrap_or(0);
        }
    }
    let mut findings = Vec::new();
    for f in all.found.iter().filter(|f| counts(loaded, f)) {
        if findings.len() < MAX_FINDINGS {
            findings.push(Finding {
                connection: f.conn,
                client: f.client,
                rule: f.rule.to_string(),
                at: f.at as f64 / 1e6,
                found_by: match f.source {
                    Source::Checker => "checker".into(),
                    Source::Invariant => "invariant".into(),
                },
                message: f.message.clone(),
            });
        }
    }
    let seconds = st.end as f64 / 1e6;
    let traffic = Traffic {
        requests: st.requests,
        mode_entries: st.mode_entries,
        notifications: st.notifications,
        answers: st.answers,
        stops: st.stops,
        errors: st.errors,
        other_client_lines: st.other_client_lines,
        published_random: st.published[0],
        published_classified: st.published[1],
        lines: st.lines,
        lines_per_second: if seconds > 0.0 {
            (st.lines as f64 / seconds * 10.0).round() / 10.0
        } else {
            0.0
        },
        bytes_to_server: st.bytes_to_server,
        bytes_to_client: st.bytes_to_client,
        gave_up: st.gave_up,
        crossed: st.crossed,
        dropped_on_server_error: st.client_saw_server_error,
        unfinished: st.unfinished,
        server_closes: st.server_closes,
        client_closes: st.client_closes,
    };
    let mut clients = BTreeMap::new();
    for (g, n) in &st.groups {
        *clients.entry(g.clone()).or_default() += n;
    }
    let mut faults = BTreeMap::new();
    for (f, n) in &st.faults {
        *faults.entry(f.clone()).or_default() += n;
    }
    let passed = violations.is_empty();
    SimReport {
        scenario: loaded.name.clone(),
        seed,
        mode: "embedded, virtual time".into(),
        server: "reference server, in memory".into(),
        dialect: loaded.dialect.name.clone(),
        seconds,
        clients,
        connections: st.connections,
        faults,
        traffic,
        latency: st.latencies.summary(),
        violations,
        explained,
        findings,
        saved,
        peak_queued_bytes: st.peak_queued as u64,
        verdict: if passed { "pass" } else { "fail" }.into(),
    }
}
