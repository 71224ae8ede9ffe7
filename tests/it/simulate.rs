//! `notifspec simulate`: determinism by seed, broken servers caught and saved as transcripts
//! that `check` fails with the right rule, and the speed that makes a simulated hour cheap.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use notifspec::check_files::check_file;
use notifspec::cmd::Status;
use notifspec::dialect::Dialect;
use notifspec::rule::RuleId;
use notifspec::sim::{
    ConnId, Item, LoadedScenario, ReferenceServer, ServerFactory, SimOptions, SimServer, simulate,
};

fn scenario(yaml: &str) -> LoadedScenario {
    LoadedScenario::from_yaml_str(yaml, "test.yaml", "test", None).expect("valid scenario")
}

/// A small but busy mix: every behaviour, faults, bursts. Every rule counts, S-LIVENESS
/// included: this simulator found the reference server announcing several unread ads with one
/// `notif: classified` and then never the ones it had not counted; it now announces one per
/// unread ad by default (one for the whole pile is the legal `ads-behind=one`, docs/protocol.md
/// §8.1, run by tests/it/variants.rs).
const MIXED: &str = r#"
duration: 3m
clients:
  - { count: 12, behaviour: typical, interest: [classified], lifetime: [30s, 1m] }
  - { count: 6, behaviour: greedy }
  - { count: 6, behaviour: lazy, stay: [20s, 1m] }
  - { count: 6, behaviour: racy }
publishers:
  random: { rate: 0.5, burst: [1, 3] }
  classified: { rate: 0.2, burst: [1, 2] }
faults:
  - disconnect: { share: 0.1, when: notified }
  - slow_reader: { share: 0.1, delay: [100ms, 2s] }
  - garbage: { share: 0.1, every: [5s, 20s] }
  - stop_when_due: { share: 0.1 }
"#;

fn files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| {
                let e = e.expect("dir entry");
                let name = e.file_name().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(e.path()).expect("readable"))
            })
            .collect()
        })
        .unwrap_or_default()
}

/// The reference server, plus one deliberate bug: after the `OK` that completes
/// `stop_notif`, it sends one more `notif: random` (S-NO-NOTIF-AFTER-OK).
struct NotifiesAfterOk {
    inner: ReferenceServer,
    extra: Vec<ConnId>,
}

impl SimServer for NotifiesAfterOk {
    fn open(&mut self, conn: ConnId) {
        self.inner.open(conn)
    }
    fn close(&mut self, conn: ConnId) {
        self.inner.close(conn)
    }
    fn handle_line(&mut self, conn: ConnId, line: &[u8]) {
        self.inner.handle_line(conn, line)
    }
    fn handle_too_long(&mut self, conn: ConnId) {
        self.inner.handle_too_long(conn)
    }
    fn publish(&mut self, item: &Item) {
        self.inner.publish(item)
    }
    fn handle_items_changed(&mut self, conn: ConnId) {
        self.inner.handle_items_changed(conn)
    }
    fn wants_items(&self, conn: ConnId) -> bool {
        self.inner.wants_items(conn)
    }
    fn poll_transmit(&mut self, conn: ConnId) -> Option<String> {
        if let Some(i) = self.extra.iter().position(|c| *c == conn) {
            self.extra.swap_remove(i);
            return Some("notif: random".into());
        }
        let line = self.inner.poll_transmit(conn)?;
        if line == "OK" {
            self.extra.push(conn);
        }
        Some(line)
    }
    fn is_closing(&self, conn: ConnId) -> bool {
        self.inner.is_closing(conn)
    }
}

/// The reference server, plus another bug: every published random number is announced at
/// once to every connection in the mode, answered or not (S-NOTIF-WINDOW).
struct IgnoresWindow {
    inner: ReferenceServer,
    in_mode: Vec<bool>,
    extra: Vec<ConnId>,
}

