//! Bad input, case by case (the table in docs/robustness.md names each test here), and the
//! fuzz targets' bodies run as seeded property tests (`fuzz_smoke`), so that `cargo test`
//! keeps them compiling and true between `cargo fuzz` runs.
//!
//! Every server case keeps a healthy *bystander* connection and checks it still answers
//! afterwards: bad input on one connection must go unnoticed by the others.

use std::path::Path;
use std::time::Duration;

use notifspec::net::{ServerBuilder, ServerHandle};
use notifspec::transcript::{self, Transcript};
use notifspec::{Checker, Dialect, Event, Party};
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};
use tokio::net::TcpStream;
use tokio::time::timeout;

use notifspec::net::proxy::{ProxyHandle, ProxyReport};
use tokio::sync::mpsc;

use crate::proxy::{is_closed, reports_until, start_proxy};
use crate::server::{QUIET, Raw, WAIT, in_memory, loose_dialect, start, until_open};

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzz_bodies;

const FIRST_AD: &str = "Nice appart in the 11e.";

/// A client in notification mode that has read the connect-time ad: it gets a notification
/// for every publish, so it notices if the server stalls or the item store is disturbed.
async fn bystander(server: &ServerHandle) -> Raw<DuplexStream> {
    let mut b = in_memory(server).await;
    b.request("classified?", &[FIRST_AD]).await;
    b.request("_notif_", &["will send notifs"]).await;
    b
}

/// The bystander sees a publish at once, answers it, and still conforms.
async fn still_served(b: &mut Raw<DuplexStream>, server: &ServerHandle) {
    server.publish_random(None);
    b.published(notifspec::ItemKind::Random);
    b.expect(&["notif: random"]).await;
    b.send(b"OK\r\n").await;
    b.request("stop_notif", &["OK"]).await;
    b.request("_notif_", &["will send notifs"]).await;
    b.assert_conforms(server.dialect());
}

/// The checker finds nothing wrong with the server's side of a recorded conversation (the
/// client's side is wrong on purpose in these tests).
fn assert_server_conforms<S>(c: &Raw<S>, dialect: &Dialect) {
    let mut checker = Checker::new(dialect.clone());
    let mut violations = vec![];
    for kind in &c.events {
        let event = Event {
            at: None,
            source_line: None,
            kind: kind.clone(),
        };
        violations.extend(checker.feed(&event));
    }
    violations.extend(checker.finish(false));
    violations.retain(|v| v.rule.party() == Party::Server);
    assert!(
        violations.is_empty(),
        "server violations: {violations:#?}\nconversation: {:#?}",
        c.events
    );
}

// ---------------------------------------------------------------------------------------
// The reference server
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn line_over_the_limit_gets_err_and_close_bystander_unharmed() {
    let server = start(ServerBuilder::new().without_listener().max_line(64)).await;
    let mut b = bystander(&server).await;
    let mut c = in_memory(&server).await;
    c.send(format!("{}\r\n", "y".repeat(65)).as_bytes()).await;
    c.expect(&["ERR line too long"]).await;
    c.expect_closed().await;
    until_open(&server, 1).await;
    still_served(&mut b, &server).await;
}

/// Streams up to 100 MB without a newline, in 64 KiB chunks, and stops as soon as a write
/// fails: the number of bytes written then, or `None` if all 100 MB were taken.
async fn endless_line(w: &mut (impl tokio::io::AsyncWrite + Unpin)) -> Option<usize> {
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0usize;
    while sent < 100 * 1024 * 1024 {
        match timeout(WAIT, w.write_all(&chunk)).await {
            Ok(Ok(())) => sent += chunk.len(),
            Ok(Err(_)) => return Some(sent),
            Err(_) => panic!("the peer neither read nor closed"),
        }
    }
    None
}

#[tokio::test(start_paused = true)]
async fn hundred_megabytes_without_newline_is_cut_off_after_the_limit() {
    let server = start(ServerBuilder::new().without_listener()).await;
    let mut b = bystander(&server).await;
    let (mut r, mut w) = tokio::io::split(server.connect_in_memory().unwrap());
    let writer = tokio::spawn(async move { endless_line(&mut w).await });
    let mut got = Vec::new();
    timeout(WAIT, r.read_to_end(&mut got))
        .await
        .expect("the server closes")
        .expect("clean EOF");
    assert_eq!(got, b"ERR line too long\r\n");
    let sent = timeout(WAIT, writer)
        .await
        .unwrap()
        .unwrap()
        .expect("the server stopped reading");
    // What the server took: the limit, its bounded linger (64 KiB) and the pipe's buffers;
    // memory is bounded by the codec (limit + 2 bytes, asserted in the framing tests).
    assert!(sent <= 256 * 1024, "the server read {sent} bytes");
    until_open(&server, 1).await;
    still_served(&mut b, &server).await;
}

