//! `notifspec replay`: conforming transcripts pass against the reference peers; small
//! deliberately broken peers written here fail with the right rule ID; silent peers give
//! ERROR within the timeout. Everything runs in memory under tokio's paused clock, except the
//! tests that exercise TCP (refused connection, `--client-cmd`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use notifspec::checker::LineReading as _;
use notifspec::cmd::client::{Args as ClientArgs, follow};
use notifspec::dialect::{Dialect, ItemKind};
use notifspec::net::client::{Client, ClientOptions};
use notifspec::replay::{
    self, ClientTarget, Findings, Options, ReplayTarget, Role, ScriptConfig, ServerTarget,
};
use notifspec::report::{FileResult, Verdict};
use notifspec::rule::RuleId;
use notifspec::transcript::{EntryKind, Expectation, Transcript, parse};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, DuplexStream};

const TIMEOUT: Duration = Duration::from_secs(2);

fn transcripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("transcripts")
}

/// Every transcript under `transcripts/` that expects to conform.
fn conforming_transcripts() -> Vec<(PathBuf, Transcript)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "txt") {
                out.push(path);
            }
        }
    }
    let mut files = vec![];
    walk(&transcripts_dir(), &mut files);
    files.sort();
    let found: Vec<_> = files
        .into_iter()
        .map(|p| {
            let t = Transcript::from_file(&p).unwrap();
            (p, t)
        })
        .filter(|(_, t)| t.front.expect == Expectation::Pass)
        .collect();
    assert!(
        found.len() >= 5,
        "expected conforming transcripts, found {}",
        found.len()
    );
    found
}

fn dialect_of(path: &Path, t: &Transcript) -> Dialect {
    match &t.front.dialect {
        Some(d) => Dialect::load(d, path.parent()).unwrap(),
        None => Dialect::default(),
    }
}

fn show(r: &FileResult) -> String {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    r.write_text(&mut out, &mut err).unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    )
}

#[tokio::test(start_paused = true)]
async fn every_conforming_transcript_passes_against_the_embedded_server() {
    let opts = Options::new(ReplayTarget::Embedded);
    for (path, _) in conforming_transcripts() {
        let r = replay::replay_file(&path, &opts).await;
        assert_eq!(r.result.verdict, Verdict::Pass, "{}", show(&r.result));
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_jobs_keep_each_replay_on_its_own_server() {
    let paths: Vec<PathBuf> = conforming_transcripts()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let opts = Options::new(ReplayTarget::Embedded);
    let results = replay::replay_files(&paths, &opts, 4).await;
    assert_eq!(results.len(), paths.len());
    for (r, p) in results.iter().zip(&paths) {
        assert_eq!(
            r.result.file,
            p.display().to_string(),
            "results keep input order"
        );
        assert_eq!(r.result.verdict, Verdict::Pass, "{}", show(&r.result));
    }
}

/// What the reference client does (`notifspec client`): fetch each kind of interest (in kind
/// order), enter the mode, answer `OK` to other kinds, and for a kind of interest leave the
/// mode, fetch it and enter again; exit after `--count` notifications. Returns the arguments
/// that make it play `t`, or why it cannot.
fn reference_client_args(t: &Transcript, d: &Dialect) -> Result<ClientArgs, String> {
    let client_lines: Vec<&str> = t
        .entries
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::Client(m) => m.literal(),
            _ => None,
        })
        .collect();
    let enter = client_lines
        .iter()
        .position(|l| *l == d.commands.enter)
        .ok_or("never enters notification mode, the reference client always does")?;
    let mut interest = vec![];
    for l in &client_lines[..enter] {
        match ItemKind::ALL.into_iter().find(|k| d.request(*k) == *l) {
            Some(k) => interest.push(k),
            None => return Err(format!("sends `{l}` before entering the mode")),
        }
    }
    let mut sorted = interest.clone();
    sorted.sort();
    sorted.dedup();
    if interest.is_empty() || sorted != interest {
        return Err(format!(
            "fetches {interest:?} first; the reference client fetches its interest once, in kind order"
        ));
    }
    if let Some(l) = client_lines[enter..].iter().find(|l| {
        ItemKind::ALL
            .into_iter()
            .any(|k| d.request(k) == **l && !interest.contains(&k))
    }) {
        return Err(format!(
            "fetches with `{l}` a kind outside the interest it fetched first ({interest:?})"
        ));
    }
    let notifs = t
        .entries
        .iter()
        .filter(|e| matches!(&e.kind, EntryKind::Server(m) if m.literal().is_some_and(|l| d.notification_kind(l).is_some())))
        .count() as u64;
    let ends_closing = matches!(
        t.entries.last().map(|e| &e.kind),
        Some(EntryKind::Directive(
            notifspec::transcript::Directive::Close
        ))
    );
    let stops_unprompted = t.entries.iter().enumerate().any(|(i, e)| {
        matches!(&e.kind, EntryKind::Client(m) if m.literal() == Some(d.commands.stop.as_str()))
            && !t.entries[..i]
                .iter()
                .rev()
                .find_map(|p| match &p.kind {
                    EntryKind::Server(m) => Some(
                        m.literal()
                            .is_some_and(|l| d.notification_kind(l).is_some()),
                    ),
                    _ => None,
                })
                .unwrap_or(false)
    });
    if stops_unprompted {
        return Err("sends stop_notif with no notification just received; the reference client stops only to fetch an announced item".into());
    }
    if ends_closing && notifs == 0 {
        return Err("stops with nothing announced; the reference client leaves the mode only for a notification".into());
    }
    if !d.answers_required() {
        return Err("its dialect needs no answers; the reference client always answers".into());
    }
    Ok(ClientArgs {
        server: String::new(),
        dialect: d.name.clone(),
        interest,
        count: ends_closing.then_some(notifs),
        timeout: Duration::from_secs(30),
        keepalive: None,
        format: notifspec::cmd::OutputFormat::Text,
    })
}

