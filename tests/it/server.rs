//! The reference server, driven with hand-written bytes (never notifspec's own encoder, so a
//! framing bug cannot hide a server bug) over in-memory duplex streams under a paused clock,
//! and over loopback TCP with its control port.

use std::time::Duration;

use notifspec::checker::Terminator;
use notifspec::net::{ServerBuilder, ServerHandle};
use notifspec::{Checker, Dialect, Event, EventKind, ItemKind, Party};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Bound on every wait for something that must happen.
pub(crate) const WAIT: Duration = Duration::from_secs(5);
/// How long "nothing arrives" is observed (virtual time under a paused clock).
pub(crate) const QUIET: Duration = Duration::from_secs(2);

/// A client that speaks raw bytes, reads CRLF-terminated lines itself, and records the
/// conversation as checker events (from the client's vantage point).
pub(crate) struct Raw<S> {
    pub(crate) stream: S,
    buf: Vec<u8>,
    pub(crate) events: Vec<EventKind>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    pub(crate) fn new(stream: S) -> Self {
        Raw {
            stream,
            buf: Vec::new(),
            events: Vec::new(),
        }
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) {
        for line in bytes.split_inclusive(|b| *b == b'\n') {
            let (text, terminator) = match line.strip_suffix(b"\n") {
                Some(l) => match l.strip_suffix(b"\r") {
                    Some(l) => (l, Terminator::CrLf),
                    None => (l, Terminator::Lf),
                },
                None => (line, Terminator::Missing),
            };
            self.events.push(EventKind::Line {
                from: Party::Client,
                text: String::from_utf8_lossy(text).into_owned(),
                terminator,
            });
        }
        timeout(WAIT, self.stream.write_all(bytes))
            .await
            .expect("write timed out")
            .expect("write failed");
    }

    /// Records that the test published an item (so the checker can judge liveness).
    pub(crate) fn published(&mut self, kind: ItemKind) {
        self.events.push(EventKind::Published { kind });
    }

    /// Feeds the recorded conversation to the conformance checker: it must find nothing.
    pub(crate) fn assert_conforms(&self, dialect: &Dialect) {
        let mut checker = Checker::new(dialect.clone());
        let mut violations = vec![];
        for kind in &self.events {
            violations.extend(checker.feed(&Event {
                at: None,
                source_line: None,
                kind: kind.clone(),
            }));
        }
        let complete = self
            .events
            .last()
            .is_some_and(|e| matches!(e, EventKind::Closed { .. }));
        violations.extend(checker.finish(complete));
        assert!(
            violations.is_empty(),
            "violations: {violations:#?}\nconversation: {:#?}",
            self.events
        );
    }

    /// The next line, or `None` at EOF. Panics if the server does not use CRLF.
    pub(crate) async fn try_line(&mut self, within: Duration) -> Option<Option<String>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                assert_eq!(line.pop(), Some(b'\r'), "server lines end with CRLF");
                let text = String::from_utf8(line).expect("server sends UTF-8");
                self.events.push(EventKind::Line {
                    from: Party::Server,
                    text: text.clone(),
                    terminator: Terminator::CrLf,
                });
                return Some(Some(text));
            }
            let mut chunk = [0u8; 4096];
            let n = match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return None,
                Ok(Err(_)) => 0,
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                assert!(self.buf.is_empty(), "unterminated last line {:?}", self.buf);
                self.events.push(EventKind::Closed { by: Party::Server });
                return Some(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub(crate) async fn line(&mut self) -> String {
        match self.try_line(WAIT).await {
            Some(Some(line)) => line,
            Some(None) => panic!("connection closed while a line was expected"),
            None => panic!("no line within {WAIT:?}"),
        }
    }

    pub(crate) async fn expect(&mut self, lines: &[&str]) {
        for want in lines {
            assert_eq!(&self.line().await, want);
        }
    }

    pub(crate) async fn request(&mut self, line: &str, replies: &[&str]) {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.expect(replies).await;
    }

    pub(crate) async fn expect_closed(&mut self) {
        match self.try_line(WAIT).await {
            Some(None) => {}
            other => panic!("expected the server to close, got {other:?}"),
        }
    }

    pub(crate) async fn expect_quiet(&mut self) {
        if let Some(got) = self.try_line(QUIET).await {
            panic!("expected nothing for {QUIET:?}, got {got:?}");
        }
        self.events.push(EventKind::Quiet { duration: QUIET });
    }
}

