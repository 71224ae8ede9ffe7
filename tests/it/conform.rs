//! `conform` judged on implementations it has never seen, written here from the spec: a
//! minimal correct server (independent of the reference) that the suite must pass, the same
//! server with one deliberate flaw each (the suite must fail it with that rule), and small
//! clients, broken and correct. So the suite neither misses violations nor invents them.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notifspec::RuleId;
use notifspec::cmd::Status;
use notifspec::conform::target::ClientFn;
use notifspec::conform::{self, ConformTarget, ExpectFail, Options, Outcome, RunReport, Suite};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One deliberate departure from the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    /// None: a conforming server.
    None,
    /// Sends the next notification without waiting for the answer.
    NoWindow,
    /// Answers `random?` with a word.
    TextForRandom,
    /// Keeps notifying after the OK that completes stop_notif.
    NotifyAfterStop,
    /// Reads everything, answers nothing.
    Mute,
    /// Ends its lines with a bare LF although the dialect says CRLF.
    LfEndings,
}

/// What has been published.
struct Feed {
    ads: Vec<String>,
    random: u64,
    random_seq: u64,
}

/// A minimal notif server (seed-session dialect) with a control port.
struct MiniServer {
    addr: SocketAddr,
    control: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for MiniServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl MiniServer {
    async fn start(flaw: Flaw) -> MiniServer {
        let feed = Arc::new(Mutex::new(Feed {
            ads: vec!["Nice appart in the 11e.".into()],
            random: 456902234,
            random_seq: 0,
        }));
        let (changed, _) = watch::channel(0u64);
        let changed = Arc::new(changed);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let control = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (addr, control_addr) = (
            listener.local_addr().unwrap(),
            control.local_addr().unwrap(),
        );
        // One loop accepts both ports, protocol connections first: a connection made before
        // a publish is accepted (and its state taken) before that publish is applied, so
        // what was published after connecting counts as new.
        let accept = tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    Ok((s, _)) = listener.accept() => {
                        let conn = Conn::at_connect(&feed);
                        tokio::spawn(connection(s, conn, feed.clone(), changed.subscribe(), flaw));
                    }
                    Ok((s, _)) = control.accept() => {
                        tokio::spawn(control_connection(s, feed.clone(), changed.clone()));
                    }
                    else => return,
                }
            }
        });
        MiniServer {
            addr,
            control: control_addr,
            tasks: vec![accept],
        }
    }

    fn target(&self) -> ConformTarget {
        ConformTarget::Server {
            addr: self.addr.to_string(),
            control: Some(self.control.to_string()),
        }
    }
}

