//! `conform` against servers without a control port: items made to appear by a publish
//! command (`--publish-cmd`), or published by the server on its own (spontaneous mode).
//! Every server here is started separately from the run, with its control port off, on
//! loopback; waits are small real bounds.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notifspec::RuleId;
use notifspec::conform::items::{ItemSource, PublishCmd, Spontaneous};
use notifspec::conform::{self, ConformTarget, Options, Outcome, RunReport, ScenarioReport, Suite};
use notifspec::net::ServerBuilder;
use notifspec::net::server::{PublishSchedule, ServerHandle};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A reference server with no control port, publishing on its own every `every` (or never).
async fn server_without_control(every: Option<Duration>) -> ServerHandle {
    let mut b = ServerBuilder::new().addr(SocketAddr::from(([127, 0, 0, 1], 0)));
    if let Some(d) = every {
        b = b.publish_schedule(PublishSchedule {
            random: Some(d),
            classified: Some(d),
        });
    }
    let server = b.start().await.expect("the reference server starts");
    assert!(server.control_addr().is_none());
    server
}

fn target(server: &ServerHandle) -> ConformTarget {
    ConformTarget::Server {
        addr: server.local_addr().expect("listening").to_string(),
        control: None,
    }
}

async fn run(o: &Options) -> RunReport {
    let suite = Arc::new(Suite::embedded().expect("the suite loads"));
    conform::run(suite, o)
        .await
        .expect("the server is reachable")
}

/// Server scenarios of the features (not transcripts, not client ones) that apply to the
/// dialect.
fn applicable(r: &RunReport) -> Vec<&ScenarioReport> {
    r.scenarios
        .iter()
        .filter(|s| s.file != "features/transcripts.feature" && s.file != "features/client.feature")
        .filter(|s| {
            !matches!(&s.outcome, Outcome::Skipped { reason } if reason.contains("written for dialect"))
        })
        .collect()
}

fn ran(r: &RunReport) -> usize {
    applicable(r)
        .iter()
        .filter(|s| !matches!(s.outcome, Outcome::Skipped { .. }))
        .count()
}

fn not_green(r: &RunReport) -> Vec<String> {
    r.scenarios
        .iter()
        .filter(|s| !matches!(s.outcome, Outcome::Passed | Outcome::Skipped { .. }))
        .map(|s| format!("{} ({}:{}): {:?}", s.name, s.file, s.line, s.outcome))
        .collect()
}

fn skip_reason<'a>(r: &'a RunReport, name: &str) -> &'a str {
    let s = r
        .scenarios
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario `{name}`"));
    match &s.outcome {
        Outcome::Skipped { reason } => reason,
        other => panic!("`{name}` was not skipped: {other:?}"),
    }
}

/// A publish "admin API" for the reference server: the publish command writes the kind and
/// text into a FIFO and waits on a second FIFO until the item is published, so its exit
/// status 0 means what it must mean (published), with no polling on either side.
struct FifoPublisher {
    dir: PathBuf,
    _temp: tempfile::TempDir,
}

impl FifoPublisher {
    fn start(server: Arc<ServerHandle>) -> FifoPublisher {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        assert!(
            !dir.display().to_string().contains(['\'', ' ', '(']),
            "the publish command quotes nothing: {}",
            dir.display()
        );
        for fifo in ["req", "ack"] {
            let ok = std::process::Command::new("mkfifo")
                .arg(dir.join(fifo))
                .status()
                .unwrap();
            assert!(ok.success(), "mkfifo");
        }
        let (req, ack) = (dir.join("req"), dir.join("ack"));
        // A plain thread: opening a FIFO blocks until the other end opens it.
        std::thread::spawn(move || {
            loop {
                let Ok(f) = std::fs::File::open(&req) else {
                    return;
                };
                let lines: Vec<String> = std::io::BufReader::new(f)
                    .lines()
                    .map_while(Result::ok)
                    .collect();
                let reply = match lines.first().map(String::as_str) {
                    Some("random") => match lines.get(1).and_then(|t| t.parse().ok()) {
                        Some(n) => server.publish_random(Some(n)),
                        None => server.publish_random(None),
                    }
                    .to_string(),
                    Some("classified") => {
                        let text = lines.get(1).cloned().unwrap_or_default();
                        match server.publish_classified(text) {
                            Ok(()) => "ok".into(),
                            Err(e) => e.to_string(),
                        }
                    }
                    Some("quit") => return,
                    other => format!("bad request {other:?}"),
                };
                if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&ack) {
                    let _ = writeln!(f, "{reply}");
                }
            }
        });
        FifoPublisher { dir, _temp: temp }
    }

    fn command(&self) -> String {
        let d = self.dir.display();
        format!("printf '%s\\n%s\\n' {{kind}} {{text}} > {d}/req && read -r reply < {d}/ack")
    }
}