pub(crate) async fn in_memory(server: &ServerHandle) -> Raw<tokio::io::DuplexStream> {
    Raw::new(server.connect_in_memory().expect("server accepts"))
}

pub(crate) async fn control(server: &ServerHandle) -> Raw<TcpStream> {
    let addr = server.control_addr().expect("control port enabled");
    Raw::new(
        TcpStream::connect(addr)
            .await
            .expect("control port reachable"),
    )
}

pub(crate) async fn start(builder: ServerBuilder) -> ServerHandle {
    builder.seed(42).start().await.expect("server starts")
}

pub(crate) fn loose_dialect() -> Dialect {
    let yaml = Dialect::default()
        .to_yaml()
        .replace("policy: required", "policy: none")
        .replace("name: seed-session", "name: no-answers");
    Dialect::from_yaml_str(&yaml, "test").unwrap()
}

/// A server whose dialect takes no answers (notifications flow as fast as the client reads),
/// and one client on a pipe of `capacity` bytes, standing for a small socket buffer.
pub(crate) async fn no_answers_server_with_pipe(
    capacity: usize,
) -> (ServerHandle, Raw<tokio::io::DuplexStream>) {
    let server = start(
        ServerBuilder::new()
            .without_listener()
            .dialect(loose_dialect()),
    )
    .await;
    let (client, server_end) = tokio::io::duplex(capacity);
    server.serve_stream(server_end, "pipe").unwrap();
    (server, Raw::new(client))
}

/// Waits (in virtual time) until the server counts `n` open connections.
pub(crate) async fn until_open(server: &ServerHandle, n: usize) {
    timeout(WAIT, async {
        while server.stats().open_connections != n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("open connections stuck at {:?}", server.stats()));
}

#[tokio::test]
async fn seed_example_session_over_tcp_with_control_port() {
    let server = start(ServerBuilder::new().control("127.0.0.1:0".parse().unwrap())).await;
    let mut c = Raw::new(
        TcpStream::connect(server.local_addr().unwrap())
            .await
            .unwrap(),
    );
    let mut ctl = control(&server).await;

    c.send(b"random?\r\n").await;
    let first = c.line().await;
    assert!(
        !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()),
        "{first}"
    );
    c.request("classified?", &["Nice appart in the 11e."]).await;
    c.request("_notif_", &["will send notifs"]).await;
    ctl.request("publish classified Bike for sale.", &["OK"])
        .await;
    c.published(ItemKind::Classified);
    c.expect(&["notif: classified"]).await;
    ctl.request("publish random 89765234756", &["OK"]).await;
    c.published(ItemKind::Random);
    c.request("OK", &["notif: random"]).await;
    c.request("stop_notif", &["OK"]).await;
    c.request("random?", &["89765234756"]).await;
    c.request("_notif_", &["will send notifs", "notif: classified"])
        .await;
    c.send(b"OK\r\n").await;
    // Still in notification mode after the OK: the ad is read only after leaving it.
    c.request("stop_notif", &["OK"]).await;
    c.request("classified?", &["Bike for sale."]).await;

    ctl.request("publish news", &[]).await;
    let err = ctl.line().await;
    assert!(err.starts_with("ERR cannot publish `news`"), "{err}");
    ctl.request("publish classified ", &[]).await;
    let err = ctl.line().await;
    assert!(err.starts_with("ERR an ad must not be empty"), "{err}");
    let dialect = server.dialect().clone();
    timeout(WAIT, server.shutdown()).await.unwrap().unwrap();
    c.expect_closed().await;
    ctl.expect_closed().await;
    c.assert_conforms(&dialect);
}

#[tokio::test(start_paused = true)]
async fn seeded_server_is_reproducible() {
    let mut got = vec![];
    for _ in 0..2 {
        let server = start(ServerBuilder::new().without_listener()).await;
        let mut c = in_memory(&server).await;
        c.send(b"random?\n").await;
        got.push(c.line().await);
        got.push(server.publish_random(None).to_string());
    }
    assert_eq!(got[0], got[2]);
    assert_eq!(got[1], got[3]);
}

