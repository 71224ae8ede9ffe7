//! The table "fault → what notifspec reports" of docs/protocol.md (section 15), one test per
//! row: each fault is a deliberately broken server made of the reference server behind a
//! small line proxy that adds exactly that fault, on loopback, and each test checks that
//! `conform` (or `replay`) reports it under its rule, as a failure (exit 1, a JUnit
//! `<failure>`), never as an error, or as an error exactly when the target cannot be reached
//! or driven.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notifspec::RuleId;
use notifspec::checker::LineReading as _;
use notifspec::cmd::Status;
use notifspec::conform::{self, ConformTarget, ExpectFail, Options, Outcome, RunReport, Suite};
use notifspec::dialect::Dialect;
use notifspec::net::{ServerBuilder, ServerHandle};
use notifspec::replay::{self, ServerTarget};
use notifspec::report::Verdict;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One deliberate fault, added to the reference server by the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Never answers `stop_notif` in the mode.
    MuteStop,
    /// Never acknowledges the enter command.
    MuteAck,
    /// Never answers `random?`.
    MuteRandom,
    /// Only CRLF ends a line: a line ended by a bare LF is never read.
    NoBareLf,
    /// The whole process exits on an oversized line: every connection dropped, no new one
    /// accepted.
    DiesOnOversized,
    /// Drops every other connection on an oversized line (but keeps accepting).
    DropsOthersOnOversized,
    /// Closes the connection on `stop_notif` outside the mode.
    DropsOnStrayStop,
    /// After the enter command sent twice, keeps notifying after the stop's `OK`.
    ZombieAfterDoubleEnter,
    /// Replies `ERR` to an unknown command although the dialect ignores bad commands.
    ErrorsWhenIgnoring,
    /// Never sends a notification (legal where none is owed).
    NoNotifications,
}

/// The reference server with one fault in front of it.
struct Faulty {
    addr: SocketAddr,
    control: SocketAddr,
    _server: ServerHandle,
    accept: JoinHandle<()>,
}

impl Drop for Faulty {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Faulty {
    async fn start(fault: Fault, dialect: &Dialect) -> Faulty {
        let lo = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = ServerBuilder::new()
            .dialect(dialect.clone())
            .addr(lo)
            .control(lo)
            .start()
            .await
            .unwrap();
        let upstream = server.local_addr().unwrap();
        let listener = TcpListener::bind(lo).await.unwrap();
        let addr = listener.local_addr().unwrap();
        // 1: every connection is dropped; 2: the process exits (the listener too).
        let (kill, mut killed) = watch::channel(0u8);
        let kill = Arc::new(kill);
        let d = dialect.clone();
        let accept = tokio::spawn(async move {
            loop {
                tokio::select! {
                    Ok((s, _)) = listener.accept() => {
                        let (d, kill) = (d.clone(), kill.clone());
                        // Subscribed here, at accept, not when the task first runs: a cut
                        // made before a slow task starts still reaches it.
                        let killed = kill.subscribe();
                        tokio::spawn(proxy(s, upstream, fault, d, kill, killed));
                    }
                    // The "process" exits: the listener is dropped, new connections refused.
                    _ = killed.wait_for(|k| *k == 2) => return,
                }
            }
        });
        Faulty {
            addr,
            control: server.control_addr().unwrap(),
            _server: server,
            accept,
        }
    }

    fn target(&self) -> ConformTarget {
        ConformTarget::Server {
            addr: self.addr.to_string(),
            control: Some(self.control.to_string()),
        }
    }
}

/// Splits complete lines (with their terminators) off `buf`.
fn lines(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
        out.push(buf.drain(..=nl).collect());
    }
    out
}

fn text_of(line: &[u8]) -> String {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    String::from_utf8_lossy(body).into_owned()
}