impl SimServer for IgnoresWindow {
    fn open(&mut self, conn: ConnId) {
        let i = conn as usize;
        if self.in_mode.len() <= i {
            self.in_mode.resize(i + 1, false);
        }
        self.inner.open(conn)
    }
    fn close(&mut self, conn: ConnId) {
        self.in_mode[conn as usize] = false;
        self.inner.close(conn)
    }
    fn handle_line(&mut self, conn: ConnId, line: &[u8]) {
        match line {
            b"_notif_" => self.in_mode[conn as usize] = true,
            b"stop_notif" => self.in_mode[conn as usize] = false,
            _ => {}
        }
        self.inner.handle_line(conn, line)
    }
    fn handle_too_long(&mut self, conn: ConnId) {
        self.inner.handle_too_long(conn)
    }
    fn publish(&mut self, item: &Item) {
        if matches!(item, Item::Random(_)) {
            for (c, on) in self.in_mode.iter().enumerate() {
                if *on {
                    self.extra.push(c as ConnId);
                }
            }
        }
        self.inner.publish(item)
    }
    fn handle_items_changed(&mut self, conn: ConnId) {
        self.inner.handle_items_changed(conn)
    }
    fn wants_items(&self, conn: ConnId) -> bool {
        self.extra.contains(&conn) || self.inner.wants_items(conn)
    }
    fn poll_transmit(&mut self, conn: ConnId) -> Option<String> {
        if let Some(line) = self.inner.poll_transmit(conn) {
            return Some(line);
        }
        let i = self.extra.iter().position(|c| *c == conn)?;
        self.extra.swap_remove(i);
        Some("notif: random".into())
    }
    fn is_closing(&self, conn: ConnId) -> bool {
        self.inner.is_closing(conn)
    }
}

/// The reference server, plus a third bug: `notif: random` lines are lost on the way out,
/// so the client never hears of new numbers (S-LIVENESS).
struct LosesRandomNotifications(ReferenceServer);

impl SimServer for LosesRandomNotifications {
    fn open(&mut self, conn: ConnId) {
        self.0.open(conn)
    }
    fn close(&mut self, conn: ConnId) {
        self.0.close(conn)
    }
    fn handle_line(&mut self, conn: ConnId, line: &[u8]) {
        // The lost notification is never answered: act as if it had been.
        if line == b"stop_notif" || line == b"OK" {
            self.0.handle_line(conn, line);
            return;
        }
        self.0.handle_line(conn, line)
    }
    fn handle_too_long(&mut self, conn: ConnId) {
        self.0.handle_too_long(conn)
    }
    fn publish(&mut self, item: &Item) {
        self.0.publish(item)
    }
    fn handle_items_changed(&mut self, conn: ConnId) {
        self.0.handle_items_changed(conn)
    }
    fn wants_items(&self, conn: ConnId) -> bool {
        self.0.wants_items(conn)
    }
    fn poll_transmit(&mut self, conn: ConnId) -> Option<String> {
        loop {
            let line = self.0.poll_transmit(conn)?;
            if line != "notif: random" {
                return Some(line);
            }
        }
    }
    fn is_closing(&self, conn: ConnId) -> bool {
        self.0.is_closing(conn)
    }
}

fn notifies_after_ok() -> ServerFactory {
    Arc::new(|d: &Dialect, random: u64, ad: &str| {
        Box::new(NotifiesAfterOk {
            inner: ReferenceServer::new(d, random, ad),
            extra: Vec::new(),
        }) as Box<dyn SimServer>
    })
}

fn ignores_window() -> ServerFactory {
    Arc::new(|d: &Dialect, random: u64, ad: &str| {
        Box::new(IgnoresWindow {
            inner: ReferenceServer::new(d, random, ad),
            in_mode: Vec::new(),
            extra: Vec::new(),
        }) as Box<dyn SimServer>
    })
}

fn loses_random_notifications() -> ServerFactory {
    Arc::new(|d: &Dialect, random: u64, ad: &str| {
        Box::new(LosesRandomNotifications(ReferenceServer::new(
            d, random, ad,
        ))) as Box<dyn SimServer>
    })
}

fn run_broken(factory: ServerFactory, seed: u64, out: &Path) -> notifspec::sim::report::SimReport {
    run_scenario(MIXED, factory, seed, out)
}