#[tokio::test(start_paused = true)]
async fn line_endings_and_invalid_utf8() {
    let server = start(ServerBuilder::new().without_listener()).await;
    let mut c = in_memory(&server).await;
    // LF, CRLF and a lone CR (part of the line) in one write.
    c.send(b"classified?\nclassified?\r\nrandom?\rx\n").await;
    c.expect(&[
        "Nice appart in the 11e.",
        "",
        "ERR unknown command `random?\\rx`",
    ])
    .await;
    c.send(b"\xff\xfeabc\r\n").await;
    c.expect(&["ERR line is not valid UTF-8"]).await;
    c.send(b"_notif_\n").await;
    c.expect(&["will send notifs"]).await;
    c.send(b"stop_notif\r\n").await;
    c.expect(&["OK"]).await;
    assert_eq!(server.stats().protocol_errors, 2);
}

#[tokio::test(start_paused = true)]
async fn oversized_line_gets_err_then_close() {
    let server = start(ServerBuilder::new().without_listener().max_line(64)).await;
    let mut c = in_memory(&server).await;
    let exactly = format!("{}\r\n", "x".repeat(64));
    c.send(exactly.as_bytes()).await;
    let err = c.line().await;
    assert!(err.starts_with("ERR unknown command `xxx"), "{err}");
    c.send(format!("{}\n", "y".repeat(65)).as_bytes()).await;
    c.expect(&["ERR line too long"]).await;
    c.expect_closed().await;
    until_open(&server, 0).await;
}