/// Server role against the reference client, in memory: returns the verdict.
async fn replay_against_reference_client(
    t: &Transcript,
    d: &Dialect,
    args: ClientArgs,
) -> FileResult {
    let (ours, theirs) = tokio::io::duplex(4096);
    let client = Client::new(
        theirs,
        d.clone(),
        ClientOptions {
            timeout: args.timeout,
        },
    );
    let client_task = tokio::spawn(async move {
        let mut out = Vec::new();
        let _ = follow(client, &args, tokio::time::Instant::now(), &mut out).await;
    });
    let findings = replay::replay_stream(t, d, config(Role::Server, t), ours, None).await;
    client_task.abort();
    replay::judge("t".into(), &t.front.expect, &findings)
}

fn config(role: Role, t: &Transcript) -> ScriptConfig {
    ScriptConfig {
        role,
        strict: false,
        timeout: TIMEOUT,
        control: false,
        grace: Duration::from_millis(50),
        items_known: t.entries.iter().any(|e| {
            matches!(
                &e.kind,
                EntryKind::Directive(
                    notifspec::transcript::Directive::PublishRandom(_)
                        | notifspec::transcript::Directive::PublishClassified(_)
                )
            )
        }),
    }
}

#[tokio::test(start_paused = true)]
async fn conforming_transcripts_the_reference_client_can_produce_pass_in_the_server_role() {
    let mut played = vec![];
    let mut skipped = vec![];
    for (path, t) in conforming_transcripts() {
        let d = dialect_of(&path, &t);
        let args = match reference_client_args(&t, &d) {
            Ok(a) => a,
            Err(reason) => {
                skipped.push(format!("{}: {reason}", path.display()));
                continue;
            }
        };
        let r = replay_against_reference_client(&t, &d, args).await;
        if r.verdict == Verdict::Diverged {
            // The shape fits the client's policy, but the client chose differently where the
            // protocol lets it (e.g. it answers a crossing notification's fetch): say so.
            skipped.push(format!(
                "{}: reference client diverges: {:?}",
                path.display(),
                r.divergences
            ));
            continue;
        }
        assert_eq!(r.verdict, Verdict::Pass, "{}: {}", path.display(), show(&r));
        played.push(path);
    }
    eprintln!(
        "skipped (the reference client cannot produce these):\n  {}",
        skipped.join("\n  ")
    );
    assert!(
        played.len() >= 2,
        "too few transcripts exercised the reference client: {played:?}; skipped {skipped:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_transcript_shaped_like_the_reference_client_passes_in_the_server_role() {
    let t = parse(
        "C: random?\nS: 7\nC: _notif_\nS: will send notifs\n! publish classified Bike\n\
         S: notif: classified\nC: OK\n! publish random 9\nS: notif: random\nC: stop_notif\n\
         S: OK\nC: random?\nS: 9\n! close\n",
        "ref-client",
    )
    .unwrap();
    let d = Dialect::default();
    let args = reference_client_args(&t, &d).unwrap();
    assert_eq!(args.count, Some(2));
    let r = replay_against_reference_client(&t, &d, args).await;
    assert_eq!(r.verdict, Verdict::Pass, "{}", show(&r));
}

// ---------------------------------------------------------------------------------------------
// Deliberately broken servers (client role).

/// Lines a broken server mishandles, with the raw bytes it answers them with.
type Overrides = &'static [(&'static str, &'static [u8])];

/// A server that is correct (for the seed-session dialect) except that it sends `hello` at
/// connect and answers the lines in `overrides` its own way.
fn broken_server(hello: &'static [u8], overrides: Overrides) -> DuplexStream {
    let (ours, theirs) = tokio::io::duplex(4096);
    tokio::spawn(async move {
        let (r, mut w) = tokio::io::split(theirs);
        let _ = w.write_all(hello).await;
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let line = line.trim_end_matches('\r');
            let special = overrides.iter().find(|(on, _)| *on == line);
            let out: &[u8] = match line {
                _ if special.is_some() => special.map_or(b"", |(_, reply)| reply),
                "random?" => b"42\r\n",
                "classified?" => b"Nice appart in the 11e.\r\n",
                "_notif_" => b"will send notifs\r\n",
                "stop_notif" => b"OK\r\n",
                "OK" => b"",
                _ => b"ERR unknown command\r\n",
            };
            if w.write_all(out).await.is_err() {
                break;
            }
        }
    });
    ours
}

