//! Replaying transcripts against a server (client role) or a client (server role).
//!
//! A recorded conversation becomes a test of someone's implementation: notifspec plays one
//! side of the transcript and judges the other side twice — by the checker (is it legal?) and
//! by the transcript (is it what was recorded?). That gives five verdicts: `PASS` (played to
//! the end, as recorded); `FAIL` (a rule was broken — a required line that does not come
//! within the timeout breaks the rule requiring it); `DIVERGED` (legal, but not as recorded —
//! e.g. another kind of item was announced, or a line no rule requires never came and the
//! replay stopped there — a failure only with `--strict`); `UNREPLAYABLE` (the transcript's
//! next own line would break a rule of notifspec's own party, so it was not sent — a failure
//! only with `--strict`); `ERROR` (no connection, a failing control port, a bad file, or a
//! transcript not valid in the dialect, refused before anything is sent).
//!
//! - [`script`]: the sans-IO runner (what to send, what to wait for, how to match).
//! - [`client_role`] / [`server_role`]: the tokio shells for each side.
//! - [`control`]: publishing items through a control port.
//! - [`diff`] / [`observed`]: the expected-versus-observed diff and the observed transcript.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt as _;

use crate::dialect::Dialect;
use crate::report::{FileResult, Verdict};
use crate::transcript::{Expectation, Transcript};

pub mod client_role;
pub mod control;
pub mod diff;
pub mod observed;
mod register;
pub mod script;
pub mod server_role;
mod shell;

pub use client_role::ServerTarget;
pub use control::{PublishError, PublishHook, Publisher};
pub use script::{Divergence, Findings, Role, Row, ScriptConfig, ScriptRunner};
pub use server_role::ClientTarget;

/// Default bound on every wait of a replay.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long an expected notification may take to arrive on its own before replay publishes an
/// item to provoke it.
pub const DEFAULT_GRACE: Duration = Duration::from_millis(50);

/// Who the replay talks to.
#[derive(Debug, Clone)]
pub enum ReplayTarget {
    /// A server at this address (client role).
    Server(ServerTarget),
    /// An embedded reference server started for each transcript (client role).
    Embedded,
    /// A client (server role).
    Client(ClientTarget),
}

/// Everything a replay run needs besides the files.
#[derive(Debug, Clone)]
pub struct Options {
    /// Who to talk to.
    pub target: ReplayTarget,
    /// Dialect for every transcript, overriding their front matter.
    pub dialect: Option<String>,
    /// Unpredictable values must match exactly, and `DIVERGED` counts as a failure.
    pub strict: bool,
    /// Bound on every wait.
    pub timeout: Duration,
    /// How long an expected notification may take before one is provoked.
    pub grace: Duration,
    /// Write what really happened, one transcript per input, into this folder.
    pub save_observed: Option<PathBuf>,
    /// Folders a transcript's `dialect:` path may reach besides its own folder tree.
    pub allowed: crate::fsio::AllowedPaths,
}

impl Options {
    /// Defaults for `target`: not strict, 2 s timeout, nothing saved.
    pub fn new(target: ReplayTarget) -> Options {
        Options {
            target,
            dialect: None,
            strict: false,
            timeout: DEFAULT_TIMEOUT,
            grace: DEFAULT_GRACE,
            save_observed: None,
            allowed: crate::fsio::AllowedPaths::none(),
        }
    }
}

/// The result of replaying one transcript.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// The verdict and details, in the model every command reports through.
    pub result: FileResult,
    /// What the runner found (absent when the file could not even be loaded).
    pub findings: Option<Findings>,
}

/// Replays one transcript file.
pub async fn replay_file(path: &Path, opts: &Options) -> Replayed {
    let file = path.display().to_string();
    let loaded = Transcript::from_file(path)
        .map_err(|e| (e.summary(), e.to_string()))
        .and_then(|t| {
            load_dialect(&t, path, opts)
                .map(|(d, r)| (t, d, r))
                .map_err(|e| (format!("{file}: {e}"), format!("{file}: {e}")))
        });
    let (transcript, dialect, dialect_ref) = match loaded {
        Ok(x) => x,
        Err((summary, detail)) => {
            return Replayed {
                result: FileResult::error(file, summary, detail),
                findings: None,
            };
        }
    };
    if let Err(why) = valid_in(&transcript, &dialect, &dialect.name) {
        let msg = format!("{file}{why}");
        return Replayed {
            result: FileResult::error(file, msg.clone(), msg),
            findings: None,
        };
    }
    let findings = replay_transcript(&transcript, &dialect, opts).await;
    let mut result = judge(file, &transcript.front.expect, &findings);
    if let Some(dir) = &opts.save_observed {
        let text = observed::render(&transcript, path, &dialect_ref, &findings);
        match observed::save(dir, path, &text) {
            Ok(saved) => result.saved_observed = Some(saved.display().to_string()),
            Err(e) => {
                let msg = format!(
                    "{}: cannot save the observed transcript: {e}",
                    dir.display()
                );
                result.verdict = Verdict::Error;
                result.error_detail = Some(msg.clone());
                result.error = Some(msg);
            }
        }
    }
    Replayed {
        result,
        findings: Some(findings),
    }
}