fn run_scenario(
    yaml: &str,
    factory: ServerFactory,
    seed: u64,
    out: &Path,
) -> notifspec::sim::report::SimReport {
    let mut opts = SimOptions::new(seed);
    opts.factory = factory;
    opts.out = Some(out.to_path_buf());
    simulate(&scenario(yaml), opts).expect("simulation runs")
}

#[test]
fn same_seed_gives_identical_report_and_transcripts() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ra = run_broken(notifies_after_ok(), 11, a.path());
    let rb = run_broken(notifies_after_ok(), 11, b.path());
    assert_eq!(
        ra.to_json(),
        rb.to_json()
            .replace(b.path().to_str().unwrap(), a.path().to_str().unwrap())
    );
    assert_eq!(ra.to_text().lines().count(), rb.to_text().lines().count());
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert!(!fa.is_empty(), "the broken server produced no transcript");
    assert_eq!(fa, fb);
    // And the clean reference server: identical reports too.
    let x = simulate(&scenario(MIXED), SimOptions::new(5)).unwrap();
    let y = simulate(&scenario(MIXED), SimOptions::new(5)).unwrap();
    assert_eq!(x.to_json(), y.to_json());
    assert_eq!(x.to_text(), y.to_text());
}

#[test]
fn different_seed_gives_a_different_run() {
    let x = simulate(&scenario(MIXED), SimOptions::new(1)).unwrap();
    let y = simulate(&scenario(MIXED), SimOptions::new(2)).unwrap();
    assert_ne!(x.traffic, y.traffic);
    assert_ne!(x.to_json(), y.to_json());
}

#[test]
fn reference_server_passes_the_mixed_scenario() {
    let r = simulate(&scenario(MIXED), SimOptions::new(9)).unwrap();
    assert!(r.passed(), "{}", r.to_text());
    assert!(r.traffic.notifications > 100, "{}", r.to_text());
    assert!(
        r.traffic.answers > 0 && r.traffic.stops > 0,
        "{}",
        r.to_text()
    );
    assert!(r.latency.count > 0);
    // Garbage breaks client rules on purpose; the report explains rather than counts it.
    assert!(r.traffic.other_client_lines > 0);
    assert!(r.traffic.errors > 0);
}

/// The saved transcripts of a broken server fail `check` with the rule the bug breaks, and
/// the shrunk one is much shorter than the original.
fn assert_caught(factory: ServerFactory, rule: RuleId) {
    assert_caught_in(MIXED, factory, rule)
}

fn assert_caught_in(yaml: &str, factory: ServerFactory, rule: RuleId) {
    let dir = tempfile::tempdir().unwrap();
    let report = run_scenario(yaml, factory, 3, dir.path());
    assert!(!report.passed());
    assert!(
        report.violations.contains_key(rule.as_str()),
        "{rule} not reported:\n{}",
        report.to_text()
    );
    let saved: Vec<_> = report
        .saved
        .iter()
        .filter(|s| s.rule == rule.as_str())
        .collect();
    assert!(!saved.is_empty(), "{}", report.to_text());
    let d = Dialect::default();
    // The HTML report draws each saved connection with the rule's line in red.
    let html = notifspec::html::build::simulate(&report, &d).render();
    assert!(
        html.contains(&format!(
            "<g class=\"arrow bad\" data-rule=\"{}\">",
            rule.as_str()
        )) || html.contains("<g class=\"note bad\">"),
        "{html}"
    );
    assert!(html.contains(&format!("id=\"rule-{}\"", rule.as_str())));
    for s in saved {
        assert!(s.check_reproduces, "{}", report.to_text());
        let original = check_file(Path::new(&s.original), &d);
        assert!(
            original.violations.iter().any(|v| v.rule == rule),
            "{}: {:?}",
            s.original,
            original.violations
        );
        let shrunk = s
            .shrunk
            .as_ref()
            .expect("the violation reproduces in isolation");
        let result = check_file(Path::new(shrunk), &d);
        assert!(
            result.violations.iter().any(|v| v.rule == rule),
            "{shrunk}: {:?}\n{}",
            result.violations,
            std::fs::read_to_string(shrunk).unwrap()
        );
        let steps = s.shrunk_steps.unwrap();
        assert!(
            steps < s.steps && steps <= 6,
            "{steps} of {} steps",
            s.steps
        );
        let text = std::fs::read_to_string(shrunk).unwrap();
        assert!(
            text.contains("seed: 3") && text.contains("scenario: test"),
            "{text}"
        );
        assert!(
            text.contains(&format!("connection {}", s.connection)),
            "{text}"
        );
        // `notifspec check` exits 1 on it.
        let status = notifspec::cmd::check::run(notifspec::cmd::check::Args {
            paths: vec![shrunk.into()],
            format: notifspec::cmd::OutputFormat::Json,
            dialect: None,
            allow_path: vec![],
            html: Default::default(),
            jobs: 1,
        });
        assert_eq!(status, Status::Fail);
    }
}