/// A server that never breaks anything.
fn good_server() -> DuplexStream {
    broken_server(b"", &[])
}

async fn replay_against(text: &str, stream: DuplexStream) -> (FileResult, Findings) {
    let t = parse(text, "inline").unwrap();
    let f = replay::replay_stream(
        &t,
        &Dialect::default(),
        config(Role::Client, &t),
        stream,
        None,
    )
    .await;
    (replay::judge("inline".into(), &Expectation::Pass, &f), f)
}

fn rules(r: &FileResult) -> Vec<RuleId> {
    let mut v: Vec<RuleId> = r.violations.iter().map(|v| v.rule).collect();
    v.dedup();
    v
}

fn assert_fails_with(r: &FileResult, rule: RuleId) {
    assert_eq!(r.verdict, Verdict::Fail, "wanted {rule}: {}", show(r));
    assert!(rules(r).contains(&rule), "wanted {rule}: {}", show(r));
    let v = r.violations.iter().find(|v| v.rule == rule).unwrap();
    assert!(
        v.line.is_some(),
        "a violation names its transcript line: {v:?}"
    );
}

const ENTER: &str = "C: _notif_\nS: will send notifs\n";

/// One broken server per rule live traffic can show: (rule, sent at connect, what it
/// mishandles, the transcript replayed against it).
const BROKEN_SERVERS: &[(RuleId, &[u8], Overrides, &str)] = &[
    (
        RuleId::SRandomInt,
        b"",
        &[("random?", b"forty-two\r\n")],
        "C: random?\nS: 456902234\n",
    ),
    (
        RuleId::SModeAck,
        b"",
        &[("_notif_", b"notifs on\r\n")],
        ENTER,
    ),
    (
        RuleId::SNotifWindow,
        b"",
        &[(
            "_notif_",
            b"will send notifs\r\nnotif: random\r\nnotif: classified\r\n",
        )],
        "C: _notif_\nS: will send notifs\nS: notif: random\nC: OK\nS: notif: classified\nC: OK\n",
    ),
    (
        RuleId::SStopOk,
        b"",
        &[("stop_notif", b"BYE\r\n")],
        "C: _notif_\nS: will send notifs\nC: stop_notif\nS: OK\n",
    ),
    (
        RuleId::SNoNotifAfterOk,
        b"",
        &[("stop_notif", b"OK\r\nnotif: random\r\n")],
        "C: _notif_\nS: will send notifs\nC: stop_notif\nS: OK\n! quiet 1s\nC: random?\nS: 1\n",
    ),
    (
        RuleId::SNotifInMode,
        b"notif: random\r\n",
        &[],
        "C: random?\nS: 5\n",
    ),
    (
        RuleId::SNotifKind,
        b"",
        &[("_notif_", b"will send notifs\r\nnotif: weather\r\n")],
        "C: _notif_\nS: will send notifs\nS: notif: random\nC: OK\n",
    ),
    (
        RuleId::SReplyOne,
        b"",
        &[("random?", b"1\r\n2\r\n")],
        "C: random?\nS: 1\n! quiet 1s\n! close\n",
    ),
    (
        RuleId::SClassifiedLine,
        b"",
        &[("classified?", b"will send notifs\r\n")],
        "C: classified?\nS: Nice appart in the 11e.\n",
    ),
    (
        RuleId::SPromise,
        b"",
        &[
            ("_notif_", b"will send notifs\r\nnotif: classified\r\n"),
            ("classified?", b"\r\n"),
        ],
        "C: _notif_\nS: will send notifs\nS: notif: classified\n\
         C: stop_notif\nS: OK\nC: classified?\nS: {text}\n",
    ),
    (
        RuleId::SErr,
        b"",
        &[("hello", b"OK\r\n")],
        "C: hello\nS: ERR unknown command\nC: random?\nS: 3\n",
    ),
    (
        RuleId::SFraming,
        b"",
        &[("random?", b"17\n")],
        "C: random?\nS: 17\n",
    ),
];

