//! The harness against hostile peers (issue 11): servers that are silent, send an endless line,
//! flood, reset, stall their reads, close on accept, answer one byte at a time, or send control
//! bytes; client commands that never exit, exit at once, fork and leave a child, or print
//! garbage. Each is run against `conform`, `replay`, `simulate --server`, `proxy` and `client`,
//! asserting that the run ends within its bounds, that memory stays bounded (each binary runs
//! with a data limit, `ulimit -d`, below what the hostile server sends: a harness that buffered
//! an endless line or a flood would be killed by the allocator, not pass), that the verdict
//! class and exit code are right, that peer bytes reach the terminal escaped, and that nothing
//! is left running.
//!
//! Loopback only; small `--timeout`s keep it fast. The bounds on waits are generous upper
//! limits that only a hang would reach, never timings being measured.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What a hostile server does with each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    /// Reads everything, never writes.
    Silent,
    /// Writes one line that never ends.
    EndlessLine,
    /// Writes notifications as fast as it can, never reads.
    Flood,
    /// Resets the connection as soon as it is accepted.
    Reset,
    /// Never reads, never writes, keeps the connection open.
    StallReads,
    /// Closes every connection at once.
    CloseOnAccept,
    /// Answers each line with a number, one byte every 200 ms (slower than the `--timeout`).
    Trickle,
    /// Answers each line with terminal control bytes (ESC, OSC, BEL, NUL).
    ControlBytes,
    /// A control port that answers `OK` to everything.
    OkControl,
}

/// The hostile line: a terminal title change, a screen clear, a bell and a NUL.
const EVIL: &[u8] = b"\x1b]0;pwned\x07\x1b[2J\x00evil\r\n";

/// What a hostile server writes at most on one connection: twice the data limit the binaries
/// run under ([`DATA_LIMIT_KB`]), so buffering it whole cannot fit.
const CAP: u64 = 96 * 1024 * 1024;

/// The data segment limit (`ulimit -d`, KiB) every binary here runs under. notifspec needs a
/// few MB; a buffer that grows with what a peer sends cannot stay under it.
const DATA_LIMIT_KB: u32 = 48 * 1024;

/// What a harness that gives up on a peer may let it write before closing: the line limit
/// plus the kernel's socket buffers on both sides (a few MB on loopback at most).
const TAKEN_BOUND: u64 = 16 * 1024 * 1024;

/// A loopback server that misbehaves in one way; it counts the bytes it wrote.
struct Hostile {
    addr: SocketAddr,
    written: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hostile {
    async fn start(act: Act) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let written = Arc::new(AtomicU64::new(0));
        let count = written.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                conns.spawn(serve(act, stream, count.clone()));
                while conns.try_join_next().is_some() {}
            }
        });
        Hostile {
            addr,
            written,
            task,
        }
    }

    fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