#[test]
fn notification_after_ok_is_caught_and_shrunk() {
    assert_caught(notifies_after_ok(), RuleId::SNoNotifAfterOk);
}

#[test]
fn ignored_window_is_caught_and_shrunk() {
    assert_caught(ignores_window(), RuleId::SNotifWindow);
}

#[test]
fn saving_is_bounded_and_one_rule_comes_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = SimOptions::new(3);
    opts.factory = notifies_after_ok();
    opts.out = Some(dir.path().to_path_buf());
    opts.max_saved = 1;
    let report = simulate(&scenario(MIXED), opts).unwrap();
    assert!(report.violations["S-NO-NOTIF-AFTER-OK"].connections > 1);
    assert_eq!(report.saved.len(), 1);
    assert_eq!(
        files(dir.path()).len(),
        2,
        "the original and the shrunk one"
    );
}

#[test]
fn lost_notifications_are_caught_and_shrunk() {
    // Lazy clients stay in the mode answering OK: a lost announcement is never made up for.
    let yaml = r#"
duration: 2m
clients:
  - { count: 5, behaviour: lazy, stay: [5m, 5m] }
publishers:
  random: { rate: 0.2 }
"#;
    assert_caught_in(yaml, loses_random_notifications(), RuleId::SLiveness);
}

#[test]
fn a_server_that_queues_without_bound_is_caught() {
    // Clients that stop reading, a server that ignores the window: what it wants to send
    // piles up for them, past the memory bound.
    let yaml = r#"
duration: 2m
network: { buffer: 4096, latency: 1ms }
clients:
  - { count: 3, behaviour: lazy, think: 1ms, stay: [5m, 5m], start: 0s }
publishers:
  random: { rate: 2, burst: [2, 4] }
faults:
  # After entering the mode (three steps of 1ms think and 1ms latency), before any publish.
  - stop_reading: { share: 1.0, after: 50ms }
checks: { memory: 4096 }
"#;
    let dir = tempfile::tempdir().unwrap();
    let report = run_scenario(yaml, ignores_window(), 1, dir.path());
    assert!(
        report.violations.contains_key("S-ROBUST"),
        "{}",
        report.to_text()
    );
    assert!(report.peak_queued_bytes > 4096);
    // The reference server keeps at most one notification for such a client.
    let ok = run_scenario(yaml, ReferenceServer::factory(), 1, dir.path());
    assert!(!ok.violations.contains_key("S-ROBUST"), "{}", ok.to_text());
    assert!(ok.peak_queued_bytes < 4096, "{}", ok.to_text());
}

#[test]
fn a_thousand_clients_for_ten_simulated_minutes() {
    let s = scenario(
        r#"
duration: 10m
clients:
  - { count: 700, behaviour: lazy, think: [1s, 5s], stay: [1m, 5m], start: [0s, 30s] }
  - { count: 250, behaviour: typical, interest: [classified], think: [1s, 5s], start: [0s, 30s] }
  - { count: 50, behaviour: racy, start: [0s, 30s] }
publishers:
  random: { rate: 0.05 }
  classified: { rate: 0.02 }
"#,
    );
    let started = std::time::Instant::now();
    let r = simulate(&s, SimOptions::new(1000)).unwrap();
    eprintln!(
        "1000 clients, 10 simulated minutes: {:.2}s wall, {} lines",
        started.elapsed().as_secs_f64(),
        r.traffic.lines
    );
    assert!(r.passed(), "{}", r.to_text());
    assert_eq!(r.clients.values().sum::<u64>(), 1000);
    assert!(r.connections >= 1000);
    assert!(r.traffic.notifications > 1000, "{}", r.to_text());
    assert!(r.seconds >= 600.0);
}