/// One proxied connection: client lines go to the reference server and its lines come back,
/// except where the fault says otherwise.
async fn proxy(
    client: TcpStream,
    upstream: SocketAddr,
    fault: Fault,
    d: Dialect,
    kill: Arc<watch::Sender<u8>>,
    mut killed: watch::Receiver<u8>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let (mut cbuf, mut sbuf) = (Vec::new(), Vec::new());
    let (mut in_mode, mut stop_sent, mut double_enter) = (false, false, false);
    let mut sender = false;
    let (mut chunk, mut schunk) = ([0u8; 4096], [0u8; 4096]);
    let eol = d.line_ending.as_bytes();
    loop {
        tokio::select! {
            // A cut is seen before any later line, as a server that drops its other
            // connections would: it happens before the sender's connection is closed.
            biased;
            _ = killed.changed() => if !sender || *killed.borrow() == 2 {
                return;
            },
            n = cr.read(&mut chunk) => {
                let Ok(n @ 1..) = n else { return };
                cbuf.extend_from_slice(&chunk[..n]);
                let oversized = cbuf.split(|b| *b == b'\n').any(|l| l.len() > d.max_line + 1);
                if oversized && fault == Fault::DiesOnOversized {
                    let _ = kill.send(2);
                    return;
                }
                if oversized && fault == Fault::DropsOthersOnOversized && !sender {
                    // This connection gets the refusal from the server; the others are cut.
                    sender = true;
                    let _ = kill.send(1);
                }
                for line in lines(&mut cbuf) {
                    let text = text_of(&line);
                    let lf_only = !line.ends_with(b"\r\n");
                    let (enter, stop) = (text == d.commands.enter, text == d.commands.stop);
                    let mute = match fault {
                        Fault::NoBareLf => lf_only,
                        Fault::MuteRandom => text == d.commands.random,
                        Fault::MuteAck => enter,
                        Fault::MuteStop => stop && in_mode,
                        _ => false,
                    };
                    if fault == Fault::DropsOnStrayStop && stop && !in_mode {
                        return;
                    }
                    if fault == Fault::ZombieAfterDoubleEnter && enter && in_mode {
                        double_enter = true;
                    }
                    if fault == Fault::ErrorsWhenIgnoring && text == "hello?" {
                        let _ = cw.write_all(b"ERR unknown command\r\n").await;
                    }
                    stop_sent |= stop && in_mode && !mute;
                    if !mute && sw.write_all(&line).await.is_err() {
                        return;
                    }
                }
            }
            n = sr.read(&mut schunk) => {
                let Ok(n @ 1..) = n else { return };
                sbuf.extend_from_slice(&schunk[..n]);
                for line in lines(&mut sbuf) {
                    let text = text_of(&line);
                    if text == d.replies.mode_ack {
                        in_mode = true;
                    }
                    if fault == Fault::NoNotifications && d.notification_kind(&text).is_some() {
                        continue;
                    }
                    let mut out = line.clone();
                    if stop_sent && text == d.replies.stop_ok {
                        (in_mode, stop_sent) = (false, false);
                        if std::mem::take(&mut double_enter) {
                            // The second enter started a session the stop did not end.
                            out.extend_from_slice(d.notifications.classified.as_bytes());
                            out.extend_from_slice(eol);
                        }
                    }
                    if cw.write_all(&out).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn options(target: ConformTarget, dialect: &Dialect, tags: &str, timeout_ms: u64) -> Options {
    let mut o = Options::new(target);
    o.dialect = dialect.clone();
    o.tags = Some(tags.parse().unwrap());
    o.timeout = Duration::from_millis(timeout_ms);
    o
}

async fn run(o: &Options) -> RunReport {
    conform::run(Arc::new(Suite::embedded().unwrap()), o)
        .await
        .unwrap()
}

fn failed_rules(r: &RunReport) -> BTreeSet<RuleId> {
    r.scenarios
        .iter()
        .filter(|s| s.outcome.is_failure())
        .flat_map(|s| s.failed_rules())
        .collect()
}

fn ignore_errors() -> Dialect {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("transcripts/custom-dialect/dialects/ignore-errors.yaml");
    Dialect::load(path.to_str().unwrap(), None).unwrap()
}

/// Runs the scenarios `tags` against the reference server with `fault`, and checks the run
/// fails exactly `rules`: failures (exit 1, JUnit `<failure>` of that type), no errors.
async fn assert_reported(
    fault: Fault,
    dialect: &Dialect,
    tags: &str,
    rules: &[RuleId],
) -> RunReport {
    let server = Faulty::start(fault, dialect).await;
    let report = run(&options(server.target(), dialect, tags, 400)).await;
    let text = conform::render::text(&report);
    assert_eq!(report.status(), Status::Fail, "{fault:?}\n{text}");
    let want: BTreeSet<RuleId> = rules.iter().copied().collect();
    assert_eq!(failed_rules(&report), want, "{fault:?}\n{text}");
    assert!(
        !report
            .scenarios
            .iter()
            .any(|s| matches!(s.outcome, Outcome::Errored { .. })),
        "{fault:?}: a fault of the server is never an error\n{text}"
    );
    let junit = conform::junit::junit(&report);
    for rule in rules {
        assert!(
            junit
                .lines()
                .any(|l| l.contains("<failure ") && l.contains(&format!(" type=\"{rule}\""))),
            "{fault:?}\n{junit}"
        );
    }
    assert!(!junit.contains("<error"), "{fault:?}\n{junit}");
    report
}

const LIVE: &str = "not @control and not @offline";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_never_answered_is_s_stop_ok() {
    let d = Dialect::default();
    let tags = format!("@S-STOP-OK and {LIVE}");
    let report = assert_reported(Fault::MuteStop, &d, &tags, &[RuleId::SStopOk]).await;
    let text = conform::render::text(&report);
    assert!(text.contains("was not answered with `OK`"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enter_command_never_acknowledged_is_s_mode_ack() {
    let d = Dialect::default();
    let tags = format!("@S-MODE-ACK and {LIVE}");
    assert_reported(Fault::MuteAck, &d, &tags, &[RuleId::SModeAck]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_never_answered_is_s_reply_one() {
    let d = Dialect::default();
    let tags = format!("@S-RANDOM-INT and {LIVE}");
    assert_reported(Fault::MuteRandom, &d, &tags, &[RuleId::SReplyOne]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_ended_by_a_bare_lf_never_answered_is_s_framing() {
    let d = Dialect::default();
    let tags = format!("@S-FRAMING and {LIVE}");
    assert_reported(Fault::NoBareLf, &d, &tags, &[RuleId::SFraming]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_on_a_stray_stop_is_s_err_under_both_policies() {
    for d in [Dialect::default(), ignore_errors()] {
        let tags = format!("@S-ERR and {LIVE}");
        assert_reported(Fault::DropsOnStrayStop, &d, &tags, &[RuleId::SErr]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifying_after_the_stop_ok_of_a_double_enter_is_s_no_notif_after_ok() {
    let d = Dialect::default();
    let tags = "@S-NO-NOTIF-AFTER-OK and not @offline";
    assert_reported(
        Fault::ZombieAfterDoubleEnter,
        &d,
        tags,
        &[RuleId::SNoNotifAfterOk],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_line_where_the_dialect_ignores_errors_is_s_err() {
    let tags = format!("@S-ERR and {LIVE}");
    assert_reported(
        Fault::ErrorsWhenIgnoring,
        &ignore_errors(),
        &tags,
        &[RuleId::SErr],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_errors_policy_ignore_the_error_scenarios_run_and_the_reference_passes() {
    // The whole suite against the reference (a fresh server per scenario) in a dialect that
    // ignores bad commands: the error scenarios run (silence, unchanged state, a usable
    // connection), and a correct server passes them.
    let d = ignore_errors();
    let report = run(&options(ConformTarget::Reference, &d, "not @offline", 2000)).await;
    let text = conform::render::text(&report);
    assert_eq!(report.status(), Status::Pass, "{text}");
    assert!(report.per_rule()[&RuleId::SErr].passed >= 15, "{text}");
    assert!(
        text.contains("ignores bad commands instead of replying (1):"),
        "only the oversized-line refusal differs between the policies:\n{text}"
    );
    let twin = "in a dialect that ignores errors, an oversized line closes the connection";
    assert!(
        report
            .scenarios
            .iter()
            .any(|s| s.name == twin && s.outcome == Outcome::Passed),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_exits_on_an_oversized_line_is_s_robust_and_the_rest_is_skipped() {
    let d = Dialect::default();
    let report = assert_reported(
        Fault::DiesOnOversized,
        &d,
        "@S-ROBUST and not @offline",
        &[RuleId::SRobust],
    )
    .await;
    let text = conform::render::text(&report);
    assert!(
        report.scenarios.iter().any(|s| s
            .name
            .starts_with("the server still accepts connections after")),
        "{text}"
    );
    let skipped = report
        .scenarios
        .iter()
        .filter(|s| {
            matches!(&s.outcome, Outcome::Skipped { reason }
                if reason.contains("stopped accepting connections"))
        })
        .count();
    assert!(skipped >= 2, "{text}");
    // A team that knows its server falls over lists S-ROBUST, and the gate holds.
    let server = Faulty::start(Fault::DiesOnOversized, &d).await;
    let mut o = options(server.target(), &d, "@S-ROBUST and not @offline", 400);
    o.expect_fail = ExpectFail::parse("S-ROBUST").unwrap();
    let report = run(&o).await;
    let text = conform::render::text(&report);
    assert_eq!(report.status(), Status::Pass, "{text}");
    assert!(report.totals().expected_failures >= 2, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_drops_other_connections_on_an_oversized_line_is_s_robust() {
    let d = Dialect::default();
    let report = assert_reported(
        Fault::DropsOthersOnOversized,
        &d,
        "@S-ROBUST and not @offline",
        &[RuleId::SRobust],
    )
    .await;
    let text = conform::render::text(&report);
    let other = report
        .scenarios
        .iter()
        .find(|s| s.name == "an oversized line does not harm other clients")
        .unwrap();
    let Outcome::Failed { failure, .. } = &other.outcome else {
        panic!("{text}");
    };
    assert!(
        failure.message.contains("client B is no longer usable"),
        "{text}"
    );
    // It still accepts connections: nothing else is skipped.
    assert!(!text.contains("stopped accepting"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_setup_step_names_the_step_and_the_rules_it_blocks() {
    let d = Dialect::default();
    let server = Faulty::start(Fault::MuteAck, &d).await;
    let o = options(server.target(), &d, "@S-NOTIF-WINDOW and not @offline", 400);
    let report = run(&o).await;
    let text = conform::render::text(&report);
    assert_eq!(report.status(), Status::Fail, "{text}");
    assert_eq!(failed_rules(&report), [RuleId::SModeAck].into(), "{text}");
    assert!(report.totals().setup_failures > 0, "{text}");
    let row = &report.per_rule()[&RuleId::SNotifWindow];
    assert!(!row.exercised(), "{text}");
    assert!(
        row.not_exercised_because.iter().any(|w| w
            .contains("setup step `And client A is in notification mode")
            && w.contains("S-MODE-ACK")),
        "{:?}",
        row.not_exercised_because
    );
    assert!(text.contains("FAIL (setup) [S-MODE-ACK]"), "{text}");
    assert!(text.contains("so S-NOTIF-WINDOW"), "{text}");
    assert!(
        text.contains("not exercised: S-NOTIF-WINDOW (setup step"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&conform::render::json(&report)).unwrap();
    assert!(json["totals"]["setup_failures"].as_u64().unwrap() > 0);
    let junit = conform::junit::junit(&report);
    assert!(
        junit.contains("setup failure (blocks S-NOTIF-WINDOW"),
        "{junit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_checks_of_shipped_transcripts_are_counted_apart() {
    let d = Dialect::default();
    let server = Faulty::start(Fault::MuteRandom, &d).await;
    let o = options(server.target(), &d, "@S-RANDOM-INT", 400);
    let report = run(&o).await;
    let t = report.totals();
    let offline = report.scenarios.iter().filter(|s| s.offline).count();
    assert!(offline > 0 && t.offline_passed == offline, "{t:?}");
    let target = report.scenarios.iter().filter(|s| !s.offline).count();
    assert_eq!(t.passed + t.failed + t.skipped, target, "{t:?}");
    let text = conform::render::text(&report);
    assert!(
        text.contains(&format!(
            "Offline checks of the shipped transcripts (they judge files, not the target): {offline} passed, 0 failed."
        )),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&conform::render::json(&report)).unwrap();
    assert_eq!(json["totals"]["offline_passed"], offline);
    let junit = conform::junit::junit(&report);
    assert!(
        junit.contains("(offline: shipped transcripts, not the target)"),
        "{junit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_unreachable_or_undrivable_target_is_an_error() {
    let d = Dialect::default();
    // Refused connection: the run cannot start (exit 2).
    let free = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let refused = ConformTarget::Server {
        addr: free.to_string(),
        control: None,
    };
    assert!(
        conform::run(
            Arc::new(Suite::embedded().unwrap()),
            &options(refused, &d, LIVE, 300)
        )
        .await
        .is_err()
    );
    // A control port that refuses every publish: the scenarios that publish are errors.
    let server = Faulty::start(Fault::MuteRandom, &d).await;
    let control = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control_addr = control.local_addr().unwrap();
    let refusing = tokio::spawn(async move {
        while let Ok((mut s, _)) = control.accept().await {
            let _ = s.write_all(b"ERR publishing is off\r\n").await;
        }
    });
    let target = ConformTarget::Server {
        addr: server._server.local_addr().unwrap().to_string(),
        control: Some(control_addr.to_string()),
    };
    let report = run(&options(
        target,
        &d,
        "@S-LIVENESS and @control and not @offline",
        400,
    ))
    .await;
    refusing.abort();
    let text = conform::render::text(&report);
    assert_eq!(report.status(), Status::Error, "{text}");
    assert!(text.contains("publishing is off"), "{text}");
    assert!(conform::junit::junit(&report).contains("<error"), "{text}");
    // A client command that does not start.
    let client = ConformTarget::ClientCmd("exec /nonexistent/notif-client {addr}".into());
    let report = run(&options(client, &d, "@client", 300)).await;
    let text = conform::render::text(&report);
    assert_eq!(report.status(), Status::Error, "{text}");
    assert!(text.contains("/nonexistent/notif-client"), "{text}");
}

fn transcript(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_a_stop_never_answered_fails_s_stop_ok_not_an_error() {
    let d = Dialect::default();
    let server = Faulty::start(Fault::MuteStop, &d).await;
    let mut o = replay::Options::new(replay::ReplayTarget::Server(ServerTarget {
        addr: server.addr.to_string(),
        control: Some(server.control.to_string()),
        publish_cmd: None,
    }));
    o.timeout = Duration::from_millis(400);
    let r = replay::replay_file(&transcript("transcripts/notif/enter-ok-stop.txt"), &o)
        .await
        .result;
    assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
    assert_eq!(r.violations[0].rule, RuleId::SStopOk, "{r:?}");
    assert!(r.error.is_none(), "{r:?}");
}

#[tokio::test]
async fn replay_a_transcript_whose_own_line_breaks_a_client_rule_is_unreplayable_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = replay::Options::new(replay::ReplayTarget::Embedded);
    o.save_observed = Some(dir.path().to_path_buf());
    let path = transcript("transcripts/violations/c-one-at-a-time.txt");
    let r = replay::replay_file(&path, &o).await.result;
    assert_eq!(r.verdict, Verdict::Unreplayable, "{r:?}");
    let why = r.not_replayable.as_deref().unwrap();
    assert!(
        why.starts_with("not replayable past line 8: `C: classified?`"),
        "{why}"
    );
    assert!(why.contains("C-ONE-AT-A-TIME"), "{why}");
    // The observed transcript holds only what was really sent.
    let saved = std::fs::read_to_string(r.saved_observed.as_deref().unwrap()).unwrap();
    assert!(
        !saved.lines().any(|l| l.trim() == "C: classified?"),
        "{saved}"
    );
    assert!(
        saved.contains("# not sent: source line 8 `C: classified?`"),
        "{saved}"
    );
    let mut s = notifspec::report::Summary::default();
    s.add(&r);
    assert_eq!(
        s.to_string(),
        "0 passed, 0 failed, 1 not replayable to the end"
    );
    assert_eq!(s.status(), Status::Pass);
    s.strict = true;
    assert_eq!(s.status(), Status::Fail);
}

#[tokio::test]
async fn replay_refuses_at_once_a_transcript_not_valid_in_the_chosen_dialect() {
    let mut o = replay::Options::new(replay::ReplayTarget::Embedded);
    o.dialect = Some("seed-session".into());
    o.timeout = Duration::from_secs(30);
    let started = std::time::Instant::now();
    let r = replay::replay_file(&transcript("transcripts/seed-text/basic.txt"), &o)
        .await
        .result;
    assert!(started.elapsed() < Duration::from_secs(10), "not at once");
    assert_eq!(r.verdict, Verdict::Error, "{r:?}");
    let e = r.error.unwrap();
    assert!(e.contains("basic.txt:"), "{e}");
    assert!(e.contains("not valid in dialect `seed-session`: S-"), "{e}");
}

/// Replays `text` (written to a file) against the reference server with `fault`.
async fn replay_with(
    fault: Fault,
    d: &Dialect,
    dialect: Option<&str>,
    text: &str,
) -> notifspec::report::FileResult {
    let server = Faulty::start(fault, d).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.txt");
    std::fs::write(&file, text).unwrap();
    let mut o = replay::Options::new(replay::ReplayTarget::Server(ServerTarget {
        addr: server.addr.to_string(),
        control: Some(server.control.to_string()),
        publish_cmd: None,
    }));
    o.timeout = Duration::from_millis(400);
    o.dialect = dialect.map(str::to_string);
    replay::replay_file(&file, &o).await.result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_reports_each_fault_under_its_rule() {
    let d = Dialect::default();
    let ignoring = ignore_errors();
    let ignore_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("transcripts/custom-dialect/dialects/ignore-errors.yaml");
    let ignore = ignore_path.to_str().unwrap();
    let enter_stop = "C: _notif_\nS: will send notifs\nC: stop_notif\nS: OK\n! close\n";
    let rows: &[(Fault, &Dialect, Option<&str>, &str, RuleId)] = &[
        (Fault::MuteAck, &d, None, enter_stop, RuleId::SModeAck),
        (Fault::MuteStop, &d, None, enter_stop, RuleId::SStopOk),
        (
            Fault::MuteRandom,
            &d,
            None,
            "C: random?\nS: {int}\n! close\n",
            RuleId::SReplyOne,
        ),
        (
            Fault::ErrorsWhenIgnoring,
            &ignoring,
            Some(ignore),
            "C: hello?\n! quiet 200ms\nC: random?\nS: {int}\n! close\n",
            RuleId::SErr,
        ),
    ];
    for (fault, d, dialect, text, rule) in rows {
        let r = replay_with(*fault, d, *dialect, text).await;
        assert_eq!(r.verdict, Verdict::Fail, "{fault:?}: {r:?}");
        assert_eq!(r.violations[0].rule, *rule, "{fault:?}: {r:?}");
        assert!(r.error.is_none(), "{fault:?}: {r:?}");
    }
    // A transcript sending `stop_notif` outside the mode (or the enter command twice) is
    // itself a client violation: replay cannot send it, and says so (conform tests the
    // server's reaction).
    let stray = "---\nexpect: [C-STOP-ONLY-IN-NOTIF]\n---\nC: random?\nS: {int}\nC: stop_notif\nS: ERR not in the mode\n";
    let r = replay_with(Fault::DropsOnStrayStop, &d, None, stray).await;
    assert_eq!(r.verdict, Verdict::Unreplayable, "{r:?}");
    assert!(
        r.not_replayable
            .as_deref()
            .unwrap()
            .starts_with("not replayable past line 6: `C: stop_notif`"),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_no_rule_requires_stops_the_replay_and_is_never_a_pass() {
    let d = Dialect::default();
    // Nothing announces an item here: no rule requires the notification the recording has.
    let text =
        "C: _notif_\nS: will send notifs\nS: notif: classified\nC: OK\nC: stop_notif\nS: OK\n";
    let server = Faulty::start(Fault::NoNotifications, &d).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.txt");
    std::fs::write(&file, text).unwrap();
    let mut o = replay::Options::new(replay::ReplayTarget::Server(ServerTarget {
        addr: server.addr.to_string(),
        control: None,
        publish_cmd: None,
    }));
    o.timeout = Duration::from_millis(300);
    let r = replay::replay_file(&file, &o).await.result;
    assert_eq!(r.verdict, Verdict::Diverged, "{r:?}");
    assert!(
        r.divergences
            .iter()
            .any(|d| d.contains("the replay stopped there")),
        "{r:?}"
    );
    // In conform, the transcript scenario is then not exercised, never passed.
    let mut suite = Suite::embedded().unwrap();
    suite
        .scenarios
        .retain(|s| s.name == "transcripts/notif/enter-ok-stop.txt replays against the server");
    assert_eq!(suite.scenarios.len(), 1);
    let mut o = Options::new(server.target());
    o.timeout = Duration::from_millis(300);
    let report = conform::run(Arc::new(suite), &o).await.unwrap();
    let text = conform::render::text(&report);
    assert!(
        matches!(&report.scenarios[0].outcome, Outcome::Skipped { reason }
            if reason.contains("was not replayed to its end")),
        "{text}"
    );
}
