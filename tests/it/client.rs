//! The reference client (library and CLI) against scripted fake servers that speak raw bytes,
//! so an encoder bug in the crate cannot hide a client bug. In-memory duplex streams under a
//! paused clock; the binary against a loopback fake server, bounded in time.

use std::time::Duration;

use notifspec::ItemKind::{Classified, Random};
use notifspec::cmd::client::{Args, follow};
use notifspec::dialect::{AnswerPolicy, Dialect};
use notifspec::net::client::{Client, ClientError, ClientOptions};
use notifspec::net::{ServerBuilder, ServerHandle};
use notifspec::rule::RuleId;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{
    AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, DuplexStream, ReadBuf,
};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

const TIMEOUT: Duration = Duration::from_secs(5);

/// One step of a fake server's script.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Read exactly these bytes from the client (the test fails on anything else).
    Expect(&'static str),
    /// Write these bytes.
    Say(&'static str),
    /// Wait (virtual time) before the next step.
    Pause(Duration),
    /// Close the connection now.
    Hangup,
}
use Step::{Expect, Say};

/// Plays `script` on the server end, then keeps the connection open until the client
/// drops it; returns everything the client sent. Every read is bounded.
fn fake_server(mut io: DuplexStream, script: Vec<Step>) -> JoinHandle<Vec<u8>> {
    tokio::spawn(async move {
        let mut got = Vec::new();
        for step in script {
            match step {
                Expect(want) => {
                    let mut buf = vec![0; want.len()];
                    timeout(Duration::from_secs(60), io.read_exact(&mut buf))
                        .await
                        .unwrap_or_else(|_| panic!("client never sent {want:?}; sent {got:?}"))
                        .unwrap_or_else(|e| panic!("reading {want:?}: {e}; sent {got:?}"));
                    got.extend_from_slice(&buf);
                    assert_eq!(
                        String::from_utf8_lossy(&buf),
                        want,
                        "client sent something else"
                    );
                }
                Say(text) => io.write_all(text.as_bytes()).await.expect("write"),
                Step::Pause(d) => tokio::time::sleep(d).await,
                Step::Hangup => return got,
            }
        }
        let mut rest = Vec::new();
        let _ = timeout(Duration::from_secs(600), io.read_to_end(&mut rest)).await;
        got.extend_from_slice(&rest);
        got
    })
}

fn opts() -> ClientOptions {
    ClientOptions { timeout: TIMEOUT }
}

fn pair(dialect: &str, script: Vec<Step>) -> (Client<DuplexStream>, JoinHandle<Vec<u8>>) {
    let (c, s) = tokio::io::duplex(4096);
    let dialect = Dialect::builtin(dialect).expect("built-in");
    (Client::new(c, dialect, opts()), fake_server(s, script))
}

fn rule_of(e: ClientError) -> RuleId {
    match e {
        ClientError::Protocol { rule, .. } => rule,
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn seed_example_session_byte_for_byte() {
    let script = vec![
        Expect("random?\r\n"),
        Say("456902234\r\n"),
        Expect("classified?\r\n"),
        Say("Nice appart in the 11e.\r\n"),
        Expect("_notif_\r\n"),
        Say("will send notifs\r\n"),
        Say("notif: classified\r\n"),
        Expect("OK\r\n"),
        Say("notif: random\r\n"),
        Expect("stop_notif\r\n"),
        Say("OK\r\n"),
        Expect("random?\r\n"),
        Say("89765234756\r\n"),
        Expect("_notif_\r\n"),
        Say("will send notifs\r\n"),
        Say("notif: classified\r\n"),
        Expect("OK\r\n"),
    ];
    let (mut client, server) = pair("seed-session", script);
    assert_eq!(client.random().await.unwrap(), "456902234");
    assert_eq!(
        client.classified().await.unwrap().as_deref(),
        Some("Nice appart in the 11e.")
    );
    let mut mode = client.notify().await.unwrap();
    assert_eq!(mode.next().await.unwrap(), Classified);
    mode.ack().await.unwrap();
    assert_eq!(mode.next().await.unwrap(), Random);
    let (mut client, crossed) = mode.stop().await.unwrap();
    assert!(crossed.is_empty());
    assert_eq!(client.random().await.unwrap(), "89765234756");
    let mut mode = client.notify().await.unwrap();
    assert_eq!(mode.next().await.unwrap(), Classified);
    mode.ack().await.unwrap();
    drop(mode);
    let sent = server.await.unwrap();
    assert_eq!(
        String::from_utf8(sent).unwrap(),
        "random?\r\nclassified?\r\n_notif_\r\nOK\r\nstop_notif\r\nrandom?\r\n_notif_\r\nOK\r\n"
    );
}

#[tokio::test(start_paused = true)]
async fn seed_text_dialect_accepts_lf_from_the_server() {
    let script = vec![
        Expect("notif\r\n"),
        Say("notif: OK\n"),
        Say("notif: random\n"),
        Expect("stop_notif\r\n"),
        Say("OK\n"),
        Expect("classified?\r\n"),
        Say("\n"),
    ];
    let (client, server) = pair("seed-text", script);
    let mut mode = client.notify().await.unwrap();
    assert_eq!(mode.next().await.unwrap(), Random);
    let (mut client, crossed) = mode.stop().await.unwrap();
    assert!(crossed.is_empty());
    assert_eq!(
        client.classified().await.unwrap(),
        None,
        "empty line: none unread"
    );
    drop(client);
    server.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn stop_returns_the_notification_that_crossed_it_and_does_not_answer_it() {
    let script = vec![
        Expect("_notif_\r\n"),
        Say("will send notifs\r\n"),
        Expect("stop_notif\r\n"),
        // Sent before the server read the stop: legal, and must not be answered.
        Say("notif: classified\r\n"),
        Say("OK\r\n"),
        Expect("classified?\r\n"),
        Say("Bike, 50 EUR\r\n"),
    ];
    let (client, server) = pair("seed-session", script);
    let mode = client.notify().await.unwrap();
    let (mut client, crossed) = mode.stop().await.unwrap();
    assert_eq!(crossed, vec![Classified]);
    assert_eq!(
        client.classified().await.unwrap().as_deref(),
        Some("Bike, 50 EUR")
    );
    drop(client);
    let sent = server.await.unwrap();
    assert_eq!(sent, b"_notif_\r\nstop_notif\r\nclassified?\r\n");
}

#[tokio::test(start_paused = true)]
async fn silent_server_times_out_promptly_in_every_wait() {
    // random? never answered.
    let (mut client, _server) = pair("seed-session", vec![Expect("random?\r\n")]);
    let t0 = Instant::now();
    let err = client.random().await.unwrap_err();
    assert!(
        matches!(err, ClientError::Timeout { waiting_for: "the random reply", after } if after == TIMEOUT),
        "{err:?}"
    );
    assert_eq!(t0.elapsed(), TIMEOUT);

    // The mode acknowledgement never comes.
    let (client, _server) = pair("seed-session", vec![Expect("_notif_\r\n")]);
    let err = client.notify().await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");

    // In the mode: a bounded wait is normal (None), next() is an error, the OK never comes.
    let script = vec![Expect("_notif_\r\n"), Say("will send notifs\r\n")];
    let (client, _server) = pair("seed-session", script);
    let mut mode = client.notify().await.unwrap();
    let t0 = Instant::now();
    assert_eq!(
        mode.next_timeout(Duration::from_secs(2)).await.unwrap(),
        None
    );
    assert_eq!(t0.elapsed(), Duration::from_secs(2));
    let err = mode.next().await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Timeout {
                waiting_for: "a notification",
                ..
            }
        ),
        "{err:?}"
    );
    let t0 = Instant::now();
    let err = mode.stop().await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
    assert_eq!(t0.elapsed(), TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn server_that_never_reads_makes_the_write_time_out() {
    // A 4-byte pipe nobody drains: `random?\r\n` cannot be written in full.
    let (c, _s) = tokio::io::duplex(4);
    let mut client = Client::new(c, Dialect::default(), opts());
    let t0 = Instant::now();
    let err = client.random().await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Timeout {
                waiting_for: "the server to accept a line",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(t0.elapsed(), TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn a_wait_that_timed_out_does_not_lose_the_late_notification() {
    let script = vec![
        Expect("_notif_\r\n"),
        Say("will send notifs\r\nnotif: ran"),
        Step::Pause(Duration::from_secs(3)),
        Say("dom\r\n"),
        Expect("OK\r\n"),
    ];
    let (client, server) = pair("seed-session", script);
    let mut mode = client.notify().await.unwrap();
    assert_eq!(
        mode.next_timeout(Duration::from_secs(1)).await.unwrap(),
        None
    );
    assert_eq!(mode.next().await.unwrap(), Random);
    mode.ack().await.unwrap();
    drop(mode);
    server.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn server_breaking_the_window_is_reported_with_the_rule() {
    let script = vec![
        Expect("_notif_\r\n"),
        Say("will send notifs\r\nnotif: classified\r\nnotif: random\r\n"),
    ];
    let (client, server) = pair("seed-session", script);
    let mut mode = client.notify().await.unwrap();
    assert_eq!(mode.next().await.unwrap(), Classified);
    let err = mode.ack().await.unwrap_err();
    assert!(err.to_string().contains("notif: random"), "{err}");
    assert_eq!(rule_of(err), RuleId::SNotifWindow);
    drop(mode);
    let sent = server.await.unwrap();
    assert_eq!(
        sent, b"_notif_\r\n",
        "the client did not answer as if all were well"
    );
}

#[tokio::test(start_paused = true)]
async fn server_violations_in_replies_name_the_rule() {
    let cases: [(&[Step], RuleId); 4] = [
        (
            &[Expect("random?\r\n"), Say("forty-two\r\n")],
            RuleId::SRandomInt,
        ),
        (
            &[Expect("_notif_\r\n"), Say("notif: OK\r\n")],
            RuleId::SModeAck,
        ),
        (
            &[
                Expect("_notif_\r\n"),
                Say("will send notifs\r\nnotif: weather\r\n"),
            ],
            RuleId::SNotifKind,
        ),
        (
            &[
                Expect("_notif_\r\n"),
                Say("will send notifs\r\nnotif: classified\r\n"),
                Expect("stop_notif\r\n"),
                Say("OK\r\nnotif: random\r\n"),
            ],
            RuleId::SNoNotifAfterOk,
        ),
    ];
    for (script, want) in cases {
        let (mut client, _server) = pair("seed-session", script.to_vec());
        let err = if want == RuleId::SRandomInt {
            client.random().await.unwrap_err()
        } else {
            match client.notify().await {
                Err(e) => e,
                Ok(mut mode) => match mode.next().await {
                    Err(e) => e,
                    Ok(_) => {
                        let (mut client, _) = mode.stop().await.unwrap();
                        // The notification after the OK surfaces on the next read.
                        client.random().await.unwrap_err()
                    }
                },
            }
        };
        assert_eq!(rule_of(err), want);
    }
}

#[tokio::test(start_paused = true)]
async fn closed_connection_and_refusal_are_typed() {
    // The server hangs up while the client waits in each state.
    let enter: &[Step] = &[Expect("_notif_\r\n"), Say("will send notifs\r\n")];
    for (hang_up_after, waiting) in [
        (&[Expect("random?\r\n")][..], "the random reply"),
        (&[Expect("classified?\r\n")][..], "the classified reply"),
        (&[Expect("_notif_\r\n")][..], "the mode acknowledgement"),
        (enter, "a notification"),
        (
            &[enter, &[Expect("stop_notif\r\n")]].concat()[..],
            "the OK completing stop_notif",
        ),
    ] {
        let mut script = hang_up_after.to_vec();
        script.push(Step::Hangup);
        let (mut client, _server) = pair("seed-session", script);
        let err = match waiting {
            "the random reply" => client.random().await.unwrap_err(),
            "the classified reply" => client.classified().await.unwrap_err(),
            "the mode acknowledgement" => client.notify().await.unwrap_err(),
            "a notification" => client.notify().await.unwrap().next().await.unwrap_err(),
            _ => client.notify().await.unwrap().stop().await.unwrap_err(),
        };
        assert!(
            matches!(err, ClientError::Closed { waiting_for } if waiting_for == waiting),
            "{err:?}"
        );
    }

    let script = vec![Expect("random?\r\n"), Say("ERR too many connections\r\n")];
    let (mut client, _server) = pair("seed-session", script);
    let err = client.random().await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Refused { line } if line == "ERR too many connections"),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn unanswered_dialect_sends_no_ok() {
    let mut d = Dialect::default();
    d.answers.policy = AnswerPolicy::None;
    let (c, s) = tokio::io::duplex(4096);
    let script = vec![
        Expect("_notif_\r\n"),
        Say("will send notifs\r\nnotif: random\r\nnotif: random\r\n"),
        Expect("stop_notif\r\n"),
        Say("notif: classified\r\nOK\r\n"),
    ];
    let server = fake_server(s, script);
    let mut mode = Client::new(c, d, opts()).notify().await.unwrap();
    assert_eq!(mode.next().await.unwrap(), Random);
    mode.ack().await.unwrap();
    assert_eq!(mode.next().await.unwrap(), Random);
    let (client, crossed) = mode.stop().await.unwrap();
    assert_eq!(crossed, vec![Classified]);
    drop(client);
    assert_eq!(server.await.unwrap(), b"_notif_\r\nstop_notif\r\n");
}

fn cli_args(count: u64, keepalive: Option<Duration>) -> Args {
    Args {
        server: "fake".into(),
        dialect: "seed-session".into(),
        interest: vec![Random],
        count: Some(count),
        timeout: TIMEOUT,
        keepalive,
        format: notifspec::cmd::OutputFormat::Text,
    }
}

/// Runs the CLI's logic against a scripted fake server (bounded: 60 s of virtual time);
/// returns its output once the script is played.
async fn run_cli(script: Vec<Step>, args: &Args) -> String {
    let (c, s) = tokio::io::duplex(4096);
    let server = fake_server(s, script);
    let client = Client::new(c, Dialect::default(), opts());
    let mut out = Vec::new();
    let run = follow(client, args, Instant::now(), &mut out);
    let result = timeout(Duration::from_secs(60), run).await;
    let out = String::from_utf8(out).unwrap();
    result
        .unwrap_or_else(|_| panic!("still running after 60s (virtual):\n{out}"))
        .unwrap_or_else(|e| panic!("{e}\n{out}"));
    server.await.unwrap();
    out
}

#[tokio::test(start_paused = true)]
async fn cli_follows_the_seed_usage() {
    let script = vec![
        Expect("random?\r\n"),
        Say("456902234\r\n"),
        Expect("_notif_\r\n"),
        Say("will send notifs\r\n"),
        Step::Pause(Duration::from_millis(1204)),
        Say("notif: classified\r\n"),
        Expect("OK\r\n"),
        Step::Pause(Duration::from_millis(1797)),
        Say("notif: random\r\n"),
        Expect("stop_notif\r\n"),
        Say("OK\r\n"),
        Expect("random?\r\n"),
        Say("89765234756\r\n"),
    ];
    assert_eq!(
        run_cli(script, &cli_args(2, None)).await,
        "+0.000s random: 456902234\n\
         +0.000s notification mode entered\n\
         +1.204s notif: classified (not interested: OK)\n\
         +3.001s notif: random -> stop, fetch\n\
         +3.001s notification mode left\n\
         +3.001s random: 89765234756\n"
    );
}

#[tokio::test(start_paused = true)]
async fn cli_events_as_json_lines() {
    let script = vec![
        Expect("random?\r\n"),
        Say("7\r\n"),
        Expect("_notif_\r\n"),
        Say("will send notifs\r\n"),
        Step::Pause(Duration::from_millis(250)),
        Say("notif: random\r\n"),
        Expect("stop_notif\r\n"),
        Say("OK\r\n"),
        Expect("random?\r\n"),
        Say("8\r\n"),
    ];
    let mut args = cli_args(1, None);
    args.format = notifspec::cmd::OutputFormat::Json;
    let out = run_cli(script, &args).await;
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(
        lines[0],
        serde_json::json!({"at": 0.0, "event": "random: 7"})
    );
    assert_eq!(lines[2]["at"], 0.25);
    assert_eq!(lines[2]["event"], "notif: random -> stop, fetch");
    assert_eq!(lines.last().unwrap()["event"], "random: 8");
}

/// The CLI fetches, enters, and (nothing announced) stops when the keep-alive is due;
/// `after_stop` is what the server then says.
fn until_keepalive_stop(after_stop: &[Step]) -> Vec<Step> {
    let mut script = vec![
        Expect("random?\r\n"),
        Say("1\r\n"),
        Expect("_notif_\r\n"),
        Say("will send notifs\r\n"),
        Expect("stop_notif\r\n"),
    ];
    script.extend_from_slice(after_stop);
    script
}

#[tokio::test(start_paused = true)]
async fn cli_keepalive_reenters_the_mode_before_the_quiet_period() {
    let script = until_keepalive_stop(&[
        Say("OK\r\n"),
        Expect("_notif_\r\n"),
        Say("will send notifs\r\n"),
        Step::Pause(Duration::from_secs(2)),
        Say("notif: classified\r\n"),
        // count reached on a kind not of interest: the stop answers it.
        Expect("stop_notif\r\n"),
        Say("OK\r\n"),
    ]);
    assert_eq!(
        run_cli(script, &cli_args(1, Some(Duration::from_secs(4)))).await,
        "+0.000s random: 1\n\
         +0.000s notification mode entered\n\
         +4.000s keepalive: quiet for 4s, leaving and re-entering the mode\n\
         +4.000s notification mode left\n\
         +4.000s notification mode entered\n\
         +6.000s notif: classified (not interested; count reached: stop)\n\
         +6.000s notification mode left\n"
    );
}

#[tokio::test(start_paused = true)]
async fn cli_counts_a_notification_that_crossed_a_keepalive_stop() {
    let script = until_keepalive_stop(&[
        Say("notif: random\r\nOK\r\n"),
        Expect("random?\r\n"),
        Say("2\r\n"),
    ]);
    let out = run_cli(script, &cli_args(1, Some(Duration::from_secs(4)))).await;
    assert!(
        out.ends_with(
            "+4.000s notif: random (crossed stop_notif, fetch)\n\
             +4.000s notification mode left\n\
             +4.000s random: 2\n"
        ),
        "{out}"
    );
}

/// Runs the binary against a one-connection loopback fake server; bounded in real time.
async fn run_binary(script: Vec<Step>, extra: &[&str]) -> (i32, String, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (mut a, b) = tokio::io::duplex(4096);
        let played = fake_server(b, script);
        let mut tcp = tcp;
        let _ = tokio::io::copy_bidirectional(&mut a, &mut tcp).await;
        played.abort();
    });
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_notifspec"));
    cmd.args(["client", "--server", &addr.to_string(), "--timeout", "3s"])
        .args(extra)
        .kill_on_drop(true);
    let out = timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("the client exits in time")
        .expect("the binary runs");
    server.abort();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The CLI's opening (fetch, enter) and a `notif: random` it stops for; `after_stop` is what
/// the server then says.
fn until_stop_for_random(after_stop: &[Step]) -> Vec<Step> {
    let mut script = vec![
        Expect("random?\r\n"),
        Say("7\r\n"),
        Expect("_notif_\r\n"),
        Say("will send notifs\r\nnotif: random\r\n"),
        Expect("stop_notif\r\n"),
    ];
    script.extend_from_slice(after_stop);
    script
}

#[tokio::test]
async fn binary_counts_notifications_and_exits_zero() {
    let script = until_stop_for_random(&[Say("OK\r\n"), Expect("random?\r\n"), Say("8\r\n")]);
    let (code, stdout, stderr) = run_binary(script, &["--count", "1"]).await;
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("+0.0"), "{stdout}");
    assert!(lines[0].contains("connected to 127.0.0.1:"), "{stdout}");
    assert!(lines[0].ends_with("(dialect seed-session)"), "{stdout}");
    assert!(stdout.contains("s random: 7\n"), "{stdout}");
    assert!(
        stdout.contains("s notif: random -> stop, fetch\n"),
        "{stdout}"
    );
    assert!(stdout.ends_with("s random: 8\n"), "{stdout}");
}

#[tokio::test]
async fn binary_exits_one_on_a_server_violation_and_two_on_trouble() {
    // The stop answers the outstanding notification: nothing may cross it.
    let script = until_stop_for_random(&[Say("notif: classified\r\nOK\r\n")]);
    let (code, stdout, stderr) = run_binary(script, &["--count", "5"]).await;
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("error: server broke S-NOTIF-WINDOW: "),
        "{stderr}"
    );

    // The server closes after the first request.
    let (code, _, stderr) = run_binary(vec![Expect("random?\r\n"), Step::Hangup], &[]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("closed the connection"), "{stderr}");
}

// ---- Against the reference server (in memory under a paused clock, and over loopback) ----

async fn reference(dialect: &str) -> (ServerHandle, Client<Tap<DuplexStream>>) {
    let dialect = Dialect::builtin(dialect).expect("built-in");
    let server = ServerBuilder::new()
        .without_listener()
        .dialect(dialect.clone())
        .seed(7)
        .start()
        .await
        .expect("server starts");
    let stream = Tap {
        inner: server.connect_in_memory().expect("in-memory connection"),
        log: Vec::new(),
    };
    (server, Client::new(stream, dialect, opts()))
}

#[tokio::test(start_paused = true)]
async fn reference_server_seed_usage_in_both_dialects() {
    for dialect in ["seed-session", "seed-text"] {
        let (server, mut client) = reference(dialect).await;
        let first = client.random().await.unwrap();
        assert!(first.bytes().all(|b| b.is_ascii_digit()), "{first}");
        assert!(
            client.classified().await.unwrap().is_some(),
            "the feed's first ad"
        );
        assert_eq!(
            client.classified().await.unwrap(),
            None,
            "nothing else unread"
        );
        let mut mode = client.notify().await.unwrap();
        assert_eq!(
            mode.next_timeout(Duration::from_secs(1)).await.unwrap(),
            None,
            "nothing new yet"
        );
        server
            .publish_classified("Nice appart in the 11e.")
            .unwrap();
        assert_eq!(mode.next().await.unwrap(), Classified);
        mode.ack().await.unwrap();
        server.publish_random(Some(89765234756));
        assert_eq!(mode.next().await.unwrap(), Random);
        let (mut client, crossed) = mode.stop().await.unwrap();
        assert!(crossed.is_empty(), "the stop answered the notification");
        assert_eq!(client.random().await.unwrap(), "89765234756");
        let mut mode = client.notify().await.unwrap();
        assert_eq!(
            mode.next().await.unwrap(),
            Classified,
            "the unread ad is announced again on re-entry"
        );
        let (mut client, _) = mode.stop().await.unwrap();
        assert_eq!(
            client.classified().await.unwrap().as_deref(),
            Some("Nice appart in the 11e.")
        );
        client.get_ref().assert_conforms(dialect);
        drop(client);
        server.shutdown().await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn reference_server_publish_racing_stop_loses_nothing() {
    let (server, mut client) = reference("seed-session").await;
    client.random().await.unwrap();
    client.classified().await.unwrap();
    let mode = client.notify().await.unwrap();
    // Published while stop_notif is in flight: the notification either crosses the stop
    // (reported by stop) or stays available and is announced on re-entry.
    server.publish_random(Some(5));
    let (client, crossed) = mode.stop().await.unwrap();
    let mut mode = client.notify().await.unwrap();
    if crossed != vec![Random] {
        assert_eq!(crossed, vec![]);
        assert_eq!(mode.next().await.unwrap(), Random);
    }
    let (mut client, _) = mode.stop().await.unwrap();
    assert_eq!(client.random().await.unwrap(), "5");
    client.get_ref().assert_conforms("seed-session");
    drop(client);
    server.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn cli_keepalive_outlives_the_server_idle_timeout() {
    let server = ServerBuilder::new()
        .without_listener()
        .idle_timeout(Duration::from_secs(3))
        .start()
        .await
        .unwrap();
    let client = Client::new(
        server.connect_in_memory().unwrap(),
        Dialect::default(),
        opts(),
    );
    let publisher = async {
        // Not a multiple of the keep-alive period: the notification does not cross a stop.
        tokio::time::sleep(Duration::from_secs(11)).await;
        server.publish_random(Some(42));
    };
    let mut out = Vec::new();
    let mut args = cli_args(1, Some(Duration::from_secs(2)));
    // Read the feed's first ad up front, so the only notification is the publish at 10s.
    args.interest = vec![Random, Classified];
    let run = async { tokio::join!(follow(client, &args, Instant::now(), &mut out), publisher).0 };
    let result = timeout(Duration::from_secs(60), run).await;
    let out = String::from_utf8(out).unwrap();
    result
        .unwrap_or_else(|_| panic!("still running after 60s (virtual):\n{out}"))
        .unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(out.contains("+2.000s keepalive"), "{out}");
    assert!(
        out.contains("+11.000s notif: random -> stop, fetch\n"),
        "{out}"
    );
    assert!(out.ends_with("s random: 42\n"), "{out}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn binary_against_the_reference_server_over_loopback() {
    let server = ServerBuilder::new()
        .publish_schedule("random=20ms,classified=30ms".parse().unwrap())
        .start()
        .await
        .unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_notifspec"));
    cmd.args([
        "client",
        "--server",
        &addr,
        "--timeout",
        "5s",
        "--count",
        "3",
    ])
    .args(["--interest", "random,classified"])
    .kill_on_drop(true);
    let out = timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("the client exits in time")
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.lines().filter(|l| l.contains(" notif: ")).count() >= 3,
        "{stdout}"
    );
    assert!(stdout.contains(" random: "), "{stdout}");
    server.shutdown().await.unwrap();
}

/// A stream that records what passes through it, in order, as `C:`/`S:` transcript lines
/// (the client writes, the server's bytes are read), so a test can compare a live
/// conversation with the seed's example line for line.
struct Tap<S> {
    inner: S,
    log: Vec<(char, u8)>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let new: Vec<(char, u8)> = buf.filled()[before..].iter().map(|b| ('S', *b)).collect();
        self.log.extend(new);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = polled {
            self.log.extend(data[..n].iter().map(|b| ('C', *b)));
        }
        polled
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S> Tap<S> {
    /// The recorded lines as `C: line` / `S: line`; every line must end in CRLF.
    fn transcript(&self) -> String {
        let mut out = String::new();
        let mut line = Vec::new();
        let mut current = None;
        for (who, byte) in &self.log {
            if current.is_some_and(|c| c != *who) {
                assert!(line.is_empty(), "{who} interrupted a line: {line:?}");
            }
            current = Some(*who);
            line.push(*byte);
            if *byte == b'\n' {
                let text = String::from_utf8(std::mem::take(&mut line)).unwrap();
                let text = text.strip_suffix("\r\n").expect("CRLF line ending");
                out.push_str(&format!("{who}: {text}\n"));
            }
        }
        assert!(line.is_empty(), "unterminated line {line:?}");
        out
    }

    /// Feeds the recorded conversation to the checker (the oracle, independent of both
    /// peers): the reference client and server together must break no rule.
    fn assert_conforms(&self, dialect: &str) {
        let text = self.transcript();
        let parsed = notifspec::transcript::parse(&text, "tap").expect("recording parses");
        let dialect = Dialect::builtin(dialect).expect("built-in");
        let violations = notifspec::transcript::check_transcript(&parsed, &dialect);
        assert!(violations.is_empty(), "{violations:#?}\n{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn client_and_reference_server_reproduce_the_seed_example_line_for_line() {
    let server = ServerBuilder::new()
        .without_listener()
        .seed(1)
        .start()
        .await
        .unwrap();
    let tap = Tap {
        inner: server.connect_in_memory().unwrap(),
        log: Vec::new(),
    };
    let mut client = Client::new(tap, Dialect::default(), opts());
    let first = client.random().await.unwrap();
    let ad = client.classified().await.unwrap().unwrap();
    let mut mode = client.notify().await.unwrap();
    server.publish_classified("Studio, 30 m2, Lyon 3e").unwrap();
    assert_eq!(mode.next().await.unwrap(), Classified);
    mode.ack().await.unwrap();
    server.publish_random(Some(89765234756));
    assert_eq!(mode.next().await.unwrap(), Random);
    let (mut client, crossed) = mode.stop().await.unwrap();
    assert!(crossed.is_empty());
    assert_eq!(client.random().await.unwrap(), "89765234756");
    let mut mode = client.notify().await.unwrap();
    assert_eq!(
        mode.next().await.unwrap(),
        Classified,
        "still unread: announced again"
    );
    mode.ack().await.unwrap();
    let (client, _) = mode.stop().await.unwrap();
    let recorded = client.get_ref().transcript();
    let expected = format!(
        "C: random?\nS: {first}\nC: classified?\nS: {ad}\nC: _notif_\nS: will send notifs\n\
         S: notif: classified\nC: OK\nS: notif: random\nC: stop_notif\nS: OK\nC: random?\n\
         S: 89765234756\nC: _notif_\nS: will send notifs\nS: notif: classified\nC: OK\n\
         C: stop_notif\nS: OK\n"
    );
    assert_eq!(recorded, expected);
    client.get_ref().assert_conforms("seed-session");
    server.shutdown().await.unwrap();
}