#[tokio::test]
async fn ten_megabytes_without_newline_over_tcp_is_refused_and_closed() {
    let server = start(ServerBuilder::new()).await;
    let stream = TcpStream::connect(server.local_addr().unwrap())
        .await
        .unwrap();
    let (mut r, mut w) = stream.into_split();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..160 {
            // The server closes early; the resulting write error is expected.
            if w.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    timeout(WAIT, r.read_to_end(&mut got))
        .await
        .expect("server closes")
        .ok();
    assert!(got.starts_with(b"ERR line too long\r\n"), "{got:?}");
    timeout(WAIT, writer).await.unwrap().unwrap();
    // Other clients are unaffected.
    let mut c = Raw::new(
        TcpStream::connect(server.local_addr().unwrap())
            .await
            .unwrap(),
    );
    c.request("classified?", &["Nice appart in the 11e."]).await;
}

#[tokio::test(start_paused = true)]
async fn connection_limit_refuses_extra_clients() {
    let server = start(ServerBuilder::new().without_listener().max_conns(2)).await;
    let mut a = in_memory(&server).await;
    let mut b = in_memory(&server).await;
    let mut extra = in_memory(&server).await;
    extra.expect(&["ERR too many connections"]).await;
    extra.expect_closed().await;
    a.request("classified?", &["Nice appart in the 11e."]).await;
    b.request("classified?", &["Nice appart in the 11e."]).await;
    assert_eq!(server.stats().refused, 1);
    drop(a);
    until_open(&server, 1).await;
    let mut again = in_memory(&server).await;
    again
        .request("classified?", &["Nice appart in the 11e."])
        .await;
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_publishes_coalesce_for_a_client_awaiting_an_answer() {
    let server = start(ServerBuilder::new().without_listener()).await;
    let mut c = in_memory(&server).await;
    c.request("classified?", &["Nice appart in the 11e."]).await;
    c.request("_notif_", &["will send notifs"]).await;
    for n in 0..10_000 {
        server.publish_random(Some(n));
        c.published(ItemKind::Random);
        tokio::task::yield_now().await;
    }
    c.expect(&["notif: random"]).await;
    c.expect_quiet().await;
    c.request("OK", &["notif: random"]).await;
    c.send(b"OK\r\n").await;
    c.expect_quiet().await;
    c.request("stop_notif", &["OK"]).await;
    c.request("random?", &["9999"]).await;
    c.assert_conforms(server.dialect());
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_reads_costs_nothing_more() {
    // Without answers, notifications flow as fast as the client reads; this one never does.
    let (server, mut c) = no_answers_server_with_pipe(256).await;
    c.request("classified?", &["Nice appart in the 11e."]).await;
    c.request("_notif_", &["will send notifs"]).await;
    let started = tokio::time::Instant::now();
    for n in 0..10_000 {
        server.publish_random(Some(n));
        tokio::task::yield_now().await;
    }
    // Publishing never waited for the client (no virtual time passed).
    assert_eq!(started.elapsed(), Duration::ZERO);
    // What is waiting for the client is bounded by the stream's buffer, not by 10,000.
    let mut notifications = 0;
    while let Some(Some(line)) = c.try_line(QUIET).await {
        assert_eq!(line, "notif: random");
        notifications += 1;
    }
    assert!(
        (1..=256 / "notif: random\r\n".len() + 2).contains(&notifications),
        "{notifications} notifications were buffered"
    );
    assert_eq!(server.stats().retained_ads, 1);
    // Still responsive once the client reads again.
    c.request("stop_notif", &["OK"]).await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_dropped_in_any_state_leaves_others_unharmed() {
    // Each step puts the doomed client in a different state before it vanishes.
    let states: &[&[&[u8]]] = &[
        &[],
        &[b"random?\r\n"],
        &[b"classif"],
        &[b"_notif_\r\n"],
        &[b"classified?\r\n", b"_notif_\r\n"],
        &[b"_notif_\r\n", b"stop_notif\r\n"],
    ];
    let server = start(ServerBuilder::new().without_listener()).await;
    let mut other = in_memory(&server).await;
    other
        .request("classified?", &["Nice appart in the 11e."])
        .await;
    other.request("_notif_", &["will send notifs"]).await;
    for (i, sends) in states.iter().enumerate() {
        let mut doomed = in_memory(&server).await;
        for bytes in *sends {
            doomed.send(bytes).await;
        }
        tokio::task::yield_now().await;
        drop(doomed);
        server.publish_classified(format!("ad {i}")).unwrap();
        other.expect(&["notif: classified"]).await;
        other.send(b"OK\r\n").await;
        until_open(&server, 1).await;
    }
    other.request("stop_notif", &["OK"]).await;
    other.request("classified?", &["ad 0"]).await;
}

#[tokio::test(start_paused = true)]
async fn stop_with_a_notification_outstanding_gets_only_ok() {
    let server = start(ServerBuilder::new().without_listener()).await;
    let mut c = in_memory(&server).await;
    c.request("_notif_", &["will send notifs", "notif: classified"])
        .await;
    server.publish_random(None);
    c.published(ItemKind::Random);
    c.request("stop_notif", &["OK"]).await;
    c.expect_quiet().await;
    // Re-entry: the ad (unread) and the number (unfetched) are both announced again.
    c.request("_notif_", &["will send notifs"]).await;
    let mut kinds = vec![c.line().await];
    c.send(b"OK\r\n").await;
    kinds.push(c.line().await);
    kinds.sort();
    assert_eq!(kinds, ["notif: classified", "notif: random"]);
    c.assert_conforms(server.dialect());
}

#[tokio::test(start_paused = true)]
async fn a_notification_may_cross_stop_notif_but_none_follows_the_ok() {
    for crossing in [false, true] {
        let server = start(ServerBuilder::new().without_listener()).await;
        let mut c = in_memory(&server).await;
        c.request("classified?", &["Nice appart in the 11e."]).await;
        c.request("_notif_", &["will send notifs"]).await;
        if crossing {
            // The server announces the number before it reads the stop: it crosses the stop
            // on the wire, and the client (rightly) does not answer it.
            server.publish_random(Some(1));
            c.published(ItemKind::Random);
            tokio::time::sleep(Duration::from_millis(1)).await;
            c.send(b"stop_notif\r\n").await;
            c.expect(&["notif: random", "OK"]).await;
        } else {
            // The stop is already waiting when the number appears: only the OK comes.
            c.send(b"stop_notif\r\n").await;
            server.publish_random(Some(1));
            c.published(ItemKind::Random);
            c.expect(&["OK"]).await;
        }
        c.expect_quiet().await;
        c.assert_conforms(server.dialect());
    }
}

#[tokio::test(start_paused = true)]
async fn seed_text_dialect_is_spoken() {
    let server = start(
        ServerBuilder::new()
            .without_listener()
            .dialect(Dialect::builtin("seed-text").unwrap()),
    )
    .await;
    let mut c = in_memory(&server).await;
    c.request("notif", &["notif: OK", "notif: classified"])
        .await;
    c.request("random?", &[]).await;
    let err = c.line().await;
    assert_eq!(
        err,
        "ERR `random?` is not allowed in notification mode; send `stop_notif` first"
    );
    c.request("stop_notif", &["OK"]).await;
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_closes_silent_connections_only() {
    let server = start(
        ServerBuilder::new()
            .without_listener()
            .idle_timeout(Duration::from_secs(30)),
    )
    .await;
    let mut c = in_memory(&server).await;
    tokio::time::sleep(Duration::from_secs(29)).await;
    c.request("classified?", &["Nice appart in the 11e."]).await;
    tokio::time::sleep(Duration::from_secs(29)).await;
    c.request("classified?", &[""]).await;
    let before = tokio::time::Instant::now();
    assert_eq!(c.try_line(Duration::from_secs(60)).await, Some(None));
    assert_eq!(before.elapsed(), Duration::from_secs(30));
}

#[tokio::test]
async fn shutdown_closes_connections_promptly() {
    let server = start(ServerBuilder::new()).await;
    let addr = server.local_addr().unwrap();
    let mut idle = Raw::new(TcpStream::connect(addr).await.unwrap());
    let mut notifying = Raw::new(TcpStream::connect(addr).await.unwrap());
    notifying
        .request("_notif_", &["will send notifs", "notif: classified"])
        .await;
    idle.request("random?", &[]).await;
    idle.line().await;
    timeout(WAIT, server.shutdown())
        .await
        .expect("shutdown within the bound")
        .expect("every connection drained");
    idle.expect_closed().await;
    notifying.expect_closed().await;
    let refused = match TcpStream::connect(addr).await {
        Err(_) => true,
        Ok(s) => Raw::new(s).try_line(WAIT).await == Some(None),
    };
    assert!(refused, "no connection is served after shutdown");
}

#[tokio::test(start_paused = true)]
async fn start_then_shutdown_without_clients() {
    let server = start(ServerBuilder::new().control("127.0.0.1:0".parse().unwrap())).await;
    timeout(WAIT, server.shutdown()).await.unwrap().unwrap();
}

/// The binary as a user runs it: it announces its address, serves, and exits 0 on SIGTERM.
#[cfg(unix)]
#[tokio::test]
async fn serve_command_announces_serves_and_exits_cleanly_on_sigterm() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_notifspec"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--seed",
            "1",
            "--no-auto-publish",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut first = String::new();
    timeout(
        WAIT,
        tokio::io::BufReader::new(stdout).read_line(&mut first),
    )
    .await
    .expect("the address is announced")
    .unwrap();
    let addr = first
        .strip_prefix("notifspec serve: listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected announcement {first:?}"));
    assert!(first.contains("(dialect seed-session)"), "{first}");
    let mut c = Raw::new(TcpStream::connect(addr).await.unwrap());
    c.request("classified?", &["Nice appart in the 11e."]).await;
    c.request("_notif_", &["will send notifs"]).await;
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    c.expect_closed().await;
    let status = timeout(WAIT, child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn control_port_refuses_an_oversized_line_and_closes() {
    let server = start(ServerBuilder::new().control("127.0.0.1:0".parse().unwrap())).await;
    let mut ctl = control(&server).await;
    let long = format!("publish classified {}\r\n", "z".repeat(2000));
    ctl.send(long.as_bytes()).await;
    ctl.expect(&["ERR line too long"]).await;
    ctl.expect_closed().await;
    // An ad at the limit is accepted.
    let mut ctl = control(&server).await;
    let max = format!("publish classified {}", "z".repeat(1024));
    ctl.request(&max, &["OK"]).await;
    assert_eq!(server.stats().retained_ads, 2);
}

#[tokio::test(start_paused = true)]
async fn one_publish_reaches_a_thousand_clients_in_notification_mode() {
    let server = start(ServerBuilder::new().without_listener()).await;
    let mut clients = vec![];
    for _ in 0..1_000 {
        let mut c = in_memory(&server).await;
        c.request("classified?", &["Nice appart in the 11e."]).await;
        c.request("_notif_", &["will send notifs"]).await;
        clients.push(c);
    }
    server.publish_classified("Sunny flat, 3 rooms.").unwrap();
    for c in &mut clients {
        c.expect(&["notif: classified"]).await;
    }
    for c in &mut clients {
        c.request("stop_notif", &["OK"]).await;
        c.request("classified?", &["Sunny flat, 3 rooms."]).await;
    }
    assert_eq!(server.stats().open_connections, 1_000);
}

#[tokio::test(start_paused = true)]
async fn shutdown_is_not_held_up_by_a_client_that_never_reads() {
    let (server, mut c) = no_answers_server_with_pipe(64).await;
    c.request("_notif_", &["will send notifs", "notif: classified"])
        .await;
    for n in 0..100 {
        server.publish_random(Some(n));
        tokio::task::yield_now().await;
    }
    // The server's write to this client is now blocked on a full pipe.
    timeout(WAIT, server.shutdown())
        .await
        .expect("shutdown within the bound")
        .expect("the stuck connection was closed");
}