#[tokio::test(start_paused = true)]
async fn odd_bytes_get_a_clear_err_and_the_connection_stays_usable() {
    let server = start(ServerBuilder::new().without_listener()).await;
    let mut b = bystander(&server).await;
    let mut c = in_memory(&server).await;
    let cases: &[(&[u8], &str)] = &[
        (b"\xff\xfe\xc3(\r\n", "ERR line is not valid UTF-8"),
        (b"random?\0\r\n", "ERR unknown command `random?\\0`"),
        (b"\0\0\0\n", "ERR unknown command `\\0\\0\\0`"),
        (
            b"random?\rclassified?\r\n",
            "ERR unknown command `random?\\rclassified?`",
        ),
        (b"random?\r\r\n", "ERR unknown command `random?\\r`"),
        (b"\r\n", "ERR empty line"),
        (b"\n", "ERR empty line"),
        (b"   \r\n", "ERR unknown command `   `"),
        (b"random? \r\n", "ERR unknown command `random? `"),
        (b" random?\n", "ERR unknown command ` random?`"),
        (b"RANDOM?\n", "ERR unknown command `RANDOM?`"),
        (b"\x1b[2J\r\n", "ERR unknown command `\\u{1b}[2J`"),
    ];
    for (bytes, reply) in cases {
        c.send(bytes).await;
        c.expect(&[reply]).await;
    }
    // Mixed LF and CRLF within one connection: both are lines.
    for (bytes, reply) in [
        (&b"classified?\n"[..], FIRST_AD),
        (b"classified?\r\n", ""),
        (b"_notif_\n", "will send notifs"),
        (b"stop_notif\r\n", "OK"),
    ] {
        c.send(bytes).await;
        c.expect(&[reply]).await;
    }
    assert_server_conforms(&c, server.dialect());
    assert_eq!(server.stats().protocol_errors, cases.len() as u64);
    still_served(&mut b, &server).await;
}

#[tokio::test(start_paused = true)]
async fn every_command_in_every_wrong_state_gets_err_and_changes_nothing() {
    let server = start(ServerBuilder::new().without_listener()).await;
    let mut b = bystander(&server).await;
    let mut c = in_memory(&server).await;
    let not_in_mode = |cmd: &str| {
        format!("ERR `{cmd}` is not allowed in notification mode; send `stop_notif` first")
    };
    let no_outstanding = "ERR `OK` without an outstanding notification";
    // Idle (request/reply mode): an answer or a stop is out of place.
    c.request("OK", &[no_outstanding]).await;
    c.request(
        "stop_notif",
        &["ERR `stop_notif` outside notification mode; send `_notif_` first"],
    )
    .await;
    c.request("classified?", &[FIRST_AD]).await;
    // Notification mode, nothing outstanding: requests, a second enter and an OK are refused.
    c.request("_notif_", &["will send notifs"]).await;
    for cmd in ["random?", "classified?", "_notif_"] {
        c.request(cmd, &[&not_in_mode(cmd)]).await;
    }
    c.request("OK", &[no_outstanding]).await;
    // Notification mode with a notification outstanding: the same refusals, and the
    // notification is still the one outstanding afterwards (the OK answers it).
    server.publish_random(Some(5));
    c.published(notifspec::ItemKind::Random);
    c.expect(&["notif: random"]).await;
    b.expect(&["notif: random"]).await;
    b.send(b"OK\r\n").await;
    for cmd in ["random?", "classified?", "_notif_"] {
        c.request(cmd, &[&not_in_mode(cmd)]).await;
    }
    c.send(b"OK\r\n").await;
    c.expect_quiet().await;
    c.request("OK", &[no_outstanding]).await;
    c.request("stop_notif", &["OK"]).await;
    // Back in request mode: the stop is out of place again, requests work.
    c.request(
        "stop_notif",
        &["ERR `stop_notif` outside notification mode; send `_notif_` first"],
    )
    .await;
    c.request("random?", &["5"]).await;
    assert_server_conforms(&c, server.dialect());
    still_served(&mut b, &server).await;
}

#[tokio::test(start_paused = true)]
async fn with_errors_ignored_bad_lines_get_no_reply_and_change_nothing() {
    let yaml = Dialect::default()
        .to_yaml()
        .replace("policy: error", "policy: ignore");
    let dialect = Dialect::from_yaml_str(&yaml, "ignore").unwrap();
    let server = start(ServerBuilder::new().without_listener().dialect(dialect)).await;
    let mut c = in_memory(&server).await;
    c.send(b"OK\r\nstop_notif\r\nrandom? \r\n\xff\r\n\r\n")
        .await;
    c.expect_quiet().await;
    c.request("classified?", &[FIRST_AD]).await;
    assert_eq!(server.stats().protocol_errors, 5);
    assert_server_conforms(&c, server.dialect());
}

/// Sends `bytes` in one write from a separate task while reading replies (a client that
/// pipelines must read concurrently, as over TCP), and returns the first `n` replies.
async fn pipelined(stream: DuplexStream, bytes: Vec<u8>, n: usize) -> Vec<String> {
    let (r, mut w) = tokio::io::split(stream);
    let writer = tokio::spawn(async move { w.write_all(&bytes).await.map(|()| w) });
    let mut reader = tokio::io::BufReader::new(r);
    let mut replies = Vec::with_capacity(n);
    let mut line = String::new();
    for _ in 0..n {
        line.clear();
        use tokio::io::AsyncBufReadExt as _;
        timeout(WAIT, reader.read_line(&mut line))
            .await
            .expect("reply within the bound")
            .expect("readable");
        replies.push(
            line.strip_suffix("\r\n")
                .expect("CRLF-terminated reply")
                .to_string(),
        );
    }
    timeout(WAIT, writer).await.unwrap().unwrap().unwrap();
    replies
}