async fn control_connection(
    s: TcpStream,
    feed: Arc<Mutex<Feed>>,
    changed: Arc<watch::Sender<u64>>,
) {
    let (rd, mut wr) = s.into_split();
    let mut lines = BufReader::new(rd.take(64 * 1024)).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let reply = {
            let mut f = feed.lock().unwrap();
            let line = line.trim_end_matches('\r');
            if let Some(text) = line.strip_prefix("publish classified ") {
                f.ads.push(text.to_string());
                "OK"
            } else if let Some(rest) = line.strip_prefix("publish random") {
                match rest.trim() {
                    "" => f.random = f.random * 31 % 1_000_000_007 + 1,
                    n => match n.parse() {
                        Ok(n) => f.random = n,
                        Err(_) => {
                            drop(f);
                            let _ = wr.write_all(b"ERR not a number\r\n").await;
                            continue;
                        }
                    },
                }
                f.random_seq += 1;
                "OK"
            } else {
                "ERR unknown control command"
            }
        };
        changed.send_modify(|v| *v += 1);
        if wr
            .write_all(format!("{reply}\r\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// One connection's state: what it has read, and its notification session.
///
/// Where the seed leaves the behaviour open this server reads it otherwise than the reference
/// server's defaults (docs/protocol.md, 8.1): the number current at connect is news until
/// fetched, `classified?` hands out the newest unread ad first and, with nothing unread, the
/// newest ad again; one `notif: classified` stands for every unread ad; `random?` draws a new
/// number each time.
struct Conn {
    /// Ads from this index on were published since connect (or are the newest at connect).
    first_ad: usize,
    /// Indices of those ads already read.
    read: BTreeSet<usize>,
    /// The random version (sequence number + 1) this client last fetched; 0: none yet.
    seen_random: u64,
    /// Numbers drawn for `random?` so far.
    draws: u64,
    in_mode: bool,
    outstanding: bool,
    /// Unread ads below this index were announced in this session.
    announced_ad: usize,
    /// The random version announced in this session.
    announced_random: u64,
    /// Flaw `NotifyAfterStop`: the session was stopped but notifications go on.
    zombie: bool,
}

impl Conn {
    /// A new connection: the most recent ad is unread, and so is the current number.
    fn at_connect(feed: &Mutex<Feed>) -> Conn {
        let f = feed.lock().unwrap();
        Conn {
            first_ad: f.ads.len().saturating_sub(1),
            read: BTreeSet::new(),
            seen_random: 0,
            draws: 0,
            in_mode: false,
            outstanding: false,
            announced_ad: 0,
            announced_random: 0,
            zombie: false,
        }
    }

    fn handle(&mut self, line: &[u8], feed: &Mutex<Feed>, flaw: Flaw) -> Option<String> {
        if flaw == Flaw::Mute {
            return None;
        }
        let Ok(line) = std::str::from_utf8(line) else {
            return Some("ERR line is not UTF-8".into());
        };
        let f = feed.lock().unwrap();
        let err = |why: &str| Some(format!("ERR {why}"));
        match line {
            "random?" | "classified?" | "_notif_" if self.in_mode => {
                err("not in notification mode")
            }
            "random?" => {
                self.seen_random = f.random_seq + 1;
                self.draws += 1;
                if flaw == Flaw::TextForRandom {
                    Some("seven".into())
                } else {
                    Some((f.random.wrapping_mul(6364136223846793005) ^ self.draws).to_string())
                }
            }
            "classified?" => match self.newest_unread(&f) {
                Some(i) => {
                    self.read.insert(i);
                    Some(f.ads[i].clone())
                }
                None => f.ads.last().cloned(),
            },
            "_notif_" => {
                self.in_mode = true;
                self.zombie = false;
                self.outstanding = false;
                self.announced_ad = 0;
                self.announced_random = self.seen_random;
                Some("will send notifs".into())
            }
            "stop_notif" if self.in_mode => {
                self.in_mode = false;
                self.outstanding = false;
                self.zombie = flaw == Flaw::NotifyAfterStop;
                Some("OK".into())
            }
            "OK" if self.in_mode && self.outstanding => {
                self.outstanding = false;
                None
            }
            "stop_notif" | "OK" => err("out of state"),
            _ => err("unknown command"),
        }
    }

    fn newest_unread(&self, f: &Feed) -> Option<usize> {
        (self.first_ad..f.ads.len())
            .rev()
            .find(|i| !self.read.contains(i))
    }

    fn notification(&mut self, feed: &Mutex<Feed>, flaw: Flaw) -> Option<&'static str> {
        let windowed = flaw != Flaw::NoWindow && !self.zombie;
        if !(self.in_mode || self.zombie) || (windowed && self.outstanding) {
            return None;
        }
        let f = feed.lock().unwrap();
        let note = if self
            .newest_unread(&f)
            .is_some_and(|i| i >= self.announced_ad)
        {
            self.announced_ad = f.ads.len();
            "notif: classified"
        } else if f.random_seq + 1 > self.announced_random.max(self.seen_random) {
            self.announced_random = f.random_seq + 1;
            "notif: random"
        } else {
            return None;
        };
        self.outstanding = true;
        Some(note)
    }
}

async fn connection(
    s: TcpStream,
    mut conn: Conn,
    feed: Arc<Mutex<Feed>>,
    mut changed: watch::Receiver<u64>,
    flaw: Flaw,
) {
    let eol: &[u8] = if flaw == Flaw::LfEndings {
        b"\n"
    } else {
        b"\r\n"
    };
    let (mut rd, mut wr) = s.into_split();
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        let mut out: Vec<u8> = Vec::new();
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = buf.drain(..=nl).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.len() > 1024 {
                let _ = wr.write_all(b"ERR line too long\r\n").await;
                return;
            }
            if let Some(reply) = conn.handle(&line, &feed, flaw) {
                out.extend_from_slice(reply.as_bytes());
                out.extend_from_slice(eol);
            }
        }
        if buf.len() > 1025 {
            let _ = wr.write_all(b"ERR line too long\r\n").await;
            return;
        }
        while let Some(note) = conn.notification(&feed, flaw) {
            out.extend_from_slice(note.as_bytes());
            out.extend_from_slice(eol);
        }
        if !out.is_empty() && wr.write_all(&out).await.is_err() {
            return;
        }
        tokio::select! {
            n = rd.read(&mut chunk) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            },
            r = changed.changed() => if r.is_err() { return },
        }
    }
}