/// Whether `t` is what it claims to be in `dialect` (conforming, or breaking exactly its
/// `expect:` rules), by the checker. A transcript that is not (another dialect's spelling,
/// say) would only wait out a timeout at its first foreign line, so it is refused at once
/// with the checker's reason: `:LINE: not valid in dialect ...`, to follow the file name.
fn valid_in(t: &Transcript, dialect: &Dialect, name: &str) -> Result<(), String> {
    let found = crate::transcript::check_transcript(t, dialect);
    let expected: std::collections::BTreeSet<crate::rule::RuleId> = match &t.front.expect {
        Expectation::Pass => Default::default(),
        Expectation::Violates(rules) => rules.iter().copied().collect(),
    };
    let reported: std::collections::BTreeSet<crate::rule::RuleId> =
        found.iter().map(|v| v.rule).collect();
    if reported == expected {
        return Ok(());
    }
    let first = found.iter().find(|v| !expected.contains(&v.rule)).map(|v| {
        let at = v.line.map(|l| format!(":{l}")).unwrap_or_default();
        format!(
            "{at}: not valid in dialect `{name}`: {}: {}",
            v.rule, v.message
        )
    });
    Err(first.unwrap_or_else(|| {
        let missing: Vec<&str> = expected.difference(&reported).map(|r| r.as_str()).collect();
        format!(
            ": not valid in dialect `{name}`: it expects {} but does not break it there",
            missing.join(", ")
        )
    }))
}

/// Replays many files, at most `jobs` at a time (each on its own connection, and with the
/// embedded target each with its own server), in the order given.
pub async fn replay_files(paths: &[PathBuf], opts: &Options, jobs: usize) -> Vec<Replayed> {
    let mut all = Vec::with_capacity(paths.len());
    replay_each(paths, opts, jobs, |r| {
        all.push(r);
        true
    })
    .await;
    all
}

/// Replays `files`, at most `jobs` at a time, and hands each result to `each` as soon as it
/// and every result before it are known (input order), then forgets it: memory stays flat
/// with the number of files (at most `jobs` results are held), and a long run shows its
/// verdicts as they come. Stops early when `each` returns `false` (stdout is gone); returns
/// whether every result was taken.
pub async fn replay_each(
    files: &[PathBuf],
    opts: &Options,
    jobs: usize,
    mut each: impl FnMut(Replayed) -> bool,
) -> bool {
    let mut results = futures::stream::iter(files)
        .map(|p| replay_file(p, opts))
        .buffered(jobs.max(1));
    while let Some(r) = results.next().await {
        if !each(r) {
            return false;
        }
    }
    true
}

/// Replays a parsed transcript in `dialect` against the target of `opts`.
pub async fn replay_transcript(t: &Transcript, dialect: &Dialect, opts: &Options) -> Findings {
    let role = match opts.target {
        ReplayTarget::Client(_) => Role::Server,
        _ => Role::Client,
    };
    let control = match &opts.target {
        ReplayTarget::Server(s) => s.can_publish(),
        ReplayTarget::Embedded => true,
        ReplayTarget::Client(_) => false,
    };
    let publishes = t.entries.iter().any(|e| {
        matches!(
            e.kind,
            crate::transcript::EntryKind::Directive(
                crate::transcript::Directive::PublishRandom(_)
                    | crate::transcript::Directive::PublishClassified(_)
            )
        )
    });
    let cfg = ScriptConfig {
        role,
        strict: opts.strict,
        timeout: opts.timeout,
        control,
        grace: opts.grace,
        items_known: publishes || matches!(opts.target, ReplayTarget::Embedded),
    };
    let runner = ScriptRunner::new(t, dialect.clone(), cfg);
    match &opts.target {
        ReplayTarget::Server(s) => client_role::run(runner, dialect, s, opts.timeout).await,
        ReplayTarget::Client(c) => server_role::run(runner, dialect, c, opts.timeout).await,
        ReplayTarget::Embedded => {
            client_role::run_embedded(runner, dialect, idle_close(t, opts.timeout)).await
        }
    }
}