#[tokio::test(start_paused = true)]
async fn pipelined_commands_in_one_write_are_answered_in_order() {
    let server = start(ServerBuilder::new().without_listener()).await;
    let mut b = bystander(&server).await;
    let mut bytes = Vec::new();
    let mut want = Vec::new();
    for i in 0..1_000 {
        match i % 4 {
            0 => {
                bytes.extend_from_slice(b"classified?\r\n");
                want.push(if i == 0 { FIRST_AD } else { "" }.to_string());
            }
            1 => {
                bytes.extend_from_slice(b"_notif_\nrandom?\r\nstop_notif\n");
                want.push("will send notifs".into());
                want.push(
                    "ERR `random?` is not allowed in notification mode; send `stop_notif` first"
                        .into(),
                );
                want.push("OK".into());
            }
            2 => {
                bytes.extend_from_slice(b"bogus\r\n");
                want.push("ERR unknown command `bogus`".into());
            }
            _ => {
                bytes.extend_from_slice(b"OK\n");
                want.push("ERR `OK` without an outstanding notification".into());
            }
        }
    }
    let stream = server.connect_in_memory().unwrap();
    let got = pipelined(stream, bytes, want.len()).await;
    assert_eq!(got, want);
    still_served(&mut b, &server).await;
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_oks_gets_one_err_each_and_the_bystander_never_notices() {
    let server = start(ServerBuilder::new().without_listener()).await;
    let mut b = bystander(&server).await;
    let stream = server.connect_in_memory().unwrap();
    // Enter the mode (the unread connect-time ad is announced), then 10,000 OKs: the first
    // answers the notification, every other one is refused.
    let mut bytes = b"_notif_\r\n".to_vec();
    for _ in 0..10_000 {
        bytes.extend_from_slice(b"OK\r\n");
    }
    bytes.extend_from_slice(b"stop_notif\r\n");
    let got = pipelined(stream, bytes, 2 + 9_999 + 1).await;
    assert_eq!(got[..2], ["will send notifs", "notif: classified"]);
    assert!(
        got[2..10_001]
            .iter()
            .all(|l| l == "ERR `OK` without an outstanding notification")
    );
    assert_eq!(got[10_001], "OK");
    assert_eq!(server.stats().protocol_errors, 9_999);
    still_served(&mut b, &server).await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_sends_nothing_is_harmless_without_an_idle_timeout() {
    let server = start(ServerBuilder::new().without_listener()).await;
    let mut b = bystander(&server).await;
    let mut silent = in_memory(&server).await;
    tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    assert_eq!(server.stats().open_connections, 2);
    still_served(&mut b, &server).await;
    // A day later it is still served, from where it was.
    silent.request("classified?", &[FIRST_AD]).await;
}

async fn with_idle_timeout_30s() -> ServerHandle {
    let builder = ServerBuilder::new().without_listener();
    start(builder.idle_timeout(Duration::from_secs(30))).await
}

#[tokio::test(start_paused = true)]
async fn a_client_that_sends_nothing_is_closed_silently_after_the_idle_timeout() {
    let server = with_idle_timeout_30s().await;
    let mut b = in_memory(&server).await;
    let mut silent = in_memory(&server).await;
    let started = tokio::time::Instant::now();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(20)).await;
        b.request("classified?", &[]).await;
        b.line().await;
    }
    // The silent one was closed at 30 s without a line; the talking one was kept.
    assert_eq!(silent.try_line(Duration::ZERO).await, Some(None));
    assert!(started.elapsed() >= Duration::from_secs(100));
    b.request("classified?", &[""]).await;
}

#[tokio::test(start_paused = true)]
async fn slowloris_with_an_idle_timeout_is_closed_at_the_timeout() {
    let server = with_idle_timeout_30s().await;
    let mut c = in_memory(&server).await;
    let started = tokio::time::Instant::now();
    // A byte a second of a line that never ends: only complete lines reset the idle timer.
    let closed_at = timeout(Duration::from_secs(120), async {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if c.stream.write_all(b"x").await.is_err() {
                return started.elapsed();
            }
        }
    })
    .await
    .expect("the server closed the connection");
    assert!(
        (Duration::from_secs(30)..=Duration::from_secs(32)).contains(&closed_at),
        "{closed_at:?}"
    );
    until_open(&server, 0).await;
}

