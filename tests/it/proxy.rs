//! `notifspec proxy`: invisible to both sides (bytes, half-closes and resets pass unchanged),
//! violations reported live with the connection id, and recordings that `check` and `replay`
//! accept. Real loopback sockets; every wait is bounded.

use std::sync::Arc;
use std::time::Duration;

use notifspec::checker::Party;
use notifspec::cmd::client::{Args as ClientArgs, watch};
use notifspec::dialect::{Dialect, ItemKind};
use notifspec::net::proxy::{self, ProxyConfig, ProxyHandle, ProxyReport};
use notifspec::net::{PublishSchedule, ServerBuilder};
use notifspec::replay::{self, Options, ReplayTarget};
use notifspec::report::Verdict;
use notifspec::rule::RuleId;
use notifspec::transcript::Transcript;
use notifspec::transcript::check_transcript;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;

pub(crate) const WAIT: Duration = Duration::from_secs(10);

pub(crate) async fn start_proxy(
    upstream: String,
    record: Option<std::path::PathBuf>,
) -> (ProxyHandle, mpsc::UnboundedReceiver<ProxyReport>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut cfg = ProxyConfig::new(upstream, Dialect::default());
    cfg.record = record;
    let sink: proxy::ReportSink = Arc::new(move |r| {
        let _ = tx.send(r);
    });
    let handle = proxy::start("127.0.0.1:0", cfg, sink).await.unwrap();
    (handle, rx)
}

/// Collects reports until `done` says the last wanted one arrived (bounded by [`WAIT`]).
pub(crate) async fn reports_until(
    rx: &mut mpsc::UnboundedReceiver<ProxyReport>,
    done: impl Fn(&ProxyReport) -> bool,
) -> Vec<ProxyReport> {
    let mut seen = vec![];
    loop {
        let r = timeout(WAIT, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no such report within {WAIT:?}; got {seen:?}"))
            .expect("proxy gone");
        let last = done(&r);
        seen.push(r);
        if last {
            return seen;
        }
    }
}

pub(crate) fn is_closed(r: &ProxyReport) -> bool {
    matches!(r, ProxyReport::Closed { .. })
}

#[tokio::test]
async fn recording_between_the_reference_client_and_server_passes_check_and_replay() {
    let server = ServerBuilder::new()
        .publish_schedule(PublishSchedule {
            random: Some(Duration::from_millis(50)),
            classified: None,
        })
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (proxy, mut rx) = start_proxy(
        server.local_addr().unwrap().to_string(),
        Some(dir.path().to_path_buf()),
    )
    .await;
    // The client answers OK to the ad unread since connect, then leaves the mode to fetch
    // the next random number, and exits after those two notifications.
    let args = ClientArgs {
        server: proxy.local_addr().to_string(),
        dialect: "seed-session".into(),
        interest: vec![ItemKind::Random],
        count: Some(2),
        timeout: WAIT,
        keepalive: None,
        format: notifspec::cmd::OutputFormat::Text,
    };
    let mut out = Vec::new();
    timeout(WAIT, watch(&args, Dialect::default(), &mut out))
        .await
        .unwrap()
        .unwrap();
    let reports = reports_until(&mut rx, is_closed).await;
    assert!(
        !reports
            .iter()
            .any(|r| matches!(r, ProxyReport::Violation { .. })),
        "{reports:?}"
    );
    assert!(reports.contains(&ProxyReport::HalfClosed {
        conn: 1,
        by: Party::Client
    }));
    let Some(ProxyReport::Closed {
        conn: 1,
        violations: 0,
        recorded: Some(path),
    }) = reports.last()
    else {
        panic!("{reports:?}");
    };
    let text = std::fs::read_to_string(path).unwrap();
    let t = Transcript::from_file(path).unwrap();
    assert_eq!(t.front.dialect.as_deref(), Some("seed-session"), "{text}");
    assert!(text.contains("# recorded by notifspec proxy at "), "{text}");
    assert!(text.contains("# client 127.0.0.1:"), "{text}");
    assert!(text.contains("# +0."), "timestamps as comments: {text}");
    assert!(text.contains("S: notif: classified\n"), "{text}");
    assert!(text.contains("S: notif: random\n"), "{text}");
    assert!(t.is_complete(), "the client closed: {text}");
    assert_eq!(check_transcript(&t, &Dialect::default()), vec![], "{text}");
    let replayed = replay::replay_file(path, &Options::new(ReplayTarget::Embedded)).await;
    assert_eq!(
        replayed.result.verdict,
        Verdict::Pass,
        "{replayed:?}\n{text}"
    );
    proxy.shutdown().await;
}

/// An upstream that records every byte it receives and sends `reply` once it has read
/// `expect` bytes, then half-closes.
async fn byte_sink(
    expect: usize,
    reply: &'static [u8],
) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = vec![];
        let mut buf = [0u8; 4096];
        while got.len() < expect {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        s.write_all(reply).await.unwrap();
        s.shutdown().await.unwrap();
        // Read until the client's half-close arrives through the proxy.
        let mut rest = vec![];
        s.read_to_end(&mut rest).await.unwrap();
        got.extend_from_slice(&rest);
        got
    });
    (addr, task)
}