async fn serve(act: Act, mut stream: TcpStream, written: Arc<AtomicU64>) {
    let write_until_stopped = |chunk: Vec<u8>| {
        let written = written.clone();
        async move |stream: &mut TcpStream| {
            while written.load(Ordering::Relaxed) < CAP {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
                written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }
    };
    match act {
        Act::Silent => {
            let mut buf = [0u8; 4096];
            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
        }
        Act::EndlessLine => write_until_stopped(vec![b'x'; 64 * 1024])(&mut stream).await,
        Act::Flood => write_until_stopped(b"notif: random\r\n".repeat(4096))(&mut stream).await,
        Act::Reset => {
            let _ = stream.set_zero_linger();
        }
        Act::StallReads => tokio::time::sleep(Duration::from_secs(120)).await,
        Act::CloseOnAccept => {}
        Act::Trickle | Act::ControlBytes | Act::OkControl => {
            let (r, mut w) = stream.into_split();
            let mut lines = BufReader::new(r.take(1 << 20)).lines();
            while let Ok(Some(_)) = lines.next_line().await {
                let reply: &[u8] = match act {
                    Act::Trickle => b"123\r\n",
                    Act::ControlBytes => EVIL,
                    _ => b"OK\r\n",
                };
                for chunk in reply.chunks(if act == Act::Trickle { 1 } else { reply.len() }) {
                    if act == Act::Trickle {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    if w.write_all(chunk).await.is_err() {
                        return;
                    }
                    written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Runs the `notifspec` binary under [`DATA_LIMIT_KB`], bounded in time (a hang fails the
/// test, it does not hang it).
async fn notifspec(args: &[&str]) -> std::process::Output {
    let run = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -d {DATA_LIMIT_KB} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_notifspec"))
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .unwrap_or_else(|_| panic!("notifspec {args:?} did not end within 90 s"))
        .expect("notifspec ran")
}

/// No raw terminal control byte in `out` (escaped forms such as `\u{1b}` are fine).
fn assert_no_raw_controls(what: &str, out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{what} printed a raw control byte: {text:?}"
    );
}

fn assert_bounded(what: &str, h: &Hostile) {
    assert!(
        h.written() < TAKEN_BOUND,
        "{what}: the harness let the hostile server write {} bytes (it kept reading past its limit)",
        h.written()
    );
}

const PEER_ACTS: [Act; 8] = [
    Act::Silent,
    Act::EndlessLine,
    Act::Flood,
    Act::Reset,
    Act::StallReads,
    Act::CloseOnAccept,
    Act::Trickle,
    Act::ControlBytes,
];

/// `conform --server` against each hostile server: never a pass, never a crash, bounded,
/// escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conform_against_hostile_servers() {
    for act in PEER_ACTS {
        let h = Hostile::start(act).await;
        let addr = h.addr.to_string();
        let out = notifspec(&[
            "conform",
            "--server",
            &addr,
            "--tags",
            "@S-RANDOM-INT and not @offline",
            "--timeout",
            "300ms",
        ])
        .await;
        let what = format!("conform vs {act:?}");
        let code = out.status.code();
        // Every misbehaviour of a reachable server fails a rule (exit 1).
        // A reset right after the accept reads as a refusal or as a close depending on when
        // it lands: an error or a failure, never a pass.
        let ok = match act {
            Act::Reset => matches!(code, Some(1 | 2)),
            _ => code == Some(1),
        };
        assert!(
            ok,
            "{what}: exit {code:?}\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_no_raw_controls(&what, &out.stdout);
        assert_no_raw_controls(&what, &out.stderr);
    }
}

/// `replay` (client role) against each hostile server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_against_hostile_servers() {
    let file = transcript_path("basic/requests.txt");
    for act in PEER_ACTS {
        let h = Hostile::start(act).await;
        let addr = h.addr.to_string();
        let out = notifspec(&["replay", "--server", &addr, "--timeout", "300ms", &file]).await;
        let what = format!("replay vs {act:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let code = out.status.code();
        // Lines that break a rule fail (exit 1). A reset, a silence or a close where a reply
        // was due is never a pass (FAIL or ERROR: which one is the
        // replay verdict's business, issue 10).
        let ok = match act {
            Act::EndlessLine | Act::Flood | Act::ControlBytes => code == Some(1),
            _ => matches!(code, Some(1 | 2)),
        };
        assert!(ok, "{what}: exit {code:?}\n{stdout}");
        assert!(
            stdout.starts_with("FAIL ") || stdout.starts_with("ERROR "),
            "{what}: {stdout}"
        );
        assert_no_raw_controls(&what, &out.stdout);
        assert_no_raw_controls(&what, &out.stderr);
    }
}

/// `client` against each hostile server: ends (its `--timeout`), exit 1 or 2, escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_hostile_servers() {
    for act in PEER_ACTS {
        let h = Hostile::start(act).await;
        let addr = h.addr.to_string();
        let out = notifspec(&["client", "--server", &addr, "--timeout", "300ms"]).await;
        let what = format!("client vs {act:?}");
        let code = out.status.code();
        // A line that breaks a rule is exit 1; a silence, a close or a reset is exit 2.
        let expected = match act {
            Act::EndlessLine | Act::Flood | Act::ControlBytes => 1,
            _ => 2,
        };
        assert!(
            code == Some(expected),
            "{what}: exit {code:?}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_no_raw_controls(&what, &out.stdout);
        assert_no_raw_controls(&what, &out.stderr);
    }
}

fn transcript_path(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("transcripts")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

fn scenario(yaml: &str) -> notifspec::sim::LoadedScenario {
    notifspec::sim::LoadedScenario::from_yaml_str(yaml, "test.yaml", "test", None)
        .expect("valid scenario")
}

const SMALL: &str = "duration: 10s\nchecks: { drain: 2s }\nclients:\n  - { count: 3, behaviour: typical }\npublishers:\n  random: { rate: 1 }\n";

/// `simulate --server` against a server that closes every connection at once (or resets it):
/// no rule could be broken, yet nothing was tested. It said PASS; it is an error (exit 2) now.
/// A server that is silent or stalls while replies are due fails the reply rules.
#[tokio::test(start_paused = true)]
async fn simulate_never_passes_a_server_that_never_answers() {
    use notifspec::sim::external::{ExternalServer, run};
    for act in [Act::CloseOnAccept, Act::Reset, Act::Silent, Act::StallReads] {
        let server = Hostile::start(act).await;
        let control = Hostile::start(Act::OkControl).await;
        let target = ExternalServer {
            server: server.addr,
            control: control.addr,
        };
        let result = tokio::time::timeout(
            Duration::from_secs(600),
            run(&scenario(SMALL), target, 1, None, 10, None),
        )
        .await
        .expect("the run ends");
        match act {
            Act::CloseOnAccept | Act::Reset => {
                let err = result.expect_err("never a pass");
                assert!(
                    err.to_string().contains("never completed an exchange"),
                    "{act:?}: {err}"
                );
            }
            _ => {
                let report = result.expect("a run");
                assert!(!report.passed(), "{act:?}: {}", report.to_text());
            }
        }
    }
}

/// `simulate --server` against a control port that answers with an endless line: the reply
/// is cut at 4 KiB and the run is an error naming it. The reader used to buffer the line
/// whole (3.6 GB in 10 s).
#[tokio::test(start_paused = true)]
async fn simulate_cuts_an_endless_control_reply_at_the_limit() {
    use notifspec::net::ServerBuilder;
    use notifspec::sim::external::{ExternalServer, run};
    let server = ServerBuilder::new().start().await.expect("server starts");
    let control = Hostile::start(Act::EndlessLine).await;
    let target = ExternalServer {
        server: server.local_addr().unwrap(),
        control: control.addr,
    };
    let result = tokio::time::timeout(
        Duration::from_secs(600),
        run(&scenario(SMALL), target, 1, None, 10, None),
    )
    .await
    .expect("the run ends");
    let err = result.expect_err("the control port is broken");
    assert!(err.to_string().contains("over 4096 bytes"), "{err}");
    assert_bounded("simulate's control-port reader", &control);
    drop(server);
}

/// `simulate --server` (the binary) against a server that answers with control bytes: a
/// failure (exit 1) and the report shows the bytes escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_prints_a_servers_control_bytes_escaped() {
    let server = Hostile::start(Act::ControlBytes).await;
    let control = Hostile::start(Act::OkControl).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.yaml");
    std::fs::write(
        &file,
        "duration: 1s\nchecks: { drain: 500ms, reply_timeout: 300ms }\nclients:\n  - { count: 2, behaviour: typical, think: [10ms, 50ms] }\n",
    )
    .unwrap();
    let (s, c) = (server.addr.to_string(), control.addr.to_string());
    let out = notifspec(&[
        "simulate",
        file.to_str().unwrap(),
        "--server",
        &s,
        "--control",
        &c,
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_no_raw_controls("simulate", &out.stdout);
    assert_no_raw_controls("simulate", &out.stderr);
}

/// `proxy --record` in front of a flooding server: the recording stops at `--record-limit`
/// and says so in the file, while the flood is still forwarded. It grew without limit (287 MB
/// in 8 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_recording_of_a_flood_is_cut_at_the_limit_and_marked() {
    use notifspec::dialect::Dialect;
    use notifspec::net::proxy::{self, ProxyConfig, ProxyReport, TRUNCATED_MARK};
    let upstream = Hostile::start(Act::Flood).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ProxyConfig::new(upstream.addr.to_string(), Dialect::default());
    cfg.record = Some(dir.path().to_path_buf());
    cfg.record_limit = 64 * 1024;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sink: proxy::ReportSink = Arc::new(move |r| {
        let _ = tx.send(r);
    });
    let handle = proxy::start("127.0.0.1:0", cfg, sink).await.unwrap();
    let mut client = TcpStream::connect(handle.local_addr()).await.unwrap();
    // Read well past the limit through the proxy, then leave.
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0usize;
    while got < 1024 * 1024 {
        let n = tokio::time::timeout(Duration::from_secs(10), client.read(&mut buf))
            .await
            .expect("the flood is forwarded")
            .unwrap();
        assert!(n > 0);
        got += n;
    }
    drop(client);
    let recorded = loop {
        let r = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the connection ends")
            .expect("proxy alive");
        if let ProxyReport::Closed { recorded, .. } = r {
            break recorded.expect("the recording is kept");
        }
    };
    let text = std::fs::read_to_string(&recorded).unwrap();
    assert!(
        text.len() < 64 * 1024 + 8 * 1024,
        "{} bytes recorded",
        text.len()
    );
    let last = text.lines().last().unwrap();
    assert!(last.contains(TRUNCATED_MARK), "{last}");
    handle.shutdown().await;
}

/// SIGTERM flushes the proxy's open recordings as Ctrl-C does (they were left empty), and
/// `--record` naming a file is reported with that path (not the listen address).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_flushes_recordings_on_sigterm_and_names_a_bad_record_path() {
    use notifspec::net::ServerBuilder;
    let server = ServerBuilder::new().start().await.expect("server starts");
    let upstream = server.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();

    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let out = notifspec(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
        "--record",
        file.to_str().unwrap(),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--record {}", file.display())) && !stderr.contains("127.0.0.1"),
        "{stderr}"
    );

    let rec = dir.path().join("rec");
    let mut proxy = tokio::process::Command::new(env!("CARGO_BIN_EXE_notifspec"))
        .args(["proxy", "--listen", "127.0.0.1:0", "--upstream", &upstream])
        .arg("--record")
        .arg(&rec)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // "notifspec proxy: listening on ADDR, forwarding to ..."
    let mut err = BufReader::new(proxy.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), err.next_line())
        .await
        .expect("the proxy starts")
        .unwrap()
        .unwrap();
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .expect("the address")
        .to_string();
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    conn.write_all(b"random?\r\n").await.unwrap();
    let mut reply = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut reply))
        .await
        .expect("a reply through the proxy")
        .unwrap();
    assert!(n > 0);
    // SIGTERM while the connection is still open.
    let pid = proxy.id().unwrap() as i32;
    assert_eq!(unsafe { libc_kill(pid, 15) }, 0);
    let status = tokio::time::timeout(Duration::from_secs(30), proxy.wait())
        .await
        .expect("the proxy stops on SIGTERM")
        .unwrap();
    assert!(status.code().is_some(), "ended by the signal: {status:?}");
    let recording = std::fs::read_dir(&rec)
        .unwrap()
        .next()
        .expect("one recording")
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&recording).unwrap();
    assert!(text.contains("C: random?"), "{text}");
    drop(conn);
    drop(server);
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// The pids a client command wrote to `pidfile` (one a line).
fn pids(pidfile: &Path) -> Vec<u32> {
    std::fs::read_to_string(pidfile)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Waits (bounded) for SIGKILLed processes to go; returns those still running.
async fn left_running(pids: &[u32]) -> Vec<u32> {
    for _ in 0..300 {
        let alive: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| notifspec::process::is_running(*p))
            .collect();
        if alive.is_empty() {
            return alive;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pids.iter()
        .copied()
        .filter(|p| notifspec::process::is_running(*p))
        .collect()
}

/// A client command that forks a child which would outlive it (`sleep 1000 &`), then runs
/// `rest`; every pid it starts is appended to `pidfile`.
fn forking(pidfile: &Path, rest: &str) -> String {
    let p = pidfile.display();
    format!("sleep 1000 & echo $! >> '{p}'; echo $$ >> '{p}'; {rest}")
}

/// `conform --client-cmd` with clients that fork, never exit, exit at once, or send garbage:
/// the right exit code, and nothing they started is left running afterwards. Only the shell
/// used to be killed: one orphan per client scenario.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conform_leaves_no_client_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_notifspec");
    let garbage = dir.path().join("garbage.sh");
    std::fs::write(
        &garbage,
        "a=$1\nexec 3<>/dev/tcp/${a%:*}/${a##*:}\nprintf '\\033[2J\\033]0;pwned\\007'\n\
         printf '\\033]0;pwned\\007\\033[2J\\000random?\\r\\n' >&3\nsleep 1000\n",
    )
    .unwrap();
    let cases = [
        // A real client that also forks a child.
        (
            "forks",
            format!("exec '{bin}' client --server {{addr}} --interest classified --timeout 2s"),
            0,
        ),
        // Never connects, never exits.
        ("never exits", "exec sleep 1000 # {addr}".to_string(), 2),
        // Exits at once.
        ("exits at once", "exit 0 # {addr}".to_string(), 2),
        // Connects, sends control bytes, prints garbage, never exits.
        (
            "garbage",
            format!("exec bash '{}' {{addr}}", garbage.display()),
            1,
        ),
    ];
    for (name, rest, code) in cases {
        let pidfile = dir.path().join(format!("{name}.pids"));
        let cmd = forking(&pidfile, &rest);
        let out = notifspec(&["conform", "--client-cmd", &cmd, "--timeout", "500ms"]).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "{name}: {stdout}");
        assert_no_raw_controls(name, &out.stdout);
        assert_no_raw_controls(name, &out.stderr);
        let started = pids(&pidfile);
        assert!(started.len() >= 2, "{name}: {started:?}");
        let alive = left_running(&started).await;
        assert!(alive.is_empty(), "{name}: left running: {alive:?}");
    }
}

/// `replay --role server --client-cmd` with a client that forks and prints garbage on stderr:
/// the child goes too, and the garbage is shown escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_leaves_no_client_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let bin = env!("CARGO_BIN_EXE_notifspec");
    let script = dir.path().join("client.sh");
    let body = forking(
        &pidfile,
        &format!(
            "printf '\\033[2J\\033]0;pwned\\007garbage\\n' >&2; \
             exec '{bin}' client --server \"$1\" --interest classified --timeout 2s"
        ),
    );
    std::fs::write(&script, body).unwrap();
    // replay runs `exec CMD`: a shell that forks, then becomes the client.
    let cmd = format!("sh '{}' {{addr}}", script.display());
    let file = transcript_path("client-usage/fetch-announced.txt");
    let out = notifspec(&[
        "replay",
        "--role",
        "server",
        "--client-cmd",
        &cmd,
        "--timeout",
        "1s",
        &file,
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{stdout}");
    // The client's stderr is shown, escaped, line by line.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("client: \\u{1b}[2J\\u{1b}]0;pwned\\u{7}garbage"),
        "{stderr}"
    );
    assert_no_raw_controls("replay --role server", &out.stdout);
    assert_no_raw_controls("replay --role server", &out.stderr);
    let started = pids(&pidfile);
    assert!(started.len() >= 2, "{started:?} {stdout}");
    let alive = left_running(&started).await;
    assert!(alive.is_empty(), "left running: {alive:?}");
}

/// Ctrl-C (SIGINT) on `conform` and SIGTERM on `replay --role server` end the client
/// command's whole group, which runs in a group of its own and so does not get the
/// terminal's signal; notifspec exits 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_or_sigterm_ends_the_client_group() {
    let file = transcript_path("client-usage/fetch-announced.txt");
    for (command, signal) in [("conform", 2), ("replay", 15)] {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pids");
        let cmd = forking(&pidfile, "exec sleep 1000 # {addr}");
        let mut args = vec![command, "--client-cmd", &cmd, "--timeout", "30s"];
        if command == "replay" {
            args.extend(["--role", "server", &file]);
        }
        let mut run = tokio::process::Command::new(env!("CARGO_BIN_EXE_notifspec"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut started = Vec::new();
        for _ in 0..3000 {
            started = pids(&pidfile);
            if started.len() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            started.len() >= 2,
            "{command}: the client command started: {started:?}"
        );
        let pid = run.id().unwrap() as i32;
        assert_eq!(unsafe { libc_kill(pid, signal) }, 0);
        let status = tokio::time::timeout(Duration::from_secs(30), run.wait())
            .await
            .unwrap_or_else(|_| panic!("{command} stops on signal {signal}"))
            .unwrap();
        assert_eq!(status.code(), Some(130), "{command}");
        let alive = left_running(&started).await;
        assert!(alive.is_empty(), "{command}: left running: {alive:?}");
    }
}

/// The control port has its own connection limit: idle control connections past it are
/// told so and closed, and protocol clients are still served. 400 idle control connections
/// used to take every descriptor and lock protocol clients out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_control_connections_cannot_lock_protocol_clients_out() {
    use notifspec::net::ServerBuilder;
    use notifspec::net::control::{MAX_CONTROL_CONNS, TOO_MANY_CONTROL};
    let server = ServerBuilder::new()
        .control("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .expect("server starts");
    let control = server.control_addr().unwrap();
    let mut idle = Vec::new();
    for _ in 0..MAX_CONTROL_CONNS {
        idle.push(TcpStream::connect(control).await.unwrap());
    }
    // Every one of them is served: one publishes.
    idle[0].write_all(b"publish random 7\r\n").await.unwrap();
    let mut line = String::new();
    let mut r = BufReader::new(&mut idle[0]);
    tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut line))
        .await
        .expect("an answer")
        .unwrap();
    assert_eq!(line, "OK\r\n");
    // The next ones are refused with a line and closed.
    for _ in 0..10 {
        let extra = TcpStream::connect(control).await.unwrap();
        let mut text = String::new();
        tokio::time::timeout(
            Duration::from_secs(10),
            extra.take(4096).read_to_string(&mut text),
        )
        .await
        .expect("refused and closed")
        .unwrap();
        assert_eq!(text, format!("{TOO_MANY_CONTROL}\r\n"));
    }
    // A protocol client is still served.
    let mut c = TcpStream::connect(server.local_addr().unwrap())
        .await
        .unwrap();
    c.write_all(b"random?\r\n").await.unwrap();
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(&mut c).read_line(&mut line),
    )
    .await
    .expect("a reply")
    .unwrap();
    assert_eq!(line, "7\r\n");
    // A freed slot is reused.
    drop(idle.pop());
    let mut again = None;
    for _ in 0..500 {
        let mut s = TcpStream::connect(control).await.unwrap();
        s.write_all(b"publish random 8\r\n").await.unwrap();
        let mut line = String::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(10),
            BufReader::new(&mut s).read_line(&mut line),
        )
        .await;
        if line == "OK\r\n" {
            again = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(again.is_some(), "a freed control slot is served again");
}

/// `replay` hands each verdict out as soon as it is known, in input order, before the next
/// transcript is even started (with `--jobs 1`); it used to hold every result until the end
/// (800 transcripts: 283 MB, nothing printed until all were done). At most `jobs` results
/// are alive at once, by construction of `replay_each`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_prints_each_verdict_before_starting_the_next() {
    use notifspec::replay::replay_each;
    use notifspec::replay::{Options, ReplayTarget, ServerTarget};
    let events = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = events.clone();
    let server = tokio::spawn(async move {
        let mut n = 0;
        while let Ok((s, _)) = listener.accept().await {
            n += 1;
            seen.lock().unwrap().push(format!("connection {n}"));
            drop(s);
        }
    });
    let opts = Options::new(ReplayTarget::Server(ServerTarget {
        addr: addr.to_string(),
        control: None,
        publish_cmd: None,
    }));
    let files: Vec<std::path::PathBuf> = (0..3)
        .map(|_| transcript_path("basic/requests.txt").into())
        .collect();
    let mut n = 0;
    let done = tokio::time::timeout(
        Duration::from_secs(60),
        replay_each(&files, &opts, 1, |r| {
            n += 1;
            assert!(r.result.verdict != notifspec::report::Verdict::Pass);
            events.lock().unwrap().push(format!("verdict {n}"));
            true
        }),
    )
    .await
    .expect("the replays end");
    assert!(done);
    server.abort();
    assert_eq!(
        *events.lock().unwrap(),
        [
            "connection 1",
            "verdict 1",
            "connection 2",
            "verdict 2",
            "connection 3",
            "verdict 3"
        ]
    );
}

/// Durations are bounded by clap: a huge `--timeout` is a usage error (exit 2), not a panic
/// (exit 101) when it is added to the clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overflowing_timeout_is_a_usage_error() {
    for cmd in [
        &["conform", "--timeout", "5000000000000000000s"][..],
        &["replay", "--timeout", "5000000000000000000s", "x.txt"][..],
        &["client", "--timeout", "5000000000000000000s"][..],
    ] {
        let out = notifspec(cmd).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {stderr}");
        assert!(stderr.contains("longer than the most"), "{stderr}");
    }
}

/// A file name with a newline and an escape sequence cannot forge a report line or reach the
/// terminal raw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_names_cannot_forge_report_lines() {
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("x\nPASS forged.txt\u{1b}[2J");
    std::fs::copy(transcript_path("basic/requests.txt"), &evil).unwrap();
    let out = notifspec(&["replay", evil.to_str().unwrap()]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        !stdout.lines().any(|l| l.starts_with("PASS forged")),
        "{stdout}"
    );
    assert!(stdout.contains("x\\nPASS forged.txt\\u{1b}[2J"), "{stdout}");
    assert_no_raw_controls("replay", &out.stdout);

    // A scenario's name is shown escaped too.
    let scenario = dir.path().join("s.yaml");
    std::fs::write(
        &scenario,
        "name: \"evil\\nverdict      FAIL\\u001b[2J\"\nduration: 1s\nclients:\n  - { count: 1 }\n",
    )
    .unwrap();
    let out = notifspec(&["simulate", scenario.to_str().unwrap()]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("verdict")).count(),
        1,
        "{stdout}"
    );
    assert!(
        stdout.contains("evil\\nverdict      FAIL\\u{1b}[2J"),
        "{stdout}"
    );
    assert_no_raw_controls("simulate", &out.stdout);
}