#[tokio::test(start_paused = true)]
async fn slowloris_without_an_idle_timeout_is_bounded_by_the_line_limit() {
    let server = start(ServerBuilder::new().without_listener()).await;
    let mut b = bystander(&server).await;
    // A request at a byte a second is served like any other.
    let mut slow = in_memory(&server).await;
    for byte in b"classified?\r\n" {
        tokio::time::sleep(Duration::from_secs(1)).await;
        slow.stream.write_all(&[*byte]).await.unwrap();
    }
    slow.expect(&[FIRST_AD]).await;
    // A line that never ends is refused once it passes the limit: 1025 bytes, 1025 seconds.
    for _ in 0..=1024 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        slow.stream.write_all(b"x").await.unwrap();
    }
    slow.expect(&["ERR line too long"]).await;
    slow.expect_closed().await;
    still_served(&mut b, &server).await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_reads_while_notifications_are_due_stalls_only_itself() {
    // Without answers notifications flow as fast as the client reads; this one never reads.
    let server = start(
        ServerBuilder::new()
            .without_listener()
            .dialect(loose_dialect()),
    )
    .await;
    let mut b = in_memory(&server).await;
    b.request("classified?", &[FIRST_AD]).await;
    b.request("_notif_", &["will send notifs"]).await;
    let (deaf, server_end) = tokio::io::duplex(256);
    server.serve_stream(server_end, "deaf").unwrap();
    let mut deaf = Raw::new(deaf);
    deaf.send(b"_notif_\r\n").await;
    let started = tokio::time::Instant::now();
    for n in 0..1_000 {
        server.publish_random(Some(n));
        tokio::task::yield_now().await;
        // The bystander keeps getting every notification while the deaf one is stuck.
        b.expect(&["notif: random"]).await;
    }
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "nobody waited for the deaf client"
    );
    b.request("stop_notif", &["OK"]).await;
    b.request("random?", &["999"]).await;
    // The deaf client's backlog is bounded by its pipe, not by the 1,000 publishes.
    let mut buffered = 0;
    while let Some(Some(_)) = deaf.try_line(QUIET).await {
        buffered += 1;
    }
    assert!(buffered < 30, "{buffered} lines were buffered");
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_reads_holds_at_most_one_notification_when_answers_are_required() {
    let server = start(ServerBuilder::new().without_listener()).await;
    let mut b = bystander(&server).await;
    let mut deaf = in_memory(&server).await;
    deaf.send(b"classified?\r\n_notif_\r\n").await;
    for n in 0..1_000 {
        server.publish_random(Some(n));
        tokio::task::yield_now().await;
    }
    deaf.expect(&[FIRST_AD, "will send notifs", "notif: random"])
        .await;
    deaf.expect_quiet().await;
    b.expect(&["notif: random"]).await;
    b.send(b"OK\r\n").await;
    still_served(&mut b, &server).await;
}

#[tokio::test(start_paused = true)]
async fn half_close_after_notif_gets_the_ack_then_the_server_closes() {
    let server = start(ServerBuilder::new().without_listener()).await;
    let mut b = bystander(&server).await;
    let mut c = in_memory(&server).await;
    c.send(b"_notif_\r\n").await;
    c.stream.shutdown().await.unwrap();
    // What the client's lines caused is still sent (the ack, and the unread ad announced),
    // then the server closes: a client that sends nothing more cannot answer.
    c.expect(&["will send notifs", "notif: classified"]).await;
    c.expect_closed().await;
    until_open(&server, 1).await;
    still_served(&mut b, &server).await;
}

#[tokio::test(start_paused = true)]
async fn an_unterminated_last_line_before_a_half_close_is_still_answered() {
    let server = start(ServerBuilder::new().without_listener()).await;
    let mut c = in_memory(&server).await;
    c.send(b"classified?").await;
    c.stream.shutdown().await.unwrap();
    c.expect(&[FIRST_AD]).await;
    c.expect_closed().await;
    until_open(&server, 0).await;
}

/// Connects to `addr`, gets one reply, sends half a line, then resets the connection.
async fn reset_mid_line(addr: std::net::SocketAddr) {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"random?\r\nclass").await.unwrap();
    let mut reply = [0u8; 64];
    let n = timeout(WAIT, c.read(&mut reply)).await.unwrap().unwrap();
    assert!(reply[..n].ends_with(b"\r\n"));
    // Linger 0: closing sends a TCP reset instead of a FIN.
    c.set_zero_linger().unwrap();
    drop(c);
}