/// Plays `t` over an established connection (any byte stream: a socket, an in-memory duplex),
/// so embedders and tests can put any peer on the other end. `publisher` carries out
/// publishes (set `cfg.control` when there is one).
pub async fn replay_stream<S>(
    t: &Transcript,
    dialect: &Dialect,
    cfg: ScriptConfig,
    stream: S,
    publisher: Option<&mut Publisher<'_>>,
) -> Findings
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
{
    let runner = ScriptRunner::new(t, dialect.clone(), cfg);
    let (read, write) = tokio::io::split(stream);
    shell::drive(runner, dialect, read, write, publisher).await
}

/// The reference server closes a connection only when it is idle (or on an error): to replay a
/// transcript that ends with the server closing, the embedded server gets an idle timeout of
/// half the replay timeout — unless a `! quiet` in the transcript is that long, which the
/// idle close would interrupt.
fn idle_close(t: &Transcript, timeout: Duration) -> Option<Duration> {
    use crate::transcript::{Directive, EntryKind};
    let ends_with_server_close = matches!(
        t.entries.last().map(|e| &e.kind),
        Some(EntryKind::Directive(Directive::ExpectClose))
    );
    let idle = timeout / 2;
    let longest_quiet = t
        .entries
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::Directive(Directive::Quiet(d)) => Some(*d),
            _ => None,
        })
        .max()
        .unwrap_or_default();
    (ends_with_server_close && longest_quiet < idle).then_some(idle)
}

/// The dialect a transcript is replayed in, and how to name it in an observed transcript:
/// `--dialect` first, then the front matter (relative to the file), then the default.
fn load_dialect(
    t: &Transcript,
    path: &Path,
    opts: &Options,
) -> Result<(Dialect, String), crate::dialect::DialectError> {
    let base = path.parent();
    let (spec, base) = match (opts.dialect.as_deref(), &t.front.dialect) {
        (Some(g), _) => (g.to_string(), None),
        (None, Some(d)) => (d.clone(), base),
        (None, None) => return Ok((Dialect::default(), crate::dialect::DEFAULT_DIALECT.into())),
    };
    let dialect = Dialect::load_allowing(&spec, base, &opts.allowed)?;
    let reference = if Dialect::builtin(&spec).is_some() {
        spec
    } else {
        let p = match base {
            Some(b) if Path::new(&spec).is_relative() => b.join(&spec),
            _ => PathBuf::from(&spec),
        };
        std::path::absolute(&p).unwrap_or(p).display().to_string()
    };
    Ok((dialect, reference))
}

/// The verdict: `FAIL` if the party under test broke a rule, else `ERROR` if the replay could
/// not be carried out, else `UNREPLAYABLE` if a negative transcript's own line stopped it,
/// else `DIVERGED` if anything differed from the recording or the replay stopped short of
/// the end, else `PASS` (which needs the transcript played to its end).
pub fn judge(file: String, expect: &Expectation, f: &Findings) -> FileResult {
    let mut divergences: Vec<String> = f.divergences.iter().map(|d| d.message.clone()).collect();
    let mut not_replayable = None;
    match (&f.not_sent, f.own_violations.first()) {
        (Some((line, text)), Some(v)) if *expect != Expectation::Pass => {
            not_replayable = Some(format!(
                "not replayable past line {line}: `{text}` would break {} ({}), so it was not \
                 sent; the lines before it were judged, the rest was not",
                v.rule, v.message
            ));
        }
        _ if *expect == Expectation::Pass => {
            // A conforming transcript: its line became illegal because the peer went
            // another (legal) way.
            for v in &f.own_violations {
                let at = v.line.map(|l| format!("line {l}: ")).unwrap_or_default();
                divergences.push(format!(
                    "{at}notifspec's own line would break {} here ({}): the conversation no \
                     longer fits the recording, replay stopped",
                    v.rule, v.message
                ));
            }
        }
        // A negative example of our own party played to its end: its violation is the
        // point of the file, and the peer was judged throughout.
        _ => {}
    }
    if let Some(why) = &f.stopped {
        divergences.push(why.clone());
    }
    if !f.reached_end
        && divergences.is_empty()
        && not_replayable.is_none()
        && f.error.is_none()
        && f.violations.is_empty()
    {
        divergences.push("the replay stopped before the end of the transcript".into());
    }
    let verdict = if !f.violations.is_empty() {
        Verdict::Fail
    } else if f.error.is_some() {
        Verdict::Error
    } else if not_replayable.is_some() {
        Verdict::Unreplayable
    } else if !divergences.is_empty() {
        Verdict::Diverged
    } else {
        Verdict::Pass
    };
    let mut result = FileResult::replayed(file, verdict);
    result.error = f.error.clone();
    result.error_detail = f.error.clone();
    result.violations = f.violations.clone();
    result.not_replayable = not_replayable;
    result.divergences = divergences;
    result.observed = f.observed.iter().map(|o| o.line()).collect();
    result.diff = Some(diff::render(&f.rows)).filter(|d| !d.is_empty());
    result
}