#[tokio::test(start_paused = true)]
async fn each_broken_server_fails_with_the_rule_it_breaks() {
    for (rule, hello, overrides, text) in BROKEN_SERVERS {
        let (r, _) = replay_against(text, broken_server(hello, overrides)).await;
        assert_fails_with(&r, *rule);
    }
}

#[tokio::test(start_paused = true)]
async fn failures_show_the_transcript_line_and_expected_versus_observed() {
    let (r, _) = replay_against(
        "C: random?\nS: 456902234\n",
        broken_server(b"", &[("random?", b"forty-two\r\n")]),
    )
    .await;
    assert_eq!(r.violations[0].line, Some(2));
    let diff = r.diff.unwrap_or_default();
    assert!(
        diff.contains("-    2 | S: 456902234\n+      | S: forty-two"),
        "{diff}"
    );
}

#[tokio::test(start_paused = true)]
async fn server_never_announcing_a_published_item_fails_s_liveness() {
    // The control port accepts the publish, but the server never announces anything.
    let s = good_server();
    let text = format!(
        "C: classified?\nS: {{text}}\n{ENTER}! publish random 5\n! quiet 5s\nS: notif: random\n"
    );
    let t = parse(&text, "inline").unwrap();
    let mut cfg = config(Role::Client, &t);
    cfg.control = true;
    let mut published = vec![];
    let mut hook = replay::Publisher::Hook(Box::new(|d| {
        published.push(d.clone());
        Ok(())
    }));
    let f = replay::replay_stream(&t, &Dialect::default(), cfg, s, Some(&mut hook)).await;
    drop(hook);
    assert_eq!(published.len(), 1);
    let r = replay::judge("inline".into(), &Expectation::Pass, &f);
    assert_eq!(r.verdict, Verdict::Fail, "{}", show(&r));
    assert_eq!(rules(&r), vec![RuleId::SLiveness], "{}", show(&r));
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_fails_the_rule_requiring_the_reply_within_the_timeout() {
    let s = broken_server(b"", &[("random?", b"")]);
    let start = tokio::time::Instant::now();
    let (r, _) = replay_against("C: random?\nS: 1\n", s).await;
    let took = start.elapsed();
    // A reply the rules require that does not come is a finding (exit 1), not an error.
    assert_eq!(r.verdict, Verdict::Fail, "{}", show(&r));
    assert_eq!(rules(&r), vec![RuleId::SReplyOne], "{}", show(&r));
    assert!(r.error.is_none(), "{}", show(&r));
    assert!(
        r.divergences.iter().any(|d| d.contains("line 2 `S: 1`")),
        "{}",
        show(&r)
    );
    assert!(
        took >= TIMEOUT && took < TIMEOUT + Duration::from_millis(100),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn server_closing_mid_request_fails_s_reply_one() {
    let (ours, theirs) = tokio::io::duplex(64);
    drop(theirs);
    let (r, _) = replay_against("C: random?\nS: 1\n", ours).await;
    assert_eq!(r.verdict, Verdict::Fail, "{}", show(&r));
    assert_eq!(rules(&r), vec![RuleId::SReplyOne], "{}", show(&r));
}

#[tokio::test]
async fn refused_connection_is_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.txt");
    std::fs::write(&file, "C: random?\nS: 1\n").unwrap();
    let opts = Options::new(ReplayTarget::Server(ServerTarget {
        addr,
        control: None,
        publish_cmd: None,
    }));
    let r = replay::replay_file(&file, &opts).await;
    assert_eq!(r.result.verdict, Verdict::Error, "{}", show(&r.result));
    assert!(r.result.error.unwrap().contains("cannot connect"));
}

#[tokio::test]
async fn a_bad_file_is_an_error_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.txt");
    std::fs::write(&file, "C: random?\nX: what\n").unwrap();
    let r = replay::replay_file(&file, &Options::new(ReplayTarget::Embedded)).await;
    assert_eq!(r.result.verdict, Verdict::Error);
    assert!(r.result.error.unwrap().contains("bad.txt:2:"));
}

// ---------------------------------------------------------------------------------------------
// Divergences: legal, but not as recorded.

#[tokio::test(start_paused = true)]
async fn another_kind_announced_is_diverged_and_strict_makes_values_exact() {
    let s = broken_server(
        b"",
        &[("_notif_", b"will send notifs\r\nnotif: random\r\n")],
    );
    // The server has a number available and announces it; the recording had an ad.
    let text = format!("C: random?\nS: 1\n{ENTER}S: notif: classified\nC: stop_notif\nS: OK\n");
    let (r, _) = replay_against(&text, s).await;
    assert_eq!(r.verdict, Verdict::Diverged, "{}", show(&r));
    assert!(r.divergences[0].contains("line 5"), "{:?}", r.divergences);
    let diff = r.diff.clone().unwrap();
    assert!(
        diff.contains("-    5 | S: notif: classified\n+      | S: notif: random"),
        "{diff}"
    );

    // Unpredictable values match any valid value, unless strict.
    let t = parse("C: random?\nS: 456902234\n", "v").unwrap();
    let mut cfg = config(Role::Client, &t);
    let loose =
        replay::replay_stream(&t, &Dialect::default(), cfg.clone(), good_server(), None).await;
    assert!(loose.divergences.is_empty(), "{:?}", loose.divergences);
    cfg.strict = true;
    let strict = replay::replay_stream(&t, &Dialect::default(), cfg, good_server(), None).await;
    assert_eq!(strict.divergences.len(), 1, "{:?}", strict.divergences);
}

#[tokio::test(start_paused = true)]
async fn save_observed_writes_a_transcript_that_check_and_replay_accept() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options::new(ReplayTarget::Embedded);
    opts.save_observed = Some(dir.path().to_path_buf());
    let seed = transcripts_dir().join("seed-example.txt");
    let r = replay::replay_file(&seed, &opts).await;
    assert_eq!(r.result.verdict, Verdict::Pass, "{}", show(&r.result));
    let saved = PathBuf::from(r.result.saved_observed.clone().unwrap());
    let t = Transcript::from_file(&saved).unwrap();
    assert!(t.front.title.as_deref().unwrap().contains("seed-example"));
    assert_eq!(t.front.dialect.as_deref(), Some("seed-session"));
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(text.contains("# source transcript:"), "{text}");
    assert!(
        text.contains("! publish classified"),
        "the publishes replay made are recorded: {text}"
    );
    let violations = notifspec::transcript::check_transcript(&t, &Dialect::default());
    assert!(violations.is_empty(), "{violations:?}\n{text}");
    let again = replay::replay_file(&saved, &Options::new(ReplayTarget::Embedded)).await;
    assert_eq!(
        again.result.verdict,
        Verdict::Pass,
        "{}",
        show(&again.result)
    );
    // JSON carries the observed lines.
    let mut json = Vec::new();
    r.result.write_json(&mut json).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["observed"][0], "C: random?");
}