#[tokio::test]
async fn reset_in_the_middle_of_a_line_closes_only_that_connection() {
    let server = start(ServerBuilder::new()).await;
    let addr = server.local_addr().unwrap();
    let mut b = Raw::new(TcpStream::connect(addr).await.unwrap());
    b.request("classified?", &[FIRST_AD]).await;
    reset_mid_line(addr).await;
    timeout(WAIT, async {
        while server.stats().open_connections != 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the reset connection is closed");
    b.request("classified?", &[""]).await;
    assert_eq!(
        server.stats().protocol_errors,
        0,
        "the partial line was dropped"
    );
}

#[tokio::test]
async fn more_connections_than_max_conns_are_refused_with_a_line() {
    let server = start(ServerBuilder::new().max_conns(2)).await;
    let addr = server.local_addr().unwrap();
    let mut a = Raw::new(TcpStream::connect(addr).await.unwrap());
    a.request("classified?", &[FIRST_AD]).await;
    let mut b = Raw::new(TcpStream::connect(addr).await.unwrap());
    b.request("_notif_", &["will send notifs", "notif: classified"])
        .await;
    for _ in 0..5 {
        let mut extra = Raw::new(TcpStream::connect(addr).await.unwrap());
        extra.expect(&["ERR too many connections"]).await;
        extra.expect_closed().await;
    }
    assert_eq!(server.stats().refused, 5);
    a.request("classified?", &[""]).await;
    b.request("OK", &[]).await;
    b.request("stop_notif", &["OK"]).await;
}

/// Open file descriptors of this process (Linux).
fn open_fds() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

/// Tasks alive on this test's runtime (each `#[tokio::test]` has its own).
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Waits until only the bystander's connection (and no task beyond `tasks`) is left.
async fn until_drained(server: &ServerHandle, tasks: usize) {
    timeout(Duration::from_secs(30), async {
        while server.stats().open_connections != 1 || alive_tasks() > tasks {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("left over: {:?}, {} tasks", server.stats(), alive_tasks()));
}

/// What a short-lived client does before it vanishes, by its number: nothing, half a line,
/// enter the mode, or a full request whose reply it may not read.
fn farewell(i: u32) -> &'static [u8] {
    [&b""[..], b"classif", b"_notif_\r\n", b"random?\r\n"][i as usize % 4]
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_connects_and_disconnects_leak_nothing() {
    let server = start(ServerBuilder::new().without_listener()).await;
    let mut b = bystander(&server).await;
    let tasks_before = alive_tasks();
    for i in 0..10_000u32 {
        let mut c = server.connect_in_memory().unwrap();
        c.write_all(farewell(i)).await.unwrap();
        if i % 2 == 0 {
            tokio::task::yield_now().await;
        }
    }
    until_drained(&server, tasks_before).await;
    assert_eq!(server.stats().accepted, 10_001);
    still_served(&mut b, &server).await;
}

#[tokio::test]
async fn a_thousand_tcp_connects_and_disconnects_leak_no_file_descriptors() {
    let server = start(ServerBuilder::new()).await;
    let addr = server.local_addr().unwrap();
    let mut b = Raw::new(TcpStream::connect(addr).await.unwrap());
    b.request("classified?", &[FIRST_AD]).await;
    let (fds_before, tasks_before) = (open_fds(), alive_tasks());
    for i in 0..1_000u32 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(farewell(i)).await.unwrap();
    }
    until_drained(&server, tasks_before).await;
    assert_eq!(server.stats().accepted, 1_001);
    if let (Some(before), Some(after)) = (fds_before, open_fds()) {
        // Other tests run in parallel in this process; a leak here would be ~1,000.
        assert!(after <= before + 100, "fds: {before} before, {after} after");
    }
    b.request("classified?", &[""]).await;
}

// ---------------------------------------------------------------------------------------
// The proxy, in front of the reference server
// ---------------------------------------------------------------------------------------

/// A reference server on loopback with a proxy in front, and a bystander (proxy connection 1)
/// that has spoken once through it.
async fn proxied_server() -> (
    ServerHandle,
    ProxyHandle,
    mpsc::UnboundedReceiver<ProxyReport>,
    Raw<TcpStream>,
) {
    let server = start(ServerBuilder::new()).await;
    let (proxy, rx) = start_proxy(server.local_addr().unwrap().to_string(), None).await;
    let mut b = Raw::new(TcpStream::connect(proxy.local_addr()).await.unwrap());
    b.request("classified?", &[FIRST_AD]).await;
    (server, proxy, rx, b)
}

/// Reports about proxy connection 2 (the test's client), up to its close.
async fn client_reports(rx: &mut mpsc::UnboundedReceiver<ProxyReport>) -> Vec<ProxyReport> {
    let all = reports_until(rx, |r| matches!(r, ProxyReport::Closed { conn: 2, .. })).await;
    all.into_iter()
        .filter(|r| format!("{r}").starts_with("conn 2:"))
        .collect()
}

#[tokio::test]
async fn proxy_passes_an_endless_line_on_and_the_servers_refusal_back() {
    let (server, proxy, mut rx, mut b) = proxied_server().await;
    let c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let (mut r, mut w) = c.into_split();
    let writer = tokio::spawn(async move { endless_line(&mut w).await });
    let mut got = Vec::new();
    // The server's close may reach us as a reset once the ERR line is read: tolerated.
    let _ = timeout(WAIT, r.read_to_end(&mut got))
        .await
        .expect("the connection ends");
    assert!(got.starts_with(b"ERR line too long\r\n"), "{got:?}");
    let sent = timeout(WAIT, writer).await.unwrap().unwrap();
    assert!(
        sent.is_some(),
        "all 100 MB went through: nobody stopped reading"
    );
    let reports = client_reports(&mut rx).await;
    assert!(
        reports.contains(&ProxyReport::Oversized {
            conn: 2,
            from: Party::Client
        }),
        "{reports:?}"
    );
    b.request("classified?", &[""]).await;
    assert_eq!(server.stats().open_connections, 1);
}

#[tokio::test]
async fn proxy_passes_a_half_close_after_notif_on() {
    let (_server, proxy, mut rx, mut b) = proxied_server().await;
    let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    c.write_all(b"_notif_\r\n").await.unwrap();
    c.shutdown().await.unwrap();
    let mut got = Vec::new();
    timeout(WAIT, c.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"will send notifs\r\nnotif: classified\r\n");
    let reports = client_reports(&mut rx).await;
    for by in [Party::Client, Party::Server] {
        let half = ProxyReport::HalfClosed { conn: 2, by };
        assert!(reports.contains(&half), "{reports:?}");
    }
    b.request("classified?", &[""]).await;
}

#[tokio::test]
async fn proxy_passes_a_reset_in_the_middle_of_a_line_on_to_that_connection_only() {
    let (server, proxy, mut rx, mut b) = proxied_server().await;
    reset_mid_line(proxy.local_addr()).await;
    let reports = client_reports(&mut rx).await;
    let reset = ProxyReport::Reset {
        conn: 2,
        by: Party::Client,
    };
    assert!(reports.contains(&reset), "{reports:?}");
    timeout(WAIT, async {
        while server.stats().open_connections != 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the server's side of the reset connection closes");
    assert_eq!(
        server.stats().protocol_errors,
        0,
        "`class` never became a line"
    );
    b.request("classified?", &[""]).await;
}

#[tokio::test]
async fn proxy_forwards_an_oversized_server_line_unchanged_and_reports_it() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap().to_string();
    let (proxy, mut rx) = start_proxy(upstream, None).await;
    let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let (mut s, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let mut sent = vec![b'x'; 300 * 1024];
    sent.extend_from_slice(b"\r\nwill send notifs\r\n");
    let to_send = sent.clone();
    tokio::spawn(async move {
        s.write_all(&to_send).await.unwrap();
        s.shutdown().await.unwrap();
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink).await;
    });
    let mut got = Vec::new();
    timeout(WAIT, c.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert!(got == sent, "the proxy changed the bytes");
    drop(c);
    let reports = reports_until(&mut rx, is_closed).await;
    let oversized = ProxyReport::Oversized {
        conn: 1,
        from: Party::Server,
    };
    assert!(reports.contains(&oversized), "{reports:?}");
}

// ---------------------------------------------------------------------------------------
// The transcript parser and the dialect loader
// ---------------------------------------------------------------------------------------

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn transcript_err(path: &Path) -> String {
    Transcript::from_file(path)
        .expect_err("the file must be refused")
        .to_string()
}

#[test]
fn transcript_binary_files_are_refused_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let png = write(dir.path(), "a.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    let err = transcript_err(&png);
    assert!(
        err.starts_with(&format!("{}:1:1: invalid UTF-8", png.display())),
        "{err}"
    );
    let nul = write(dir.path(), "b.txt", b"C: random?\nS: 1\0\n");
    let err = transcript_err(&nul);
    assert!(
        err.starts_with(&format!("{}:2:5: NUL byte", nul.display())),
        "{err}"
    );
    let mut rng = StdRng::seed_from_u64(7);
    let noise: Vec<u8> = (0..64 * 1024).map(|_| rng.random()).collect();
    let err = transcript_err(&write(dir.path(), "c.bin", &noise));
    assert!(err.contains("c.bin:1:"), "{err}");
}

#[test]
fn transcript_huge_files_are_refused_or_streamed_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    // Bigger than what is parsed in memory: refused from its size, before reading (sparse).
    let big = dir.path().join("big.txt");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(transcript::MAX_FILE_SIZE + 1).unwrap();
    let err = transcript_err(&big);
    assert!(err.contains("too large to parse in memory"), "{err}");
    assert!(err.contains("streams files of any size"), "{err}");
    // One line longer than any transcript line: the streaming reader stops at the bound.
    let mut line = b"C: ".to_vec();
    line.resize(transcript::MAX_LINE_LEN + 10, b'a');
    let long = write(dir.path(), "long.txt", &line);
    let err = transcript_err(&long);
    assert!(err.contains("long.txt:1:1: line longer than"), "{err}");
    // A long, valid recording streams entry by entry.
    let entries = "C: random?\nS: 1\n".repeat(50_000);
    let reader = transcript::Reader::new(entries.as_bytes(), "many").unwrap();
    assert_eq!(reader.count(), 100_000);
}

#[test]
fn transcript_deeply_nested_front_matter_is_an_error_not_a_crash() {
    for depth in [200, 1_000] {
        let text = format!("---\ntitle: {}\n---\nC: random?\n", "[".repeat(depth));
        let err = transcript::parse(&text, "nested.txt")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("nested.txt:2:"), "{err}");
        assert!(err.contains("front matter"), "{err}");
    }
    let text = format!("---\ntitle: {}x\n---\n", "- ".repeat(1_000));
    assert!(transcript::parse(&text, "nested.txt").is_err());
}

#[test]
fn transcript_unknown_front_matter_key_is_named() {
    let text = "---\ntitle: t\ndialcet: seed-text\n---\nC: random?\n";
    let err = transcript::parse(text, "t.txt").unwrap_err().to_string();
    assert!(
        err.starts_with("t.txt:3:1: front matter: unknown field `dialcet`"),
        "{err}"
    );
    assert!(err.contains("did you mean `dialect`?"), "{err}");
}

#[test]
fn check_command_refuses_a_binary_file_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "x.txt", b"C: random?\n\xff\xfe\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_notifspec"))
        .arg("check")
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("x.txt:2:1: invalid UTF-8"), "{all}");
}

