//! The user's own cases and the tooling around them, through the command line: `conform
//! --features/--transcripts/--only-own`, `steps`, `completions`, `man`.

use std::process::{Command, Output, Stdio};

fn notifspec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_notifspec"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("notifspec runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn own_features_and_transcripts_run_in_the_gate_and_count_per_rule() {
    let dir = tempfile::tempdir().unwrap();
    let feats = dir.path().join("features");
    std::fs::create_dir(&feats).unwrap();
    std::fs::write(
        feats.join("ours.feature"),
        "Feature: Ours\n  @S-RANDOM-INT\n  Scenario: our random is an integer\n    Given a server\n    And client A is connected\n    When client A sends \"random?\"\n    Then client A receives an integer\n",
    )
    .unwrap();
    let recs = dir.path().join("recs");
    std::fs::create_dir(&recs).unwrap();
    std::fs::write(recs.join("fetch.txt"), "C: random?\nS: {int}\n").unwrap();
    std::fs::write(
        recs.join("bad.txt"),
        "---\nexpect: [S-RANDOM-INT]\n---\nC: random?\nS: seven\n",
    )
    .unwrap();
    let (f, r) = (feats.to_str().unwrap(), recs.to_str().unwrap());
    let out = notifspec(&[
        "conform",
        "--features",
        f,
        "--transcripts",
        r,
        "--only-own",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["totals"]["passed"], 2, "{v}");
    // The negative transcript is checked offline: counted apart from tests of the target.
    assert_eq!(v["totals"]["offline_passed"], 1, "{v}");
    assert_eq!(v["rules"]["S-RANDOM-INT"]["passed"], 1, "{v}");
    let names: Vec<&str> = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"our random is an integer"), "{names:?}");
    assert!(
        names.contains(&format!("{r}/fetch.txt replays against the server").as_str()),
        "{names:?}"
    );

    // Without --only-own they join the embedded suite; the negative transcript is an offline
    // check (it judges a file, not the target), counted apart.
    let all = notifspec(&[
        "conform",
        "--transcripts",
        r,
        "--tags",
        "@S-RANDOM-INT",
        "--format",
        "json",
    ]);
    assert_eq!(all.status.code(), Some(0), "{}", text(&all.stdout));
    let v: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    let (passed, offline) = count_embedded();
    assert_eq!(v["totals"]["passed"].as_u64(), Some(passed), "{v}");
    assert_eq!(
        v["totals"]["offline_passed"].as_u64(),
        Some(offline + 1),
        "{v}"
    );

    // A negative transcript the checker no longer flags fails the gate.
    std::fs::write(
        recs.join("wrong.txt"),
        "---\nexpect: [S-ERR]\n---\nC: random?\nS: 4\n",
    )
    .unwrap();
    let out = notifspec(&["conform", "--transcripts", r, "--only-own"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("wrong.txt"),
        "{}",
        text(&out.stdout)
    );
}

