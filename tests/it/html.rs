//! The HTML report, opened in a real browser: headless Chromium renders a report of a real
//! failure, and its DOM and a screenshot are checked.
//!
//! Skipped with a note when `/usr/bin/chromium` is missing, unless `NOTIFSPEC_REQUIRE_CHROMIUM=1`
//! (set by `.ci/run`, which installs it), where a missing browser is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use notifspec::cmd::{OutputFormat, Status, check};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium, or `None` (after saying why) when it is absent and not required.
fn chromium() -> Option<PathBuf> {
    let path = Path::new(CHROMIUM);
    if path.exists() {
        return Some(path.to_path_buf());
    }
    if std::env::var("NOTIFSPEC_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
        panic!("NOTIFSPEC_REQUIRE_CHROMIUM=1 but {CHROMIUM} is missing (apt-get install chromium)");
    }
    eprintln!("note: {CHROMIUM} not found; the browser test of the HTML report is skipped");
    None
}

/// Runs headless Chromium with no network, no profile and no background activity, bounded in
/// time; returns its stdout.
fn run_chromium(exe: &Path, profile: &Path, extra: &[String], page: &Path) -> Vec<u8> {
    let mut cmd = Command::new(exe);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("chromium starts");
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut out);
        out
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().expect("reader")
}

/// A report of a real failure: a transcript breaking S-NOTIF-WINDOW without saying so.
fn failing_report(dir: &Path) -> PathBuf {
    let transcript = dir.join("window.txt");
    std::fs::write(
        &transcript,
        "C: _notif_\nS: will send notifs\nS: notif: classified\n! publish random 3\nS: notif: random\n",
    )
    .unwrap();
    let html = dir.join("report.html");
    let status = check::run(check::Args {
        paths: vec![transcript],
        format: OutputFormat::Json,
        dialect: None,
        allow_path: vec![],
        html: notifspec::html::HtmlArgs {
            html: Some(html.clone()),
            html_overwrite: false,
        },
    });
    assert_eq!(status, Status::Fail);
    html
}

#[test]
fn chromium_renders_the_failure_with_its_rule_and_a_red_arrow() {
    let Some(exe) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = failing_report(dir.path());
    let profile = dir.path().join("profile");
    let dom = run_chromium(&exe, &profile, &["--dump-dom".to_string()], &page);
    let dom = String::from_utf8_lossy(&dom);
    // The browser parsed it into the elements a reader sees.
    assert!(dom.contains("<table class=\"rules\">"), "{dom}");
    assert!(dom.contains("id=\"rule-S-NOTIF-WINDOW\""), "{dom}");
    assert!(dom.contains("<span class=\"badge fail\" id=\"verdict\">FAIL</span>"));
    assert!(
        dom.contains("<g class=\"arrow bad\" data-rule=\"S-NOTIF-WINDOW\">"),
        "{dom}"
    );
    assert!(dom.contains("stroke=\"#c62828\""));
    assert!(dom.contains("<code class=\"rule\">S-NOTIF-WINDOW</code>"));

    let shot = dir.path().join("shot.png");
    run_chromium(
        &exe,
        &profile,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=800,1000".to_string(),
        ],
        &page,
    );
    let (width, height, pixels) = decode_rgb(&shot);
    assert_eq!((width, height), (800, 1000));
    // Not blank: many pixels differ from the background, and some are the report's red.
    let background = &pixels[..3];
    let differing = pixels.chunks(3).filter(|p| p != &background).count();
    assert!(
        differing > pixels.len() / 3 / 50,
        "only {differing} pixels differ from the background"
    );
    let red = pixels
        .chunks(3)
        .filter(|p| p[0] > 150 && p[1] < 80 && p[2] < 80)
        .count();
    assert!(red > 100, "only {red} red pixels");
}

/// The screenshot as 8-bit RGB.
fn decode_rgb(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("screenshot written"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    buf.truncate(info.buffer_size());
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let rgb = buf.chunks(channels).flat_map(|p| p[..3].to_vec()).collect();
    (info.width, info.height, rgb)
}

fn notifspec(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_notifspec"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("notifspec runs")
}

#[test]
fn an_existing_report_is_refused_unless_overwriting_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("ok.txt");
    std::fs::write(&t, "C: random?\nS: 4\n").unwrap();
    let html = dir.path().join("r.html");
    std::fs::write(&html, "keep me").unwrap();
    let (t, h) = (t.to_str().unwrap(), html.to_str().unwrap());
    let out = notifspec(&["check", t, "--html", h]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--html-overwrite"));
    assert_eq!(std::fs::read_to_string(&html).unwrap(), "keep me");
    let out = notifspec(&["check", t, "--html", h, "--html-overwrite"]);
    assert_eq!(out.status.code(), Some(0));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("id=\"verdict\">PASS<"), "{page}");
    // The passing file is listed, collapsed.
    assert!(page.contains("<summary>Passed (1)</summary>"), "{page}");
}

#[test]
fn replay_draws_a_diverged_conversation_with_the_difference_marked() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("seven.txt");
    // A valid conversation the reference does not follow: with an unread ad at connect it
    // announces the ad first, not a random number.
    std::fs::write(
        &t,
        "C: _notif_\nS: will send notifs\nS: notif: random\nC: OK\n",
    )
    .unwrap();
    let html = dir.path().join("r.html");
    let out = notifspec(&[
        "replay",
        t.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("DIVERGED"), "{stdout}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<g class=\"arrow diverged\">"), "{page}");
    assert!(
        page.contains("<span class=\"line\">line 3</span>"),
        "{page}"
    );
    assert!(page.contains("expected `S: notif: random`"), "{page}");
    // Lines that happened carry their time.
    assert!(page.contains("ms</text>"), "{page}");
}

#[test]
fn simulate_with_html_reports_the_same_text_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let html = dir.path().join("sim.html");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/smoke.yaml");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "simulate",
            scenario,
            "--format",
            "json",
            "--duration",
            "20s",
        ];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_notifspec"))
            .args(&args)
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .output()
            .expect("notifspec runs")
    };
    let plain = run(&[]);
    let with = run(&["--html", html.to_str().unwrap()]);
    assert_eq!(plain.status.code(), with.status.code());
    assert_eq!(plain.stdout, with.stdout);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<dt>seed</dt>"), "{page}");
    // The private folder for the drawn transcripts is gone.
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}

#[test]
fn simulate_duration_overrides_the_scenario() {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/smoke.yaml");
    let run = |extra: &[&str]| {
        let mut args = vec!["simulate", scenario, "--format", "json"];
        args.extend_from_slice(extra);
        let out = notifspec(&args);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["seconds"].as_f64().unwrap()
    };
    let full = run(&[]);
    let short = run(&["--duration", "1s"]);
    assert!(short < full, "{short} vs {full}");
    let out = notifspec(&["simulate", scenario, "--duration", "0s"]);
    assert_eq!(out.status.code(), Some(2));
}