fn dialect_err(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = write(dir, name, bytes);
    Dialect::from_file(&p)
        .expect_err("the dialect must be refused")
        .to_string()
}

#[test]
fn dialect_bad_files_are_refused_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = Dialect::default().to_yaml();
    // Binary.
    let err = dialect_err(d, "bin.yaml", b"\x7fELF\x02\x01\x01\0\0\0");
    assert!(err.contains("bin.yaml:1:"), "{err}");
    let err = dialect_err(d, "bad.yaml", b"name: \xff\xfe");
    assert!(
        err.contains("bad.yaml:1:7") && err.contains("not valid UTF-8"),
        "{err}"
    );
    // Huge: refused from its size (sparse file, nothing read).
    let huge = d.join("huge.yaml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(100 * 1024 * 1024)
        .unwrap();
    let err = Dialect::from_file(&huge).unwrap_err().to_string();
    assert!(
        err.contains("too large (dialect files are at most"),
        "{err}"
    );
    // Deeply nested.
    let nested = format!("{good}description: {}\n", "[".repeat(1_000));
    let err = dialect_err(d, "nested.yaml", nested.as_bytes());
    assert!(
        err.starts_with(&format!("{}:", d.join("nested.yaml").display())),
        "{err}"
    );
    // Unknown key, with its position.
    let unknown = good.replace("max_line: 1024", "max_line: 1024\nmax_lines: 3");
    let err = dialect_err(d, "unknown.yaml", unknown.as_bytes());
    assert!(
        err.contains("unknown.yaml:") && err.contains("unknown field `max_lines`"),
        "{err}"
    );
    // Conflicting spellings: a notification spelled like the mode acknowledgement.
    let conflict = good.replace("random: 'notif: random'", "random: will send notifs");
    assert_ne!(conflict, good);
    let err = dialect_err(d, "conflict.yaml", conflict.as_bytes());
    assert!(
        err.contains("conflict.yaml: invalid dialect: conflicting spellings"),
        "{err}"
    );
    assert!(
        err.contains("replies.mode_ack") && err.contains("notifications.random"),
        "{err}"
    );
    // Client commands spelled alike.
    let conflict = good.replace("stop: stop_notif", "stop: OK");
    assert_ne!(conflict, good);
    let err = dialect_err(d, "conflict2.yaml", conflict.as_bytes());
    assert!(
        err.contains("commands.stop and answers.ok are both `OK`"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// Fuzz target bodies as seeded property tests
// ---------------------------------------------------------------------------------------

/// Pieces that make random inputs reach deep into each parser (pure noise rarely gets past
/// the first line).
const TRANSCRIPT_PIECES: &[&str] = &[
    "C: random?\n",
    "S: {int}\n",
    "C: _notif_\n",
    "S: will send notifs\n",
    "S: notif: random\n",
    "C: OK\n",
    "C: stop_notif\n",
    "S: OK\n",
    "S:\n",
    "---\n",
    "title: t\n",
    "dialect: seed-text\n",
    "expect: pass\n",
    "expect: [S-NOTIF-WINDOW, C-ACK]\n",
    "# comment\n",
    "[...]\n",
    "! publish random\n",
    "! publish random 12\n",
    "! publish classified ad\n",
    "! close\n",
    "! expect close\n",
    "! quiet 2s\n",
    "\r\n",
    "\n",
    "{{",
    "{text}",
    "{int}",
    "{x}",
    "C:",
    "S: ",
    "  ",
    "\u{feff}",
    "é",
    "\t",
    "! ",
    "expect: S-ERR\n",
    "S: ERR x\n",
    "C: classified?\n",
];

const DIALECT_PIECES: &[&str] = &[
    "name: x\n",
    "max_line: 16\n",
    "max_line: 99999999999999999999\n",
    "line_ending: lf\n",
    "commands:\n",
    "  random: a\n",
    "  stop: a\n",
    "answers: {policy: none, ok: OK}\n",
    "errors: {policy: ignore, prefix: ERR}\n",
    "replies: {mode_ack: m, stop_ok: OK}\n",
    "notifications: {random: r, classified: r}\n",
    "&a [*a]\n",
    "!!binary x\n",
    "? [a]\n",
    "- ",
    ": ",
    "\n",
    "\"\\u0000\"\n",
    "{",
    "}",
    "[",
    "]",
    "'",
    "description: |\n  x\n",
];

/// Seeded inputs for a body: pure noise, then sequences of `pieces` with noise mixed in.
fn inputs(seed: u64, count: usize, pieces: &[&str]) -> impl Iterator<Item = Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count).map(move |i| {
        let len = rng.random_range(0..200usize);
        if pieces.is_empty() || i % 4 == 0 {
            return (0..len).map(|_| rng.random()).collect();
        }
        let mut out = Vec::new();
        for _ in 0..len / 4 {
            if rng.random_range(0..10) == 0 {
                out.push(rng.random());
            } else {
                out.extend_from_slice(pieces[rng.random_range(0..pieces.len())].as_bytes());
            }
        }
        out
    })
}

#[test]
fn fuzz_smoke_framing() {
    for data in inputs(1, 3_000, &[]) {
        fuzz_bodies::framing(&data);
    }
}

#[test]
fn fuzz_smoke_transcript() {
    for data in inputs(2, 3_000, TRANSCRIPT_PIECES) {
        fuzz_bodies::transcript(&data);
    }
}

#[test]
fn fuzz_smoke_dialect() {
    let good = Dialect::default().to_yaml();
    for data in inputs(3, 500, DIALECT_PIECES) {
        fuzz_bodies::dialect(&data);
        // The real dialect with a few bytes spliced in somewhere.
        let mut text = good.clone().into_bytes();
        let at = data.len() % text.len();
        text.splice(at..at, data.iter().copied().take(8));
        fuzz_bodies::dialect(&text);
    }
}

/// YAML and scenario fragments for the scenario, expect-fail and feed bodies.
const SCENARIO_PIECES: &[&str] = &[
    "name: s\n",
    "duration: 10s\n",
    "dialect: seed-session\n",
    "dialect: ../x.yaml\n",
    "dialect: /etc/passwd\n",
    "seed: 1\n",
    "clients:\n  - count: 2\n    behaviour: typical\n",
    "faults:\n  - kind: drop\n",
    "ads:\n  - hello\n",
    "S-ERR: reason\n",
    "- S-NOTIF-WINDOW\n",
    "C-ONE-AT-A-TIME,",
];

#[test]
fn fuzz_smoke_scenario() {
    for data in inputs(6, 500, SCENARIO_PIECES) {
        fuzz_bodies::scenario(&data);
    }
    let smoke = include_str!("../../scenarios/smoke.yaml");
    fuzz_bodies::scenario(smoke.as_bytes());
    fuzz_bodies::scenario("[".repeat(100_000).as_bytes());
}

#[test]
fn fuzz_smoke_expect_fail() {
    for data in inputs(7, 1_000, SCENARIO_PIECES) {
        fuzz_bodies::expect_fail(&data);
    }
    fuzz_bodies::expect_fail(b"S-ERR: known\nS-NOTIF-WINDOW: ~\n");
}

#[test]
fn fuzz_smoke_feed() {
    for data in inputs(8, 1_000, SCENARIO_PIECES) {
        fuzz_bodies::feed_file(&data);
    }
    let mut builtin = vec![255];
    builtin.extend_from_slice(notifspec::proto::availability::BUILTIN_FEED.as_bytes());
    fuzz_bodies::feed_file(&builtin);
}

#[test]
fn fuzz_smoke_checker() {
    for data in inputs(4, 3_000, &[]) {
        fuzz_bodies::checker(&data);
    }
}

#[test]
fn fuzz_smoke_differential() {
    for data in inputs(5, 3_000, &[]) {
        fuzz_bodies::differential(&data);
    }
}

// ---------------------------------------------------------------------------------------
// Regressions: inputs the fuzz targets found
// ---------------------------------------------------------------------------------------

/// Found by reading the framing property: a last line of exactly `max_line` bytes plus a
/// `\r`, cut by EOF, came out as a line one byte over the limit.
#[test]
fn regression_framing_line_at_the_limit_plus_cr_cut_by_eof() {
    use notifspec::wire::{Frame, LineCodec};
    use tokio_util::codec::Decoder as _;
    let mut codec = LineCodec::new(4, notifspec::dialect::LineEnding::Crlf);
    let mut buf = bytes::BytesMut::from(&b"abcd\r"[..]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert_eq!(
        codec.decode_eof(&mut buf).unwrap(),
        Some(Frame::TooLong { limit: 4 })
    );
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
}

/// Found by the `transcript` target in its first seconds: a lone CR inside a message parsed,
/// but the writer (rightly) cannot write it back, so `C: :\rC:` came back as `C: : C:`. A
/// lone CR is now refused when reading, at its column.
#[test]
fn regression_transcript_lone_cr_inside_a_line() {
    let crash = b"\rC::\rC:";
    let err = transcript::parse(std::str::from_utf8(crash).unwrap(), "crash.txt")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("crash.txt:1:1: carriage return inside a line"),
        "{err}"
    );
    fuzz_bodies::transcript(crash);
    let err = transcript::parse("C: random?\rx\n", "t").unwrap_err();
    assert_eq!((err.line, err.column), (1, 11));
    // Old Mac line endings: one long line, refused at the first CR with a hint.
    let err = transcript::parse("C: random?\rS: 1\r", "mac").unwrap_err();
    assert!(err.to_string().contains("CR line endings"), "{err}");
}

/// A reference session judged live by the checker, which knows every publish.
struct Judged {
    session: notifspec::proto::ServerSession,
    items: notifspec::proto::Items,
    checker: Checker,
    violations: Vec<notifspec::Violation>,
}

impl Judged {
    fn new() -> Self {
        let dialect = Dialect::default();
        let items = notifspec::proto::Items::new(7, FIRST_AD, 10_000);
        let session = notifspec::proto::ServerSession::new(dialect.clone().into(), &items);
        let options = notifspec::checker::Options {
            items_known: true,
            ..Default::default()
        };
        let checker = Checker::with_options(dialect, options);
        let violations = vec![];
        Judged {
            session,
            items,
            checker,
            violations,
        }
    }

    fn feed(&mut self, kind: notifspec::EventKind) {
        let event = Event {
            at: None,
            source_line: None,
            kind,
        };
        self.violations.extend(self.checker.feed(&event));
    }

    fn line(&mut self, from: Party, text: &str) {
        let terminator = notifspec::checker::Terminator::CrLf;
        let text = text.to_string();
        self.feed(notifspec::EventKind::Line {
            from,
            text,
            terminator,
        });
    }

    /// The client says `line`; returns the server's replies.
    fn say(&mut self, line: &str) -> Vec<String> {
        self.line(Party::Client, line);
        self.session.handle_line(line.as_bytes(), &self.items);
        let replies: Vec<String> = std::iter::from_fn(|| self.session.poll_transmit()).collect();
        for r in &replies {
            self.line(Party::Server, r);
        }
        replies
    }
}

/// Found by `fuzz_smoke_differential` on its first run: with two unread ads the server sent
/// one `notif: classified` for both and never announced the second (`S-LIVENESS`). Driven as
/// the differential target does, and judged by the checker knowing every publish.
#[test]
fn regression_differential_two_unread_ads_take_two_notifications() {
    let mut j = Judged::new();
    j.items.publish_classified("second ad");
    j.feed(notifspec::EventKind::Published {
        kind: notifspec::ItemKind::Classified,
    });
    assert_eq!(j.say("_notif_"), ["will send notifs", "notif: classified"]);
    assert_eq!(j.say("OK"), ["notif: classified"]);
    assert!(j.say("OK").is_empty());
    j.feed(notifspec::EventKind::Quiet {
        duration: Duration::from_secs(2),
    });
    assert_eq!(j.say("stop_notif"), ["OK"]);
    assert_eq!(j.say("classified?"), [FIRST_AD]);
    assert_eq!(j.say("classified?"), ["second ad"]);
    assert_eq!(j.say("classified?"), [""]);
    assert!(j.violations.is_empty(), "{:#?}", j.violations);
}