fn options(target: ConformTarget, tags: Option<&str>, timeout_ms: u64) -> Options {
    let mut o = Options::new(target);
    o.tags = tags.map(|t| t.parse().unwrap());
    o.timeout = Duration::from_millis(timeout_ms);
    o
}

async fn run(o: &Options) -> RunReport {
    let suite = Arc::new(Suite::embedded().unwrap());
    conform::run(suite, o).await.unwrap()
}

fn failed_rules(r: &RunReport) -> BTreeSet<RuleId> {
    r.scenarios
        .iter()
        .filter(|s| s.outcome.is_failure())
        .flat_map(|s| s.failed_rules())
        .collect()
}

/// Runs the scenarios selected by `tags` against `target` and checks the suite fails it,
/// among others for `rule`.
async fn assert_fails(target: ConformTarget, tags: &str, rule: RuleId) -> RunReport {
    let report = run(&options(target, Some(tags), 1000)).await;
    let text = conform::render::text(&report);
    assert_eq!(report.status(), Status::Fail, "{text}");
    let failed = failed_rules(&report);
    assert!(
        failed.contains(&rule),
        "should fail {rule}, failed {failed:?}\n{text}"
    );
    report
}

/// Runs the scenarios tagged `tag` that need a server against a server with `flaw`.
async fn assert_flaw_caught(flaw: Flaw, tag: &str, rule: RuleId) -> RunReport {
    let server = MiniServer::start(flaw).await;
    assert_fails(server.target(), &format!("{tag} and not @offline"), rule).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_correct_server_passes_every_server_scenario() {
    let server = MiniServer::start(Flaw::None).await;
    // A generous bound: a passing run never waits for it, and other tests load the machine.
    let report = run(&options(server.target(), None, 3000)).await;
    let text = conform::render::text(&report);
    assert_eq!(report.status(), Status::Pass, "{text}");
    let t = report.totals();
    assert_eq!(t.failed, 0, "{text}");
    assert!(t.passed >= 40, "{text}");
    // Client scenarios do not apply to a server, and say so.
    assert!(
        text.contains("client scenario; the target is a server"),
        "{text}"
    );
    assert!(text.lines().last().unwrap().ends_with("skipped"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_control_port_publishing_scenarios_are_skipped_and_said_so() {
    let server = MiniServer::start(Flaw::None).await;
    let target = ConformTarget::Server {
        addr: server.addr.to_string(),
        control: None,
    };
    let report = run(&options(target, Some("not @offline"), 3000)).await;
    let text = conform::render::text(&report);
    assert_eq!(report.status(), Status::Pass, "{text}");
    assert!(
        text.contains("needs a control port to publish items (--control ADDR)"),
        "{text}"
    );
    assert!(
        text.contains("not exercised: S-LIVENESS (needs a control port"),
        "{text}"
    );
    let rows = report.per_rule();
    assert!(rows[&RuleId::SRandomInt].passed > 0, "{text}");
    assert!(!rows[&RuleId::SNoDup].exercised(), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_the_window_fails_s_notif_window() {
    let report = assert_flaw_caught(Flaw::NoWindow, "@S-NOTIF-WINDOW", RuleId::SNotifWindow).await;
    // The peers' checkers judge every line too, and name the rule with their own words.
    let text = conform::render::text(&report);
    assert!(text.contains("checker: "), "{text}");
    // The conversation interleaves the peers' lines with what was published, in order.
    // Each line carries its time since the first one.
    let lines: Vec<&str> = text.lines().collect();
    let publish = lines
        .iter()
        .position(|l| l.ends_with("s ! publish classified First flat"))
        .unwrap_or_else(|| panic!("{text}"));
    let next = lines[publish + 1].trim_start();
    assert!(next.starts_with('+'), "{text}");
    assert!(next.ends_with("s client A S: notif: classified"), "{text}");
    // The HTML report draws the conversation with the offending notification in red.
    let html = notifspec::html::build::conform(&report, &notifspec::Dialect::default()).render();
    assert!(
        html.contains("<g class=\"arrow bad\" data-rule=\"S-NOTIF-WINDOW\">"),
        "{html}"
    );
    assert!(html.contains("<tr class=\"bad\" id=\"rule-S-NOTIF-WINDOW\">"));
    assert!(html.contains("! publish classified First flat"));
    // `NOTIFSPEC_SAVE_HTML=FILE` keeps it (how docs/report.png was made).
    if let Ok(path) = std::env::var("NOTIFSPEC_SAVE_HTML") {
        std::fs::write(path, &html).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_answering_random_with_text_fails_s_random_int() {
    let report = assert_flaw_caught(Flaw::TextForRandom, "@S-RANDOM-INT", RuleId::SRandomInt).await;
    let text = conform::render::text(&report);
    assert!(text.contains("+ got:      seven"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_notifying_after_the_stop_ok_fails_s_no_notif_after_ok() {
    assert_flaw_caught(
        Flaw::NotifyAfterStop,
        "@S-NO-NOTIF-AFTER-OK",
        RuleId::SNoNotifAfterOk,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_lf_endings_fails_s_framing() {
    assert_flaw_caught(Flaw::LfEndings, "@S-FRAMING", RuleId::SFraming).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mute_server_fails_with_the_step_and_deadline_named() {
    let server = MiniServer::start(Flaw::Mute).await;
    let o = options(
        server.target(),
        Some("@S-RANDOM-INT and not @control and not @offline"),
        300,
    );
    let report = run(&o).await;
    assert_eq!(report.status(), Status::Fail);
    let scenario = report
        .scenarios
        .iter()
        .find(|s| s.name == "random? is answered by one decimal integer")
        .unwrap();
    let Outcome::Failed { step, failure, .. } = &scenario.outcome else {
        panic!("{:?}", scenario.outcome);
    };
    assert!(step.contains("Then client A receives an integer"), "{step}");
    assert!(
        failure.message.contains("waited 300 ms"),
        "{}",
        failure.message
    );
    assert!(failure.message.contains("deadline"), "{}", failure.message);
    // The rule requiring the missing reply: one reply line per request.
    assert_eq!(failure.rule, Some(RuleId::SReplyOne));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_an_error_not_a_failure() {
    let free = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let o = options(
        ConformTarget::Server {
            addr: free.to_string(),
            control: None,
        },
        None,
        300,
    );
    let err = conform::run(Arc::new(Suite::embedded().unwrap()), &o)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&free.to_string()), "{err}");
}

#[test]
fn the_command_exits_2_on_bad_arguments_or_an_unreachable_target() {
    let args = |server: Option<&str>, tags: Option<&str>| notifspec::cmd::conform::Args {
        server: server.map(str::to_string),
        control: None,
        publish_cmd: None,
        spontaneous_wait: Duration::from_secs(1),
        client_cmd: None,
        dialect: "seed-session".into(),
        tags: tags.map(str::to_string),
        junit: None,
        format: notifspec::cmd::OutputFormat::Text,
        timeout: Duration::from_millis(200),
        expect_fail: None,
        features: None,
        transcripts: None,
        only_own: false,
        html: Default::default(),
        choice: Default::default(),
    };
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("report.xml");
    let mut unreachable = args(Some(&free.to_string()), None);
    unreachable.junit = Some(junit.clone());
    assert_eq!(notifspec::cmd::conform::run(unreachable), Status::Error);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<error message=") && xml.contains("type=\"unreachable\">"),
        "{xml}"
    );
    assert!(xml.contains(&free.to_string()), "{xml}");
    assert_eq!(
        notifspec::cmd::conform::run(args(None, Some("@a and and"))),
        Status::Error
    );
    let mut bad = args(None, None);
    bad.expect_fail = Some("S-NOPE".into());
    assert_eq!(notifspec::cmd::conform::run(bad), Status::Error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_failures_pass_the_gate_and_a_fixed_rule_is_reported_loudly() {
    let broken = MiniServer::start(Flaw::NoWindow).await;
    let mut o = options(
        broken.target(),
        Some("@S-NOTIF-WINDOW and not @offline"),
        1000,
    );
    o.expect_fail = ExpectFail::parse("S-NOTIF-WINDOW").unwrap();
    let report = run(&o).await;
    let text = conform::render::text(&report);
    assert_eq!(report.status(), Status::Pass, "{text}");
    assert!(report.totals().expected_failures > 0, "{text}");
    assert!(text.contains("Expected failures"), "{text}");

    let fixed = MiniServer::start(Flaw::None).await;
    let mut o = options(fixed.target(), Some("@S-RANDOM-INT and not @offline"), 1000);
    o.expect_fail = ExpectFail::parse("S-RANDOM-INT").unwrap();
    let report = run(&o).await;
    let text = conform::render::text(&report);
    assert_eq!(report.status(), Status::Pass, "{text}");
    assert!(report.totals().unexpected_passes > 0, "{text}");
    assert!(text.contains("NOW PASSING"), "{text}");

    // Offline scenarios judge the shipped negative transcripts, not the target: a known
    // failure of the target never turns them into "NOW PASSING" noise.
    let mut o = options(fixed.target(), Some("@S-RANDOM-INT and @offline"), 1000);
    o.expect_fail = ExpectFail::parse("S-RANDOM-INT").unwrap();
    let report = run(&o).await;
    let text = conform::render::text(&report);
    assert!(report.totals().offline_passed > 0, "{text}");
    assert_eq!(report.totals().unexpected_passes, 0, "{text}");
    assert!(!text.contains("NOW PASSING"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junit_of_a_failing_run_has_the_rule_and_the_diff() {
    let report = assert_flaw_caught(Flaw::TextForRandom, "@S-RANDOM-INT", RuleId::SRandomInt).await;
    let xml = conform::junit::junit(&report);
    assert!(xml.contains("type=\"S-RANDOM-INT\""), "{xml}");
    assert!(xml.contains("+ got:      seven"), "{xml}");
    assert!(xml.contains("classname=\"Requests and replies\""), "{xml}");
    let json: serde_json::Value = serde_json::from_str(&conform::render::json(&report)).unwrap();
    assert!(
        json["rules"]["S-RANDOM-INT"]["failed"].as_u64().unwrap() > 0,
        "{json}"
    );
}

/// A client written here: what it does after entering the mode is `on_notification`.
async fn mini_client(addr: SocketAddr, pipelined: bool, answers: usize) {
    let Ok(s) = TcpStream::connect(addr).await else {
        return;
    };
    let (rd, mut wr) = s.into_split();
    let mut lines = BufReader::new(rd.take(1 << 20)).lines();
    if pipelined {
        let _ = wr.write_all(b"random?\r\nclassified?\r\n").await;
        let _ = lines.next_line().await;
        let _ = lines.next_line().await;
    } else {
        for req in ["random?\r\n", "classified?\r\n"] {
            let _ = wr.write_all(req.as_bytes()).await;
            let _ = lines.next_line().await;
        }
    }
    let _ = wr.write_all(b"_notif_\r\n").await;
    while let Ok(Some(line)) = lines.next_line().await {
        if line.starts_with("notif: ") {
            for _ in 0..answers {
                let _ = wr.write_all(b"OK\r\n").await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_answering_twice_fails_c_ack_only_notif() {
    let client = ClientFn::new(|addr| mini_client(addr, false, 2));
    assert_fails(
        ConformTarget::ClientFn(client),
        "@C-ACK",
        RuleId::CAckOnlyNotif,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelining_client_fails_c_one_at_a_time() {
    let client = ClientFn::new(|addr| mini_client(addr, true, 1));
    let tags = "@C-ONE-AT-A-TIME";
    assert_fails(ConformTarget::ClientFn(client), tags, RuleId::COneAtATime).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_client_passes_and_server_scenarios_are_skipped() {
    let client = ClientFn::new(|addr| mini_client(addr, false, 1));
    let report = run(&options(ConformTarget::ClientFn(client), None, 3000)).await;
    let text = conform::render::text(&report);
    assert_eq!(report.status(), Status::Pass, "{text}");
    assert!(
        text.contains("server scenario; the target is a client"),
        "{text}"
    );
    // It always answers OK, so it never sends a stop for a notification to cross.
    assert!(text.contains("inconclusive"), "{text}");
}

/// Runs the `notifspec` binary with `args`, bounded in time.
async fn notifspec(args: &[&str]) -> std::process::Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_notifspec"))
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("notifspec conform finished")
        .expect("notifspec ran")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_is_a_ci_gate_with_junit_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("report.xml");
    let tags = "@S-RANDOM-INT and not @offline";
    let broken = MiniServer::start(Flaw::TextForRandom).await;
    let (addr, control) = (broken.addr.to_string(), broken.control.to_string());
    let out = notifspec(&[
        "conform",
        "--server",
        &addr,
        "--control",
        &control,
        "--tags",
        tags,
        "--timeout",
        "1s",
        "--junit",
        junit.to_str().unwrap(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let summary = stdout.lines().last().unwrap();
    assert!(
        summary.contains(" passed, ") && !summary.contains(" 0 failed"),
        "{summary}"
    );
    // Not a terminal: no progress and no logs, nothing but results.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("type=\"S-RANDOM-INT\""), "{xml}");

    let fixed = MiniServer::start(Flaw::None).await;
    let (addr, control) = (fixed.addr.to_string(), fixed.control.to_string());
    let out = notifspec(&[
        "conform",
        "--server",
        &addr,
        "--control",
        &control,
        "--tags",
        tags,
        "--format",
        "json",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["totals"]["failed"], 0, "{json}");
    assert_eq!(json["rules"]["S-RANDOM-INT"]["exercised"], true, "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_tests_a_client_given_as_a_command() {
    // The reference client's own command line stands in for a user's client program.
    let cmd = format!(
        "'{}' client --server {{addr}} --interest classified --timeout 2s",
        env!("CARGO_BIN_EXE_notifspec")
    );
    let out = notifspec(&["conform", "--client-cmd", &cmd, "--timeout", "3s"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("server scenario; the target is a client"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Coverage: 7 of 22 rules exercised by scenarios that talked"),
        "{stdout}"
    );

    let out = notifspec(&["conform", "--client-cmd", "true"]).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "a command without {{addr}} is refused"
    );

    // A client that never connects cannot be driven: errors, not failures, and exit 2.
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("client.xml");
    let out = notifspec(&[
        "conform",
        "--client-cmd",
        "true {addr}",
        "--timeout",
        "200ms",
        "--junit",
        junit.to_str().unwrap(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<error message=\"client under test"), "{xml}");
    assert!(xml.contains("type=\"error\">"), "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");
}

/// Like h2spec's, the suite's own peers write and read hand-made lines: notifspec's framing
/// and reference peers stay off that path, so a bug in them cannot hide a bug under test.
#[test]
fn the_suite_peers_do_not_use_the_framing_or_the_reference_peers() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/conform");
    let files = [
        "peer.rs",
        "world.rs",
        "scripted.rs",
        "target.rs",
        "steps/mod.rs",
        "steps/requests.rs",
        "steps/mode.rs",
        "steps/errors.rs",
        "steps/client.rs",
    ];
    for f in files {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        for bad in ["crate::wire", "crate::proto", "crate::net"] {
            assert!(!text.contains(bad), "src/conform/{f} uses `{bad}`");
        }
    }
}