#[test]
fn simulate_command_exit_codes() {
    let args = |scenario: &str| notifspec::cmd::simulate::Args {
        scenario: scenario.into(),
        seed: None,
        server: None,
        control: None,
        out: None,
        force: false,
        allow_path: vec![],
        max_saved: 10,
        format: notifspec::cmd::OutputFormat::Json,
        duration: None,
        html: Default::default(),
    };
    let root = env!("CARGO_MANIFEST_DIR");
    assert_eq!(
        notifspec::cmd::simulate::run(args(&format!("{root}/scenarios/smoke.yaml"))),
        Status::Pass
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "duration: 1m\nclients:\n  - count: 5\n    behavior: lazy\n",
    )
    .unwrap();
    assert_eq!(
        notifspec::cmd::simulate::run(args(bad.to_str().unwrap())),
        Status::Error
    );
    assert_eq!(
        notifspec::cmd::simulate::run(args(&format!("{root}/no-such-scenario.yaml"))),
        Status::Error
    );
}

#[test]
fn shipped_scenarios_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for name in ["smoke", "mixed", "racy", "large"] {
        let s = LoadedScenario::from_file(&root.join(format!("{name}.yaml")))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.name, name);
    }
    let large = LoadedScenario::from_file(&root.join("large.yaml")).unwrap();
    assert_eq!(large.scenario.client_count(), 10_000);
    let smoke = LoadedScenario::from_file(&root.join("smoke.yaml")).unwrap();
    assert_eq!(smoke.scenario.client_count(), 5);
}

/// Against a server over TCP (the reference one, started here on loopback): the same
/// scenario runs through sockets and the control port, and the report says so. The clock is
/// tokio's paused one, so the simulated minute costs no real minute.
#[tokio::test(start_paused = true)]
async fn external_server_over_tcp() {
    use notifspec::net::ServerBuilder;
    use notifspec::sim::external::{ExternalServer, run};
    let server = ServerBuilder::new()
        .control("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .expect("server starts");
    let target = ExternalServer {
        server: server.local_addr().expect("listening"),
        control: server.control_addr().expect("control port"),
    };
    let s = scenario(
        r#"
duration: 1m
checks: { drain: 10s }
clients:
  - { count: 4, behaviour: typical, interest: [classified] }
  - { count: 2, behaviour: racy }
publishers:
  random: { rate: 0.5 }
  classified: { rate: 0.2 }
faults:
  - garbage: { share: 0.2, every: [2s, 5s] }
"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let report = tokio::time::timeout(
        std::time::Duration::from_secs(600),
        run(&s, target, 1, Some(dir.path().to_path_buf()), 10, None),
    )
    .await
    .expect("the run ends")
    .expect("the run works");
    assert!(report.mode.starts_with("external"), "{}", report.mode);
    assert!(report.server.contains(&target.server.to_string()));
    assert!(report.passed(), "{}", report.to_text());
    assert!(report.traffic.notifications > 0, "{}", report.to_text());
    assert!(report.traffic.published_random > 0);
    assert!(
        report.traffic.errors > 0,
        "garbage gets ERR: {}",
        report.to_text()
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(start_paused = true)]
async fn unreachable_external_server_is_an_error() {
    use notifspec::sim::external::{ExternalServer, run};
    // A port nobody listens on: bind one, note it, close it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let target = ExternalServer {
        server: addr,
        control: addr,
    };
    let err = run(
        &scenario("duration: 1m\nclients:\n  - count: 1\n"),
        target,
        1,
        None,
        10,
        None,
    )
    .await
    .expect_err("nothing listens");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