// ---------------------------------------------------------------------------------------------
// Deliberately broken clients (server role).

/// A broken client's script: each step waits for that many server lines, then sends the raw
/// bytes; `close` says whether it closes after the last step (else it stays connected).
type Steps = &'static [(usize, &'static [u8])];

fn broken_client(steps: Steps, close: bool) -> DuplexStream {
    let (ours, theirs) = tokio::io::duplex(4096);
    tokio::spawn(async move {
        let (r, mut w) = tokio::io::split(theirs);
        let mut lines = BufReader::new(r).lines();
        for (wait_for, bytes) in steps {
            for _ in 0..*wait_for {
                let _ = lines.next_line().await;
            }
            let _ = w.write_all(bytes).await;
        }
        if close {
            let _ = w.shutdown().await;
            return;
        }
        while let Ok(Some(_)) = lines.next_line().await {}
    });
    ours
}

async fn replay_client(text: &str, stream: DuplexStream) -> FileResult {
    let t = parse(text, "inline").unwrap();
    let f = replay::replay_stream(
        &t,
        &Dialect::default(),
        config(Role::Server, &t),
        stream,
        None,
    )
    .await;
    replay::judge("inline".into(), &Expectation::Pass, &f)
}

/// One broken client per client rule live traffic can show: (rule, its script, whether it
/// closes after it, the transcript notifspec plays as the server).
const BROKEN_CLIENTS: &[(RuleId, Steps, bool, &str)] = &[
    (
        RuleId::COneAtATime,
        &[(0, b"random?\r\nrandom?\r\n")],
        false,
        "C: random?\nS: 1\nC: random?\nS: 2\n",
    ),
    (
        RuleId::CNoReqInNotif,
        &[(0, b"_notif_\r\n"), (2, b"random?\r\n")],
        false,
        "C: _notif_\nS: will send notifs\nS: notif: random\nC: OK\n",
    ),
    (
        RuleId::CAckOnlyNotif,
        &[(0, b"_notif_\r\n"), (1, b"OK\r\n")],
        false,
        "C: _notif_\nS: will send notifs\nC: stop_notif\nS: OK\n",
    ),
    (
        RuleId::CStopOnlyInNotif,
        &[(0, b"stop_notif\r\n")],
        false,
        "C: random?\nS: 1\n",
    ),
    (
        RuleId::CNoAckAfterStop,
        &[(0, b"_notif_\r\n"), (1, b"stop_notif\r\n"), (1, b"OK\r\n")],
        false,
        "C: _notif_\nS: will send notifs\nC: stop_notif\nS: notif: random\nS: OK\n! quiet 1s\n",
    ),
    (
        RuleId::CAck,
        &[(0, b"_notif_\r\n"), (2, b"")],
        true,
        "C: _notif_\nS: will send notifs\nS: notif: random\nC: OK\n",
    ),
    (
        RuleId::CFraming,
        &[(0, b"random?")],
        true,
        "C: random?\nS: 1\n",
    ),
];