/// Scenarios of the embedded suite tagged @S-RANDOM-INT that pass: those that run against the
/// references, and the offline checks of shipped transcripts.
fn count_embedded() -> (u64, u64) {
    let out = notifspec(&["conform", "--tags", "@S-RANDOM-INT", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let totals = &v["totals"];
    (
        totals["passed"].as_u64().unwrap(),
        totals["offline_passed"].as_u64().unwrap(),
    )
}

#[test]
fn an_unknown_sentence_in_an_own_feature_names_the_closest_steps() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("typo.feature"),
        "Feature: Typo\n  @S-RANDOM-INT\n  Scenario: typo\n    Given a server\n    And client A is conected\n",
    )
    .unwrap();
    let out = notifspec(&[
        "conform",
        "--features",
        dir.path().to_str().unwrap(),
        "--only-own",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("typo.feature:5"), "{stdout}");
    assert!(
        stdout.contains("closest: `client {word} is connected`"),
        "{stdout}"
    );
}

#[test]
fn steps_lists_the_vocabulary_and_looks_sentences_up() {
    let out = notifspec(&["steps"]);
    assert_eq!(out.status.code(), Some(0));
    let listing = text(&out.stdout);
    assert!(
        listing.contains("Connecting, requests and replies\n  a server\n"),
        "{listing}"
    );
    assert!(
        listing.contains("      {duration}: a number and a unit"),
        "{listing}"
    );
    assert!(
        listing.contains("e.g. When client A sends \"OK\""),
        "{listing}"
    );
    let out = notifspec(&["steps", "Then client B receives an integer"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "matches: client {word} receives an integer\n"
    );
    let out = notifspec(&["steps", "client B gets an integer", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["matches"], false);
    assert_eq!(v["closest"][0], "client {word} receives an integer", "{v}");
    let out = notifspec(&["steps", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.as_array().unwrap().len() >= 5);
    assert!(v[0]["steps"][0]["example"].is_string());
}

#[test]
fn completions_and_man_page_cover_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let out = notifspec(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = text(&out.stdout);
        for cmd in ["conform", "check", "replay", "simulate", "steps"] {
            assert!(script.contains(cmd), "{shell}: {cmd}");
        }
    }
    let out = notifspec(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = text(&out.stdout);
    assert!(page.contains(".TH notifspec 1"), "{page}");
    assert!(page.contains("conform"), "{page}");
}

/// `notifspec steps | head` is how people skim a listing: a reader that closes the pipe
/// before the end is not an error (the read end is closed before the command starts, so its
/// first write meets a closed pipe every time).
#[test]
fn listings_into_a_closed_pipe_exit_0() {
    for args in [&["steps"][..], &["man"], &["completions", "bash"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_notifspec"))
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), "", "{args:?}");
    }
}

/// Starts `notifspec` with piped stdout and stderr (the test kills what it starts).
fn spawn(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_notifspec"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("notifspec starts")
}

/// Starts the reference server on a free port; returns it and its address.
fn serve_json() -> (std::process::Child, serde_json::Value) {
    let mut server = spawn(&[
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--no-auto-publish",
        "--format",
        "json",
    ]);
    let ready = Lines::of(server.stdout.take().unwrap()).until(|_| true);
    let v = serde_json::from_str(&ready).unwrap_or_else(|e| panic!("{e}: {ready}"));
    (server, v)
}

#[test]
fn serve_announces_itself_as_json() {
    let (mut server, v) = serve_json();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(v["event"], "listening");
    assert_eq!(v["dialect"], "seed-session");
    assert!(v["addr"].as_str().unwrap().starts_with("127.0.0.1:"), "{v}");
    assert!(v["control"].is_null());
}

/// Reads lines of a child's stream on a thread; `next` waits for one at most 20 s.
struct Lines(std::sync::mpsc::Receiver<String>);

impl Lines {
    fn of(stream: impl std::io::Read + Send + 'static) -> Lines {
        use std::io::BufRead as _;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines(rx)
    }

    fn until(&self, what: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self
                .0
                .recv_timeout(std::time::Duration::from_secs(20))
                .expect("a line within 20 s");
            if what(&line) {
                return line;
            }
        }
    }
}

#[test]
fn proxy_writes_an_html_report_of_its_recordings_on_exit() {
    use std::io::{Read as _, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let (mut server, v) = serve_json();
    let upstream = v["addr"].as_str().unwrap().to_string();
    let html = dir.path().join("proxy.html");
    let rec = dir.path().join("rec");
    let mut proxy = spawn(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
        "--record",
        rec.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let events = Lines::of(proxy.stdout.take().unwrap());
    let listening = Lines::of(proxy.stderr.take().unwrap()).until(|l| l.contains("listening on"));
    let addr = listening
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap()
        .to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    conn.write_all(b"random?\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = conn.read(&mut buf).unwrap();
    assert!(n > 0);
    drop(conn);
    events.until(|l| l.contains(": closed, "));
    // Ctrl-C, as a person would stop it.
    let interrupted = Command::new("kill")
        .args(["-INT", &proxy.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(s) = proxy.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the proxy did not stop"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(status.code(), Some(0));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<title>notifspec proxy: PASS</title>"),
        "{page}"
    );
    assert!(page.contains("<summary>Passed (1)</summary>"), "{page}");
}