impl Drop for FifoPublisher {
    fn drop(&mut self) {
        // Opening a FIFO blocks until its reader opens it: tell the thread to stop from a
        // detached thread, so a reader stuck elsewhere can never hang the test.
        let req = self.dir.join("req");
        std::thread::spawn(move || {
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(req) {
                let _ = writeln!(f, "quit");
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_command_drives_a_server_without_a_control_port() {
    let server = Arc::new(server_without_control(None).await);
    let publisher = FifoPublisher::start(server.clone());
    let mut o = Options::new(target(&server));
    o.items = ItemSource::Command(PublishCmd::new(&publisher.command()).unwrap());
    o.tags = Some("@control".parse().unwrap());
    o.timeout = Duration::from_secs(2);
    let r = run(&o).await;
    assert!(not_green(&r).is_empty(), "{:#?}", not_green(&r));
    let control = applicable(&r).len();
    assert!(control >= 15, "only {control} @control scenarios selected");
    assert_eq!(ran(&r), control, "every @control scenario runs: {r:#?}");
    assert!(
        r.target.contains("items published by `printf"),
        "{}",
        r.target
    );
}

/// Transcripts that publish (`! publish`) or expect notifications replay against a server
/// without a control port when the run has a publish command, and are skipped, saying what
/// would make them run, when it has none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcript_replays_publish_through_the_publish_command() {
    let root = env!("CARGO_MANIFEST_DIR");
    let feature = std::fs::read_to_string(format!("{root}/features/transcripts.feature")).unwrap();
    let paths = [
        "transcripts/notif/notif-then-stop.txt",
        "transcripts/notif/two-kinds.txt",
        "transcripts/publish/published-before-mode.txt",
    ];
    let texts: Vec<(&str, String)> = paths
        .iter()
        .map(|p| (*p, std::fs::read_to_string(format!("{root}/{p}")).unwrap()))
        .collect();
    let files: Vec<(&str, &str)> = texts.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let suite = Arc::new(
        Suite::from_sources(
            &[("features/transcripts.feature", feature.as_str())],
            &files,
        )
        .unwrap(),
    );
    let server = Arc::new(server_without_control(None).await);
    let publisher = FifoPublisher::start(server.clone());
    let replays = |r: &RunReport| -> Vec<(String, Outcome)> {
        r.scenarios
            .iter()
            .filter(|s| s.name.ends_with("replays against the server"))
            .map(|s| (s.name.clone(), s.outcome.clone()))
            .collect()
    };

    let mut o = Options::new(target(&server));
    o.items = ItemSource::Command(PublishCmd::new(&publisher.command()).unwrap());
    o.timeout = Duration::from_secs(2);
    let r = conform::run(suite.clone(), &o).await.unwrap();
    let with_cmd = replays(&r);
    assert_eq!(with_cmd.len(), paths.len(), "{r:#?}");
    for (name, outcome) in &with_cmd {
        assert_eq!(outcome, &Outcome::Passed, "{name}");
    }

    o.items = ItemSource::ControlPort;
    let r = conform::run(suite, &o).await.unwrap();
    for (name, outcome) in replays(&r) {
        let Outcome::Skipped { reason } = &outcome else {
            panic!("{name}: {outcome:?}");
        };
        assert!(
            reason.contains("needs a control port or --publish-cmd"),
            "{reason}"
        );
    }
}

fn command_source(cmd: &str) -> ItemSource {
    ItemSource::Command(PublishCmd::new(cmd).unwrap())
}

#[tokio::test]
async fn a_failing_publish_command_is_an_error_with_its_stderr_escaped() {
    let server = server_without_control(None).await;
    let mut o = Options::new(target(&server));
    o.items = command_source("printf 'no admin API for %s\\033[31m\\n' {kind} >&2; exit 3");
    o.tags = Some("@control and @S-PROMISE".parse().unwrap());
    let r = run(&o).await;
    let Outcome::Errored { message, .. } = &r.scenarios[0].outcome else {
        panic!("{:?}", r.scenarios[0].outcome);
    };
    assert!(message.contains("exited with exit status: 3"), "{message}");
    assert!(
        message.contains("stderr: no admin API for classified\\u{1b}[31m"),
        "{message}"
    );
    assert_eq!(r.status(), notifspec::cmd::Status::Error);
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_publish_command_that_hangs_is_killed_with_its_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("bg.pid");
    let cmd = PublishCmd::new(&format!(
        "sleep 30 & echo $! > {}; echo {{kind}} >&2; wait",
        pid_file.display()
    ))
    .unwrap();
    let item = notifspec::conform::steps::Item::Random(None);
    let err = cmd
        .publish(&item, Duration::from_millis(300))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("did not finish within 300 ms and was killed"),
        "{err}"
    );
    assert!(err.contains("stderr: random"), "{err}");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let pid = pid.trim();
    assert!(!pid.is_empty());
    // The background `sleep` was in the command's process group: SIGKILLed, it goes (a
    // bounded wait for the kernel to end it, as the other process tests do).
    let pid: u32 = pid.parse().unwrap();
    let mut gone = false;
    for _ in 0..300 {
        if !notifspec::process::is_running(pid) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        gone,
        "the background process {pid} outlived the publish command"
    );
}

fn spontaneous(o: &mut Options, wait: Duration) {
    o.items = ItemSource::Spontaneous(Spontaneous::new(wait));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spontaneous_mode_runs_most_scenarios_against_a_server_publishing_on_its_own() {
    let server = server_without_control(Some(Duration::from_millis(100))).await;
    let mut o = Options::new(target(&server));
    spontaneous(&mut o, Duration::from_secs(2));
    o.timeout = Duration::from_secs(1);
    let r = run(&o).await;
    assert!(not_green(&r).is_empty(), "{:#?}", not_green(&r));
    let (ran, all) = (ran(&r), applicable(&r).len());
    assert!(
        ran * 10 >= all * 7,
        "only {ran} of {all} applicable scenarios ran: {r:#?}"
    );
    assert!(r.target.contains("spontaneous mode"), "{}", r.target);
    // What cannot be concluded is skipped and says why, never passed.
    assert!(
        skip_reason(&r, "random? after a publish is answered by one integer")
            .contains("the server's own numbers cannot be chosen")
    );
    assert!(
        skip_reason(&r, "an item is announced once per session")
            .contains("S-NO-DUP needs to know every publish")
    );
}

#[tokio::test]
async fn spontaneous_mode_says_once_that_no_item_came_and_skips_the_rest_at_once() {
    let server = server_without_control(None).await;
    let mut o = Options::new(target(&server));
    spontaneous(&mut o, Duration::from_millis(300));
    o.tags = Some("@control".parse().unwrap());
    let r = run(&o).await;
    let reasons: Vec<&str> = r
        .scenarios
        .iter()
        .filter_map(|s| match &s.outcome {
            Outcome::Skipped { reason } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), r.scenarios.len(), "{r:#?}");
    let said = reasons
        .iter()
        .filter(|r| r.contains("no item appeared within 300 ms"))
        .count();
    assert_eq!(said, 1, "{reasons:#?}");
    // Every other one is skipped before any wait: "skipped at once" is only said without
    // waiting, and the static reasons of the spontaneous mode need no wait either.
    let at_once = reasons
        .iter()
        .filter(|r| r.starts_with("skipped at once"))
        .count();
    let static_ = reasons
        .iter()
        .filter(|r| r.starts_with("spontaneous mode:"))
        .count();
    assert!(at_once >= 10, "{reasons:#?}");
    assert_eq!(said + at_once + static_, reasons.len(), "{reasons:#?}");
}

/// A server that publishes a random number every 50 ms on its own and notifies clients in
/// the mode without waiting for their answers (no window), and, with `after_stop`, goes on
/// notifying after the stop's OK.
async fn flawed_spontaneous_server(after_stop: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let mut tick = tokio::time::interval(Duration::from_millis(50));
                let (mut mode, mut stopped, mut n) = (false, false, 7u64);
                loop {
                    let out = tokio::select! {
                        line = lines.next_line() => match line {
                            Ok(Some(l)) => match l.as_str() {
                                "random?" => format!("{n}\r\n"),
                                "classified?" => "\r\n".into(),
                                "_notif_" => { mode = true; "will send notifs\r\n".into() }
                                "stop_notif" if mode => { mode = false; stopped = true; "OK\r\n".into() }
                                "OK" if mode => continue,
                                _ => "ERR unknown\r\n".into(),
                            },
                            _ => return,
                        },
                        _ = tick.tick() => {
                            n += 1;
                            if mode || (after_stop && stopped) {
                                "notif: random\r\n".into()
                            } else {
                                continue;
                            }
                        }
                    };
                    if write.write_all(out.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn failed_rules(r: &RunReport) -> Vec<RuleId> {
    r.scenarios
        .iter()
        .filter_map(|s| match &s.outcome {
            Outcome::Failed { failure, .. } => failure.rule,
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safety_rules_are_judged_on_what_a_server_publishing_on_its_own_sends() {
    for (after_stop, tags, rule) in [
        (false, "@S-NOTIF-WINDOW", RuleId::SNotifWindow),
        (true, "@S-NO-NOTIF-AFTER-OK", RuleId::SNoNotifAfterOk),
    ] {
        let addr = flawed_spontaneous_server(after_stop).await;
        let mut o = Options::new(ConformTarget::Server {
            addr: addr.to_string(),
            control: None,
        });
        spontaneous(&mut o, Duration::from_secs(1));
        o.timeout = Duration::from_millis(500);
        o.tags = Some(tags.parse().unwrap());
        let r = run(&o).await;
        assert!(
            failed_rules(&r).contains(&rule),
            "{rule} not found: {:#?}",
            r.scenarios
        );
    }
}

#[test]
fn the_cli_refuses_a_publish_command_without_kind() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_notifspec"))
        .args([
            "conform",
            "--server",
            "127.0.0.1:9",
            "--publish-cmd",
            "curl http://x/publish",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no `{kind}`"), "{err}");
}