#[tokio::test(start_paused = true)]
async fn each_broken_client_fails_with_the_rule_it_breaks() {
    for (rule, steps, close, text) in BROKEN_CLIENTS {
        let r = replay_client(text, broken_client(steps, *close)).await;
        assert_fails_with(&r, *rule);
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_diverges_within_the_timeout_and_never_passes() {
    let c = broken_client(&[], false);
    let t = parse("C: random?\nS: 1\n", "inline").unwrap();
    let start = tokio::time::Instant::now();
    let f = replay::replay_stream(&t, &Dialect::default(), config(Role::Server, &t), c, None).await;
    let r = replay::judge("inline".into(), &Expectation::Pass, &f);
    // No rule makes a client ask anything: legal, but the recording was not played.
    assert_eq!(r.verdict, Verdict::Diverged, "{}", show(&r));
    assert!(
        r.divergences
            .iter()
            .any(|d| d.contains("did not send `C: random?`")),
        "{}",
        show(&r)
    );
    assert!(start.elapsed() <= TIMEOUT + Duration::from_millis(100));
}

/// `--client-cmd`: the reference client binary is started with the listening address, plays
/// the transcript over TCP, and is stopped at the end.
#[tokio::test]
async fn client_cmd_starts_and_stops_the_reference_client() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ref.txt");
    std::fs::write(
        &file,
        "C: random?\nS: 7\nC: _notif_\nS: will send notifs\nS: notif: random\nC: stop_notif\n\
         S: OK\nC: random?\nS: 8\nC: _notif_\nS: will send notifs\n",
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_notifspec");
    let mut opts = Options::new(ReplayTarget::Client(ClientTarget {
        listen: "127.0.0.1:0".into(),
        client_cmd: Some(format!("{bin} client --server {{addr}} --timeout 5s")),
    }));
    opts.timeout = Duration::from_secs(10);
    let r = replay::replay_file(&file, &opts).await;
    assert_eq!(r.result.verdict, Verdict::Pass, "{}", show(&r.result));
}

/// Runs the binary with a bound; returns (exit code, stdout).
async fn notifspec(args: &[&str]) -> (i32, String) {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_notifspec"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("notifspec replay finished in time")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn the_command_passes_the_seed_example_out_of_the_box() {
    let (code, out) = notifspec(&["replay", "transcripts/seed-example.txt"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("PASS transcripts/seed-example.txt\n"),
        "{out}"
    );
    let (code, out) =
        notifspec(&["replay", "--format", "json", "transcripts/seed-example.txt"]).await;
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["verdict"], "pass");
    assert_eq!(
        v["observed"][1].as_str().map(|s| s.starts_with("S: ")),
        Some(true)
    );
    let (code, _) = notifspec(&["replay", "no/such/file.txt"]).await;
    assert_eq!(code, 2);
}

#[tokio::test]
async fn diverged_is_exit_0_unless_strict_and_shows_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("other-kind.txt");
    // The embedded server announces the ad unread since connect, not a random number.
    std::fs::write(
        &file,
        "C: _notif_\nS: will send notifs\nS: notif: random\nC: stop_notif\nS: OK\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (code, out) = notifspec(&["replay", "--format", "json", path]).await;
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["verdict"], "diverged", "{out}");
    assert!(
        v["divergences"][0].as_str().unwrap().contains("line 3"),
        "{out}"
    );
    assert!(v["observed"].as_array().unwrap().len() >= 4, "{out}");
    let (code, out) = notifspec(&["replay", "--strict", path]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("DIVERGED "), "{out}");
    assert!(out.contains("-    3 | S: notif: random"), "{out}");
}

/// `replay --publish-cmd`: a server reached only through a command that publishes (here a
/// bash script talking to the reference server's control port, standing in for someone's
/// admin API) replays a transcript that expects notifications; without a way to publish the
/// same replay cannot provoke them, and a template without `{kind}` is refused up front.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_publishes_through_a_publish_command() {
    let server = notifspec::net::ServerBuilder::new()
        .addr(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .control(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .start()
        .await
        .unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let port = server.control_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("publish.sh");
    let calls = dir.path().join("calls");
    std::fs::write(
        &script,
        format!(
            "if [ -n \"$2\" ]; then line=\"publish $1 $2\"; else line=\"publish $1\"; fi\n\
             echo \"$line\" >> '{}'\n\
             exec 3<>/dev/tcp/127.0.0.1/{port}\n\
             echo \"$line\" >&3\n\
             read -r reply <&3\n\
             [ \"${{reply%$'\\r'}}\" = OK ]\n",
            calls.display()
        ),
    )
    .unwrap();
    let cmd = format!("bash '{}' {{kind}} {{text}}", script.display());
    let file = "transcripts/publish/published-before-mode.txt";
    let (code, out) = notifspec(&["replay", "--server", &addr, "--publish-cmd", &cmd, file]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with(&format!("PASS {file}")), "{out}");
    let calls = std::fs::read_to_string(&calls).unwrap();
    assert!(calls.starts_with("publish "), "{calls}");

    let (code, out) = notifspec(&["replay", "--server", &addr, "--timeout", "300ms", file]).await;
    assert_eq!(code, 0, "a legal divergence, not a failure: {out}");
    assert!(out.starts_with(&format!("DIVERGED {file}")), "{out}");
    assert!(
        out.contains("skipped: no control port or --publish-cmd to publish with"),
        "{out}"
    );

    let (code, _) = notifspec(&[
        "replay",
        "--server",
        &addr,
        "--publish-cmd",
        "curl http://x",
        file,
    ])
    .await;
    assert_eq!(code, 2);
    server.shutdown().await.unwrap();
}