#[tokio::test]
async fn bytes_pass_unchanged_and_half_closes_and_oversized_lines_are_reported() {
    // LF, CRLF, a lone CR, invalid UTF-8 and an oversized line, all forwarded as they are.
    let mut sent = b"random?\nclassified?\r\nodd\rline\n\xff\xfe\n".to_vec();
    sent.extend(std::iter::repeat_n(b'x', 3000));
    sent.extend_from_slice(b"\n");
    let reply: &[u8] = b"42\r\nan ad\nERR \xff\r\n";
    let (upstream, task) = byte_sink(sent.len(), reply).await;
    let dir = tempfile::tempdir().unwrap();
    let (proxy, mut rx) = start_proxy(upstream, Some(dir.path().to_path_buf())).await;
    let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    c.write_all(&sent).await.unwrap();
    let mut got = vec![];
    // The upstream half-closes after its reply: the client sees EOF, yet can still send.
    timeout(WAIT, c.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, reply);
    c.write_all(b"late\n").await.unwrap();
    c.shutdown().await.unwrap();
    let upstream_got = timeout(WAIT, task).await.unwrap().unwrap();
    let mut want = sent.clone();
    want.extend_from_slice(b"late\n");
    assert_eq!(upstream_got, want, "bytes reach the upstream unchanged");
    let reports = reports_until(&mut rx, is_closed).await;
    assert!(reports.contains(&ProxyReport::Oversized {
        conn: 1,
        from: Party::Client
    }));
    assert!(reports.contains(&ProxyReport::HalfClosed {
        conn: 1,
        by: Party::Server
    }));
    assert!(reports.contains(&ProxyReport::HalfClosed {
        conn: 1,
        by: Party::Client
    }));
    // Even odd traffic is recorded as a transcript that parses: the oversized line as a
    // comment, invalid UTF-8 replaced, the server's close first.
    let Some(ProxyReport::Closed {
        recorded: Some(path),
        ..
    }) = reports.last()
    else {
        panic!("{reports:?}");
    };
    let t = Transcript::from_file(path).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains("# client sent a line over 1024 bytes"),
        "{text}"
    );
    assert!(text.contains("C: random?\n"), "{text}");
    assert!(text.contains("S: ERR \u{fffd}\n"), "{text}");
    assert!(text.contains("! expect close\n"), "{text}");
    assert!(t.is_complete(), "{text}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_reset_is_passed_on_as_a_reset_and_reported() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap().to_string();
    let (proxy, mut rx) = start_proxy(upstream, None).await;
    let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let (mut s, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    // Establish the conversation through the proxy first, then reset.
    s.write_all(b"hello\n").await.unwrap();
    let mut buf = [0u8; 6];
    timeout(WAIT, c.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    s.set_zero_linger().unwrap();
    drop(s);
    let reports = reports_until(&mut rx, is_closed).await;
    let mut buf = [0u8; 16];
    let read = timeout(WAIT, c.read(&mut buf)).await.unwrap();
    let err = read.expect_err(&format!(
        "the client sees a reset, not an orderly close: {reports:?}"
    ));
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    assert!(
        reports.contains(&ProxyReport::Reset {
            conn: 1,
            by: Party::Server
        }),
        "{reports:?}"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn violations_are_reported_live_with_the_connection_id() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap().to_string();
    let (proxy, mut rx) = start_proxy(upstream, None).await;
    let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let (mut s, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    // A notification outside the mode, while both sides stay connected.
    s.write_all(b"notif: random\r\n").await.unwrap();
    let reports = reports_until(&mut rx, |r| matches!(r, ProxyReport::Violation { .. })).await;
    let v = reports.last().unwrap();
    let ProxyReport::Violation { conn, violation } = v else {
        unreachable!()
    };
    assert_eq!((*conn, violation.rule), (1, RuleId::SNotifInMode));
    assert!(
        v.to_string().starts_with("conn 1: S-NOTIF-IN-MODE: "),
        "{v}"
    );
    let mut buf = [0u8; 64];
    let n = timeout(WAIT, c.read(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"notif: random\r\n");
    proxy.shutdown().await;
}

/// `notifspec proxy` runs its connections on threads of their own (`ProxyConfig::threads`),
/// handed out in turn: each is still forwarded, judged with its id, and recorded, and
/// stopping the proxy flushes the recordings of the connections still open on those threads.
#[tokio::test]
async fn connections_on_the_proxys_own_threads_are_forwarded_judged_and_recorded() {
    const CONNS: usize = 3;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut cfg = ProxyConfig::new(
        listener.local_addr().unwrap().to_string(),
        Dialect::default(),
    );
    cfg.record = Some(dir.path().to_path_buf());
    cfg.threads = 2;
    let sink: proxy::ReportSink = Arc::new(move |r| {
        let _ = tx.send(r);
    });
    let proxy = proxy::start("127.0.0.1:0", cfg, sink).await.unwrap();
    let mut clients = Vec::new();
    let mut servers = Vec::new();
    for _ in 0..CONNS {
        clients.push(TcpStream::connect(proxy.local_addr()).await.unwrap());
        servers.push(timeout(WAIT, listener.accept()).await.unwrap().unwrap().0);
    }
    // A notification outside the mode on every connection: forwarded and reported.
    for s in &mut servers {
        s.write_all(b"notif: random\r\n").await.unwrap();
    }
    for c in &mut clients {
        let mut buf = [0u8; 15];
        timeout(WAIT, c.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf, b"notif: random\r\n");
    }
    let mut judged = Vec::new();
    while judged.len() < CONNS {
        let r = reports_until(&mut rx, |r| matches!(r, ProxyReport::Violation { .. })).await;
        if let Some(ProxyReport::Violation { conn, violation }) = r.last() {
            assert_eq!(violation.rule, RuleId::SNotifInMode);
            judged.push(*conn);
        }
    }
    judged.sort();
    assert_eq!(judged, [1, 2, 3]);
    // Stopped with every connection open: each recording is flushed, not left empty.
    drop(proxy);
    let mut recorded = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(text.contains("S: notif: random\n"), "{text}");
        recorded += 1;
    }
    assert_eq!(recorded, CONNS);
}

#[tokio::test]
async fn an_unreachable_upstream_closes_the_client_and_is_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = listener.local_addr().unwrap().to_string();
    drop(listener);
    let (proxy, mut rx) = start_proxy(upstream, None).await;
    let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let mut buf = [0u8; 8];
    let err = timeout(WAIT, c.read(&mut buf)).await.unwrap().unwrap_err();
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::ConnectionReset,
        "refused is passed on as a reset"
    );
    let reports = reports_until(&mut rx, |r| matches!(r, ProxyReport::UpstreamFailed { .. })).await;
    assert!(
        reports
            .last()
            .unwrap()
            .to_string()
            .starts_with("conn 1: upstream unreachable")
    );
    proxy.shutdown().await;
}

/// Regression: the proxy once forwarded a chunk before showing it to the checker, so a fast
/// server's reply could reach the checker before the request it answers (false S-REPLY-ONE,
/// S-MODE-ACK). Hundreds of instant request/reply rounds must give no violation at all. Two
/// worker threads, so the proxy's connection and the test's peers really run side by side.
/// (The old interleaving needed the forwarding thread to be preempted between its
/// write and its bookkeeping, which a loaded machine did at once but a test cannot force;
/// this guards the order, it does not prove the race.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_reply_never_overtakes_its_request_in_the_checker() {
    const ROUNDS: usize = 300;
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let (mut s, _) = upstream.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 256];
        loop {
            let n = s.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=i).collect();
                let reply: &[u8] = match &line[..] {
                    b"_notif_\r\n" => b"will send notifs\r\n",
                    b"stop_notif\r\n" => b"OK\r\n",
                    _ => b"12345\r\n",
                };
                s.write_all(reply).await.unwrap();
            }
        }
    });
    let (proxy, mut rx) = start_proxy(upstream_addr, None).await;
    let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let mut got = Vec::new();
    for round in 0..ROUNDS {
        let (ask, expect): (&[u8], &[u8]) = match round % 3 {
            0 => (b"random?\r\n", b"12345\r\n"),
            1 => (b"_notif_\r\n", b"will send notifs\r\n"),
            _ => (b"stop_notif\r\n", b"OK\r\n"),
        };
        c.write_all(ask).await.unwrap();
        got.clear();
        while !got.ends_with(b"\n") {
            let mut b = [0u8; 64];
            let n = timeout(WAIT, c.read(&mut b)).await.unwrap().unwrap();
            assert!(n > 0, "closed early");
            got.extend_from_slice(&b[..n]);
        }
        assert_eq!(&got[..], expect);
    }
    drop(c);
    let reports = reports_until(&mut rx, is_closed).await;
    let violations: Vec<_> = reports
        .iter()
        .filter(|r| matches!(r, ProxyReport::Violation { .. }))
        .collect();
    assert!(violations.is_empty(), "{violations:?}");
    timeout(WAIT, server).await.unwrap().unwrap();
    proxy.shutdown().await;
}