/// `proxy --record` in front of each hostile server: the client gets what the server sent (or
/// its close), the connection ends when both sides are done, every recording stays under its
/// limit, and nothing panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_in_front_of_hostile_servers() {
    use notifspec::dialect::Dialect;
    use notifspec::net::proxy::{self, ProxyConfig, ProxyReport};
    const LIMIT: u64 = 16 * 1024;
    for act in PEER_ACTS {
        let upstream = Hostile::start(act).await;
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = ProxyConfig::new(upstream.addr.to_string(), Dialect::default());
        cfg.record = Some(dir.path().to_path_buf());
        cfg.record_limit = LIMIT;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let sink: proxy::ReportSink = Arc::new(move |r| {
            let _ = tx.send(r);
        });
        let handle = proxy::start("127.0.0.1:0", cfg, sink).await.unwrap();
        // A reset passed on by the proxy may reach the client before its connect completes.
        if let Ok(mut client) = TcpStream::connect(handle.local_addr()).await {
            let _ = client.write_all(b"random?\r\n").await;
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = 0usize;
            // Read what comes for a while (a flood or an endless line: a bounded amount).
            while got < 512 * 1024 {
                let read = client.read(&mut buf);
                match tokio::time::timeout(Duration::from_millis(300), read).await {
                    Ok(Ok(n)) if n > 0 => got += n,
                    _ => break,
                }
            }
        }
        // A server that never reads or never closes keeps its half open, as it would
        // without the proxy; every other connection ends.
        if act != Act::StallReads {
            loop {
                let r = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                    .await
                    .unwrap_or_else(|_| panic!("proxy vs {act:?}: the connection ends"))
                    .expect("proxy alive");
                // A reset can also land before the proxy's connect completes.
                if matches!(
                    r,
                    ProxyReport::Closed { .. } | ProxyReport::UpstreamFailed { .. }
                ) {
                    break;
                }
            }
        }
        handle.shutdown().await;
        for f in std::fs::read_dir(dir.path()).unwrap() {
            let len = f.unwrap().metadata().unwrap().len();
            assert!(
                len < LIMIT + 8 * 1024,
                "proxy vs {act:?}: {len} bytes recorded"
            );
        }
    }
}
